"""Signing keys: ES256 (P-256, the default) and Ed25519 (RFC 9864 ``Ed25519`` alg).

A :class:`SigningKey` couples a private key with its certificate chain, the JWS
algorithm it implies and its RFC 7638 thumbprint, which the gateway uses as
``kid``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from joserfc.jwk import ECKey, OKPKey

from gateway.trust.errors import PKIError
from gateway.trust.token_keys import TokenECPrivateKey

Algorithm = Literal["ES256", "Ed25519"]
KeyKind = Literal["ec-p256", "ed25519"]
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
JoseKey = ECKey | OKPKey

# The only algorithms the gateway ever signs or accepts. `EdDSA` is the
# deprecated polymorphic name (RFC 9864) and is deliberately absent.
ALLOWED_ALGORITHMS: tuple[Algorithm, ...] = ("ES256", "Ed25519")


def generate_private_key(kind: KeyKind = "ec-p256") -> PrivateKey:
    """Return a fresh private key of ``kind``."""
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def algorithm_for(key: PrivateKey | PublicKey) -> Algorithm:
    """Return the JWS algorithm implied by ``key``; raises PKIError for other key types."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return "ES256"
        raise PKIError(f"EC curve {key.curve.name} is not supported; use P-256")
    raise PKIError(f"unsupported key type {type(key).__name__}; use P-256 or Ed25519")


def jose_key(key: PrivateKey | PublicKey) -> JoseKey:
    """Return ``key`` as a joserfc key object."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return OKPKey.import_key(key)
    if isinstance(key, TokenECPrivateKey):  # in an HSM: signs there, exports nothing
        return key.jose_key()
    return ECKey.import_key(key)


def thumbprint(key: PrivateKey | PublicKey) -> str:
    """Return the RFC 7638 JWK SHA-256 thumbprint of the public part of ``key``."""
    public = key.public_key() if isinstance(key, PrivateKey) else key
    return str(jose_key(public).thumbprint())


def private_key_pem(key: PrivateKey) -> bytes:
    """Return ``key`` as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write ``key`` to ``path`` as PEM, readable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_key_pem(key))
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to an existing file


def load_private_key(path: Path) -> PrivateKey:
    """Load a PEM private key; raises PKIError when missing, unreadable or unsupported."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PKIError(f"cannot read private key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise PKIError(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, PrivateKey):
        raise PKIError(f"{path}: unsupported key type; use P-256 or Ed25519")
    algorithm_for(key)
    return key


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Load every PEM certificate in ``path``; raises PKIError when none can be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PKIError(f"cannot read certificate {path}: {exc.strerror}") from exc
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise PKIError(f"{path} holds no PEM certificate") from exc
    return certs


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key with its certificate chain (leaf first), ready to sign JWS."""

    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...]
    # Computed once: every signature names the kid, and the thumbprint is not free.
    _kid: str = field(init=False, default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.chain:
            raise PKIError("a signing key needs its certificate")
        leaf_public = self.chain[0].public_key()
        kid = thumbprint(self.private_key)
        if thumbprint(leaf_public) != kid:  # type: ignore[arg-type]
            raise PKIError("the certificate does not belong to the private key")
        object.__setattr__(self, "_kid", kid)

    @property
    def algorithm(self) -> Algorithm:
        return algorithm_for(self.private_key)

    @property
    def kid(self) -> str:
        return self._kid

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @classmethod
    def from_files(cls, key: Path, cert: Path, chain: Path | None = None) -> SigningKey:
        """Load a signing key from PEM files; raises PKIError on any mismatch."""
        certs = load_certificates(cert)
        if chain is not None:
            certs += load_certificates(chain)
        return cls(load_private_key(key), tuple(certs))
