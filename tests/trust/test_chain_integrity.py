"""Chain integrity: every certificate above the leaf must be a CA that may issue it (RFC 5280).

Attacks tried: a leaf minted with a party's TLS key or its record-signing key
and sent with ``x5c = [leaf, that party's real certificate]``; an intermediate
without keyCertSign or basicConstraints; a path longer than a CA's pathLen; an
unknown critical extension; a certificate whose issuer name or whose signature
(not both) matches another. Each is refused with its own reason code, and each
has a control that differs only in the defect and verifies, so no test passes
for a wrong reason. Certificates are minted with ``cryptography`` alone
(tests/trust/minting.py), tokens built by hand (tests/trust/forge.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.records.signing import verify_record
from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.errors import (
    IssuerNotCAError,
    KeyUsageError,
    MalformedJWSError,
    PathLengthError,
    TrustError,
    UnknownCriticalExtensionError,
    UnknownKeyError,
    UntrustedChainError,
)
from gateway.trust.jws import RECORD_TYP
from gateway.trust.keys import PrivateKey, load_certificates, load_private_key
from gateway.trust.path import build_path
from gateway.trust.verify import verify_compact
from tests.support.pki import TestPKI as ThreePartyPKI  # alias: not a test class
from tests.test_cli_offline import gateway_cli
from tests.trust import forge
from tests.trust.minting import CA_USAGE, Authority, flag_payload, mint, name, raw_es_token, root, signed_token


def now() -> datetime:
    return datetime.now(UTC)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class EndEntity:
    """A party's real end-entity certificate and its private key (what a thief of that key holds)."""

    cert: x509.Certificate
    key: PrivateKey


def end_entity(pki: ThreePartyPKI, party: str, kind: str) -> EndEntity:
    files = pki.parties[party]
    cert_path, key_path = (files.tls_cert, files.tls_key) if kind == "tls" else (files.signing_cert, files.signing_key)
    return EndEntity(load_certificates(cert_path)[0], load_private_key(key_path))


def party_ca(pki: ThreePartyPKI, party: str) -> Authority:
    files = pki.parties[party]
    key = load_private_key(files.ca_key)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return Authority(load_certificates(files.ca_cert)[0], key)


def as_document(document: Any) -> dict[str, Any]:
    """verify_compact's payload parser: the canonical JSON object as it is."""
    assert isinstance(document, dict)
    return document


def verify(token: str, bundle: TrustBundle, moment: datetime) -> str:
    """Verify ``token`` as a record through verify_compact itself; return the signer's party."""
    verified = verify_compact(
        token,
        bundle=bundle,
        at=moment,
        typ=RECORD_TYP,
        parse=as_document,
        claimed_party=lambda document: str(document["originator"]["party"]),
    )
    assert verify_record(token, bundle, moment).signer_party == verified.signer_party  # the record path agrees
    return verified.signer_party


def refusal(token: str | bytes, bundle: TrustBundle, moment: datetime) -> TrustError:
    """Verify ``token``, which must fail; return the TrustError (both entry points raise the same)."""
    with pytest.raises(TrustError) as raised:
        verify_compact(token, bundle=bundle, at=moment, typ=RECORD_TYP, parse=as_document, claimed_party=lambda d: "PA")
    with pytest.raises(type(raised.value)) as again:
        verify_record(token, bundle, moment)
    assert (again.value.reason, again.value.detail) == (raised.value.reason, raised.value.detail)
    return raised.value


def only(party: str, authority: Authority) -> TrustBundle:
    """A bundle holding ``authority`` as the one CA of ``party``."""
    return TrustBundle({party: PartyTrust(party, (authority.cert,))})


# -- 1. a leaf minted with an end entity's key ------------------------------------------------


def test_control_leaf_issued_by_the_party_ca_verifies(pki: ThreePartyPKI) -> None:
    moment, key = now(), new_key()
    leaf = party_ca(pki, "PA").issue(name("PA", "honest signer"), key.public_key())
    assert verify(signed_token(key, [leaf], flag_payload(moment)), pki.bundle(), moment) == "PA"


@pytest.mark.parametrize("kind", ["tls", "signing"])
def test_leaf_issued_with_an_end_entity_key_is_issuer_not_ca(kind: str, pki: ThreePartyPKI, tmp_path: Path) -> None:
    """x5c = [rogue leaf, PA's real TLS (or signing) certificate], the leaf signed with that certificate's key."""
    moment, key, stolen = now(), new_key(), end_entity(pki, "PA", kind)
    rogue = mint(name("PA", "rogue signer"), key.public_key(), stolen.cert.subject, stolen.key)
    token = signed_token(key, [rogue, stolen.cert], flag_payload(moment))

    error = refusal(token, pki.bundle(), moment)
    assert isinstance(error, IssuerNotCAError)
    assert (error.reason, error.step) == ("issuer_not_ca", "3-certificate-chain")
    subject = stolen.cert.subject.rfc4514_string()
    assert error.detail == f"{subject} issued a certificate but is not a CA (basicConstraints CA:TRUE is missing)"

    # Without the end entity in x5c, the leaf reaches no CA at all: another reason.
    alone = refusal(signed_token(key, [rogue], flag_payload(moment)), pki.bundle(), moment)
    assert type(alone) is UntrustedChainError
    assert alone.reason == "untrusted_chain"

    # `gateway verify FILE` says invalid, names the step and the rule, and exits 1.
    path = tmp_path / "rogue.jws"
    path.write_text(token + "\n", "ascii")
    run = gateway_cli("verify", path, "--trust", pki.bundle_path)
    assert run.code == 1
    assert run.stdout == ""  # never "valid ..."
    assert (
        "verification failed at step 3-certificate-chain: A certificate of the chain was issued by a non-CA: "
        f"{subject} issued a certificate but is not a CA" in run.error_line
    )


# -- 2. intermediates: CA flag, keyCertSign, pathLen, critical extensions ---------------------


def via_intermediate(pki: ThreePartyPKI, moment: datetime, **intermediate: Any) -> str:
    """A PA record signed by a leaf of an intermediate (under PA's real root) minted with ``intermediate``."""
    ca, key = party_ca(pki, "PA"), new_key()
    sub = ca.sub_ca("PA signing intermediate", **intermediate)
    leaf = sub.issue(name("PA", "signer under intermediate"), key.public_key())
    return signed_token(key, [leaf, sub.cert], flag_payload(moment))


def test_control_intermediate_ca_verifies(pki: ThreePartyPKI) -> None:
    moment = now()
    assert verify(via_intermediate(pki, moment), pki.bundle(), moment) == "PA"


def test_intermediate_without_key_cert_sign_is_issuer_not_ca(pki: ThreePartyPKI) -> None:
    moment = now()
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    error = refusal(via_intermediate(pki, moment, key_usage=usage), pki.bundle(), moment)
    assert isinstance(error, IssuerNotCAError)
    assert error.reason == "issuer_not_ca"
    assert error.detail == "CN=PA signing intermediate,C=PA issued a certificate but its keyUsage lacks keyCertSign"


def test_intermediate_without_basic_constraints_is_issuer_not_ca(pki: ThreePartyPKI) -> None:
    moment = now()
    # keyCertSign is there; only basicConstraints CA:TRUE is missing.
    error = refusal(via_intermediate(pki, moment, basic_constraints=False), pki.bundle(), moment)
    assert isinstance(error, IssuerNotCAError)
    assert "is not a CA (basicConstraints CA:TRUE is missing)" in error.detail


def test_intermediate_with_ca_false_is_issuer_not_ca(pki: ThreePartyPKI) -> None:
    moment, key = now(), new_key()
    ca = party_ca(pki, "PA")
    not_ca_key = new_key()
    # keyCertSign without CA:TRUE: RFC 5280 forbids it, an issuer still must be a CA.
    not_ca = ca.issue(name("PA", "not a CA"), not_ca_key.public_key(), ca=False, key_usage=CA_USAGE, purposes=None)
    leaf = mint(name("PA", "leaf"), key.public_key(), not_ca.subject, not_ca_key)
    error = refusal(signed_token(key, [leaf, not_ca], flag_payload(moment)), pki.bundle(), moment)
    assert isinstance(error, IssuerNotCAError)
    assert error.detail == "CN=not a CA,C=PA issued a certificate but is not a CA (basicConstraints CA:TRUE is missing)"


@pytest.mark.parametrize(("root_path_length", "refused"), [(0, True), (1, False), (None, False)])
def test_root_path_length_bounds_the_intermediates(
    root_path_length: int | None, refused: bool, pki: ThreePartyPKI
) -> None:
    moment, key = now(), new_key()
    anchor = root("PA", path_length=root_path_length)
    sub = anchor.sub_ca("PA intermediate")
    token = signed_token(key, [sub.issue(name("PA", "leaf"), key.public_key()), sub.cert], flag_payload(moment))
    if not refused:  # the control: the same chain under a root that allows one CA below it
        assert verify(token, only("PA", anchor), moment) == "PA"
        return
    error = refusal(token, only("PA", anchor), moment)
    assert isinstance(error, PathLengthError)
    assert error.reason == "path_length_exceeded"
    subject = anchor.cert.subject.rfc4514_string()
    assert error.detail == f"{subject} allows 0 CA certificate(s) below it, the path has 1"


@pytest.mark.parametrize(("upper_path_length", "refused"), [(0, True), (1, False)])
def test_intermediate_path_length_bounds_the_cas_below_it(
    upper_path_length: int, refused: bool, pki: ThreePartyPKI
) -> None:
    moment, key = now(), new_key()
    anchor = root("PA", path_length=None)
    upper = anchor.sub_ca("PA upper", path_length=upper_path_length)
    lower = upper.sub_ca("PA lower")
    leaf = lower.issue(name("PA", "leaf"), key.public_key())
    token = signed_token(key, [leaf, lower.cert, upper.cert], flag_payload(moment))
    if not refused:
        assert verify(token, only("PA", anchor), moment) == "PA"
        return
    error = refusal(token, only("PA", anchor), moment)
    assert isinstance(error, PathLengthError)
    assert error.detail == "CN=PA upper,C=PA allows 0 CA certificate(s) below it, the path has 1"


def test_real_root_path_length_is_enforced(pki: ThreePartyPKI) -> None:
    """PA's own root allows one intermediate (pathlen 1): two CAs below it are one too many."""
    moment, key = now(), new_key()
    upper = party_ca(pki, "PA").sub_ca("PA upper")  # no pathLen of its own
    lower = upper.sub_ca("PA lower")
    leaf = lower.issue(name("PA", "leaf"), key.public_key())
    error = refusal(signed_token(key, [leaf, lower.cert, upper.cert], flag_payload(moment)), pki.bundle(), moment)
    assert isinstance(error, PathLengthError)
    assert "allows 1 CA certificate(s) below it, the path has 2" in error.detail


@pytest.mark.parametrize("where", ["leaf", "intermediate"])
@pytest.mark.parametrize("critical", [True, False])
def test_unknown_critical_extension(where: str, critical: bool, pki: ThreePartyPKI) -> None:
    moment, key = now(), new_key()
    extension = {"unknown_extension": critical}
    sub = party_ca(pki, "PA").sub_ca("PA intermediate", **(extension if where == "intermediate" else {}))
    leaf = sub.issue(name("PA", "leaf"), key.public_key(), **(extension if where == "leaf" else {}))
    token = signed_token(key, [leaf, sub.cert], flag_payload(moment))
    if not critical:  # the control: the same extension, not critical, is ignored (RFC 5280 4.2)
        assert verify(token, pki.bundle(), moment) == "PA"
        return
    error = refusal(token, pki.bundle(), moment)
    assert isinstance(error, UnknownCriticalExtensionError)
    assert error.reason == "unknown_critical_extension"
    subject = (leaf if where == "leaf" else sub.cert).subject.rfc4514_string()
    assert error.detail == (
        f"{subject} carries the critical extension 1.3.6.1.4.1.99999.7.1, which this node does not process"
    )


# -- 2b. path building: issuer by name AND signature (and→or mutation guards) ------------------

NO_PATH = "does not chain to any CA of the trust bundle"


def test_issuer_name_matches_but_the_signature_does_not(pki: ThreePartyPKI) -> None:
    moment, key = now(), new_key()
    sub = party_ca(pki, "PA").sub_ca("PA intermediate")
    # Names the intermediate as issuer, but an unrelated key signed it.
    leaf = mint(name("PA", "leaf"), key.public_key(), sub.cert.subject, new_key())
    error = refusal(signed_token(key, [leaf, sub.cert], flag_payload(moment)), pki.bundle(), moment)
    assert type(error) is UntrustedChainError
    assert error.detail == f"certificate 'CN=leaf,C=PA' {NO_PATH}"
    # The same at the anchor: PA's root named as issuer, another key's signature.
    at_root = mint(name("PA", "leaf"), key.public_key(), party_ca(pki, "PA").cert.subject, new_key())
    error = refusal(signed_token(key, [at_root], flag_payload(moment)), pki.bundle(), moment)
    assert type(error) is UntrustedChainError
    assert NO_PATH in error.detail


def test_signature_verifies_but_the_issuer_name_differs(pki: ThreePartyPKI) -> None:
    moment, key = now(), new_key()
    ca = party_ca(pki, "PA")
    sub = ca.sub_ca("PA intermediate")
    # Signed with the intermediate's key, but naming someone else as issuer.
    leaf = mint(name("PA", "leaf"), key.public_key(), name("PA", "someone else"), sub.key)
    error = refusal(signed_token(key, [leaf, sub.cert], flag_payload(moment)), pki.bundle(), moment)
    assert type(error) is UntrustedChainError
    assert error.detail == f"certificate 'CN=leaf,C=PA' {NO_PATH}"
    at_root = mint(name("PA", "leaf"), key.public_key(), name("PA", "someone else"), ca.key)
    error = refusal(signed_token(key, [at_root], flag_payload(moment)), pki.bundle(), moment)
    assert type(error) is UntrustedChainError
    assert NO_PATH in error.detail
    # Control: name and signature both right verifies.
    good = mint(name("PA", "leaf"), key.public_key(), sub.cert.subject, sub.key)
    assert verify(signed_token(key, [good, sub.cert], flag_payload(moment)), pki.bundle(), moment) == "PA"


def test_build_path_takes_an_issuer_only_by_name_and_signature(pki: ThreePartyPKI) -> None:
    """build_path itself, so the verdict cannot come from a later step (the reference verifier)."""
    key = new_key()
    sub = party_ca(pki, "PA").sub_ca("PA intermediate")
    name_only = mint(name("PA", "leaf"), key.public_key(), sub.cert.subject, new_key())
    signature_only = mint(name("PA", "leaf"), key.public_key(), name("PA", "other"), sub.key)
    for leaf in (name_only, signature_only):
        with pytest.raises(UntrustedChainError, match=NO_PATH):
            build_path(leaf, (sub.cert,), pki.bundle())
    good = mint(name("PA", "leaf"), key.public_key(), sub.cert.subject, sub.key)
    party, chain = build_path(good, (sub.cert,), pki.bundle())
    assert (party, chain) == ("PA", (good, sub.cert, party_ca(pki, "PA").cert))


# -- 4. hostile but well-formed leaves: only TrustError subclasses, each with its reason -------


def test_rsa_leaf_is_key_usage(pki: ThreePartyPKI) -> None:
    moment = now()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = party_ca(pki, "PA").issue(name("PA", "rsa signer"), key.public_key())
    error = refusal(raw_es_token(key, [leaf], flag_payload(moment), "rsa"), pki.bundle(), moment)
    assert type(error) is KeyUsageError
    assert error.detail == "signing certificate key is RSAPublicKey, neither EC P-256 nor Ed25519"


def test_p384_leaf_is_key_usage(pki: ThreePartyPKI) -> None:
    moment = now()
    key = ec.generate_private_key(ec.SECP384R1())
    leaf = party_ca(pki, "PA").issue(name("PA", "p384 signer"), key.public_key())
    for kid in ("p384", forge.jwk_thumbprint(new_key().public_key())):
        error = refusal(raw_es_token(key, [leaf], flag_payload(moment), kid), pki.bundle(), moment)
        assert type(error) is KeyUsageError
        assert error.detail == "signing certificate key is on secp384r1; records are signed with P-256"


def test_leaf_without_basic_constraints_is_an_end_entity(pki: ThreePartyPKI) -> None:
    """RFC 5280 4.2.1.9: basicConstraints MAY be absent from an end entity; such a leaf of PA's CA verifies.

    What it may not do is issue: minted below it, a leaf is issuer_not_ca.
    """
    moment, key = now(), new_key()
    bare = party_ca(pki, "PA").issue(name("PA", "bare signer"), key.public_key(), basic_constraints=False)
    assert verify(signed_token(key, [bare], flag_payload(moment)), pki.bundle(), moment) == "PA"
    below_key = new_key()
    below = mint(name("PA", "below bare"), below_key.public_key(), bare.subject, key)
    error = refusal(signed_token(below_key, [below, bare], flag_payload(moment)), pki.bundle(), moment)
    assert isinstance(error, IssuerNotCAError)


def test_non_ascii_tokens(pki: ThreePartyPKI) -> None:
    moment, key = now(), new_key()
    leaf = party_ca(pki, "PA").issue(name("PA", "signer"), key.public_key())
    # Well-formed (ASCII base64url) but carrying non-ASCII in the header: a kid that names no key.
    error = refusal(signed_token(key, [leaf], flag_payload(moment), kid="clé-ñ-😀"), pki.bundle(), moment)
    assert type(error) is UnknownKeyError
    # Not ASCII at all, as text and as bytes: malformed, and still a TrustError.
    token = signed_token(key, [leaf], flag_payload(moment))
    header, payload, signature = token.split(".")
    for hostile in (f"{header}.{payload}é.{signature}", f"{header}.{payload}é.{signature}".encode()):
        error = refusal(hostile, pki.bundle(), moment)
        assert type(error) is MalformedJWSError
        assert error.detail == "a compact JWS is ASCII only"
