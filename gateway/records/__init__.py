"""Signed records: the envelope, the record types, the agency API and storage."""
