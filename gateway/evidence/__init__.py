"""Evidence bundles: one self-contained file that proves a record offline (docs/evidence.md)."""
