"""Framework-free trust library: canonical JSON, keys, JWS, PKI, CRLs, verification.

Nothing in this package imports FastAPI or touches a database, so the offline
``gateway verify`` and partners who do not run the gateway can use it alone.
"""
