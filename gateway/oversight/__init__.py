"""The oversight report: per-period counts for oversight bodies, with no personal data."""
