"""Conformance kit: acts as a partner against any implementation of the partner protocol (docs/protocol.md)."""
