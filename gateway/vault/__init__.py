"""Record bodies sealed at rest: per-record data keys wrapped by a key-encryption key.

``sealing`` is the framework-free cryptography (AES-256-GCM); ``keystore`` is
the small separate database of wrapped data keys; ``vault`` puts the two
together for the node. Sits below ``records`` in the layer order (next to
``trust``): it knows nothing of records beyond the strings it is handed.
"""
