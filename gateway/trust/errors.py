"""Errors of the trust library, one per verification step.

``reason`` is the stable machine code that also appears in signed ``rejected``
receipts, so a sender can tell exactly which check its record failed.
"""

from __future__ import annotations

from typing import ClassVar

from gateway.errors import GatewayError


class TrustError(GatewayError):
    slug = "trust"
    title = "Trust check failed"
    status = 422
    step: ClassVar[str] = "trust"
    reason: ClassVar[str] = "untrusted"


class CanonicalizationError(TrustError):
    slug = "not-canonical"
    title = "JSON cannot be canonicalized"
    step = "canonical-json"
    reason = "not_canonical"


class MalformedJWSError(TrustError):
    slug = "malformed-jws"
    title = "Malformed JWS"
    step = "1-header-parse"
    reason = "malformed_jws"


class AlgorithmNotAllowedError(TrustError):
    slug = "alg-not-allowed"
    title = "Signature algorithm not allowed"
    step = "2-algorithm"
    reason = "alg_not_allowed"


class UntrustedChainError(TrustError):
    slug = "untrusted-chain"
    title = "Certificate chain not trusted"
    step = "3-certificate-chain"
    reason = "untrusted_chain"


class IssuerNotCAError(UntrustedChainError):
    slug = "issuer-not-ca"
    title = "A certificate of the chain was issued by a non-CA"
    reason = "issuer_not_ca"


class PathLengthError(UntrustedChainError):
    slug = "path-length-exceeded"
    title = "Certificate path longer than a CA allows"
    reason = "path_length_exceeded"


class UnknownCriticalExtensionError(UntrustedChainError):
    slug = "unknown-critical-extension"
    title = "Certificate carries a critical extension the node does not process"
    reason = "unknown_critical_extension"


class CertificateExpiredError(TrustError):
    slug = "certificate-expired"
    title = "Certificate expired or not yet valid"
    step = "4-certificate-validity"
    reason = "certificate_expired"


class CertificateRevokedError(TrustError):
    slug = "certificate-revoked"
    title = "Certificate revoked"
    step = "5-revocation"
    reason = "certificate_revoked"


class RevocationUnknownError(CertificateRevokedError):
    slug = "revocation-unknown"
    title = "Revocation status cannot be determined"
    reason = "revocation_unknown"


class KeyUsageError(TrustError):
    slug = "key-usage"
    title = "Certificate not allowed to sign records"
    step = "6-key-usage"
    reason = "key_usage"


class KeyPurposeError(KeyUsageError):
    slug = "key-purpose"
    title = "Certificate used outside its purpose"
    reason = "key_purpose"


class UnknownKeyError(TrustError):
    slug = "unknown-key"
    title = "Key id does not match the signing certificate"
    step = "6-key-usage"
    reason = "unknown_key"


class BadSignatureError(TrustError):
    slug = "bad-signature"
    title = "Signature does not verify"
    step = "7-signature"
    reason = "bad_signature"


class NonCanonicalSignatureError(BadSignatureError):
    """A valid ECDSA signature in its high-S form: the same content would have two JWS.

    For every ECDSA signature (r, s) the pair (r, n - s) also verifies, so anyone
    can turn one signed record into a second token with another hash. Only the
    low-S form (s <= n/2) is accepted, as Bitcoin (BIP 62) and Ethereum do.
    """

    slug = "non-canonical-signature"
    title = "Signature not in canonical (low-S) form"
    step = "7-signature"
    reason = "signature_malleable"


class SchemaViolationError(TrustError):
    slug = "schema-violation"
    title = "Payload violates the record schema"
    step = "8-payload-schema"
    reason = "schema_violation"


class RecordExpiredError(TrustError):
    slug = "record-expired"
    title = "Record expired"
    step = "8-payload-schema"
    reason = "record_expired"


class PartyMismatchError(TrustError):
    slug = "party-mismatch"
    title = "Originator party does not match the signer"
    step = "9-originator-party"
    reason = "party_mismatch"


class PKIError(GatewayError):
    slug = "pki"
    title = "PKI error"
    status = 400


# -- trust updates: monotonic and exclusive (gateway/trust/bundle_update.py) ------


class TrustUpdateRollbackError(TrustError):
    """An update whose sequence is not above the one the node holds for that party.

    Adopting it could bring back a CA or CRL the party has since replaced (an
    older CRL un-revokes certificates), so it is refused whoever signed it.
    """

    slug = "trust-update-rollback"
    title = "Trust update is not newer than the one held"
    status = 409
    step = "10-trust-update"
    reason = "trust_update_rollback"
    hint = "ask the party for its latest update; it publishes with `gateway pki publish` (sequence + 1)"


class CAClaimedByOtherPartyError(TrustError):
    """An update listing a CA (same public key) that the bundle holds for another party."""

    slug = "ca-claimed-by-other-party"
    title = "Trust update claims another party's CA"
    status = 409
    step = "10-trust-update"
    reason = "ca_claimed_by_other_party"
    hint = "a CA speaks for one party only; refuse the update and tell the publishing party"


class CRLRollbackError(TrustError):
    """An update whose CRL for an issuer is older than the one held (or drops it)."""

    slug = "crl-rollback"
    title = "Trust update carries an older CRL than the one held"
    status = 409
    step = "10-trust-update"
    reason = "crl_rollback"
    hint = "ask the party for an update with its current CRL"


class CAInTwoPartiesError(PKIError):
    """A trust bundle file that lists one CA (same public key) under two parties."""

    slug = "ca-in-two-parties"
    title = "Trust bundle lists one CA under two parties"
    hint = "remove the CA from the party it does not belong to; a CA speaks for one party only"


# -- parties: known when the trust bundle holds them (gateway/trust/parties.py) ----


class UnknownPartyError(GatewayError):
    """A request names a party code the trust bundle does not hold (or a code of the wrong shape)."""

    slug = "unknown-party"
    title = "Unknown party"
    status = 422


class AdmissionError(TrustError):
    """A signed admission of a new party that cannot be adopted (gateway/trust/bundle_update.py)."""

    slug = "admission-refused"
    title = "Admission of a new party refused"
    status = 409
    step = "10-trust-update"
    reason = "admission_refused"
