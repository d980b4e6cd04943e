"""Test support: PKI, databases, servers. Imported by conftest and by tests."""
