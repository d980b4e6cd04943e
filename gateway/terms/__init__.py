"""The memorandum's data-sharing terms as a signed, enforced policy document."""
