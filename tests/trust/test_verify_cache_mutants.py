"""What verify.py's caches keep, for how long, and when they are bypassed (mutants of 65aba40 and 9124fe8).

The known-signer LRU, keyed by (bundle, x5c), lets a partner's certificate path be
built once per bundle; a signer with several candidate paths is never kept. The
per-certificate caches of the signer's subject and fingerprint derive once per
certificate object and stay bounded. A known signer re-checks validity and its
CRL entries with the path's own checks. Surviving mutants of the first mutation
run over these changes showed none of that was asserted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.records.signing import build_record, sign_record, verify_record
from gateway.trust import verify
from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.errors import CertificateRevokedError, UnknownKeyError
from gateway.trust.keys import load_certificates, load_private_key
from gateway.trust.pki import make_crl
from tests.support.pki import TestPKI as ThreePartyPKI  # alias: not a test class
from tests.trust import forge
from tests.trust.minting import flag_payload, name, root, signed_token


def now() -> datetime:
    return datetime.now(UTC)


def signed_flag(pki: ThreePartyPKI, moment: datetime) -> str:
    return sign_record(build_record(forge.example_draft("criminal_network_flag"), moment), pki.signing_key("PA")).jws


def count_path_validations(monkeypatch: pytest.MonkeyPatch) -> list[x509.Certificate]:
    calls: list[x509.Certificate] = []
    real = verify.validate_path

    def counting(leaf: x509.Certificate, *args: Any) -> Any:
        calls.append(leaf)
        return real(leaf, *args)

    monkeypatch.setattr(verify, "validate_path", counting)
    return calls


# -- the known-signer LRU -------------------------------------------------------------------


def test_a_signers_path_is_validated_once_per_bundle(pki: ThreePartyPKI, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_path_validations(monkeypatch)
    moment = now()
    bundle = pki.bundle()  # a fresh bundle: nothing known under it yet
    first = verify_record(signed_flag(pki, moment), bundle, moment)
    second = verify_record(signed_flag(pki, moment), bundle, moment)
    assert calls == [first.signer_certificate]  # the second record's signer was known
    assert second.signer_party == "PA"
    header, _, _ = forge.split(signed_flag(pki, moment))
    assert verify._KNOWN_SIGNERS.get((bundle, tuple(header["x5c"]))) is not None
    verify_record(signed_flag(pki, moment), pki.bundle(), moment)  # another bundle starts afresh
    assert len(calls) == 2


def test_a_signer_with_two_candidate_paths_is_validated_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundle lists the issuing CA and its root: leaf→sub and leaf→sub→root are both paths."""
    calls = count_path_validations(monkeypatch)
    moment = now()
    anchor = root("PA", path_length=None)
    sub = anchor.sub_ca("PA issuing")
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = sub.issue(name("PA", "leaf"), key.public_key())
    bundle = TrustBundle({"PA": PartyTrust("PA", (anchor.cert, sub.cert))})
    assert len(verify.candidate_paths(leaf, (sub.cert,), bundle)) == 2
    for _ in range(3):
        token = signed_token(key, [leaf, sub.cert], flag_payload(moment))
        assert verify_record(token, bundle, moment).signer_party == "PA"
    assert calls == [leaf, leaf, leaf]
    assert verify._KNOWN_SIGNERS.get((bundle, tuple(forge.x5c([leaf, sub.cert])))) is None


def test_known_signers_is_a_bounded_lru(pki: ThreePartyPKI) -> None:
    bundle = pki.bundle()
    signers = verify._KnownSigners(2)
    first, second, third = ((bundle, (f"entry {n}",)) for n in range(3))
    values = [cast(verify._KnownSigner, object()) for _ in range(3)]
    signers.put(first, values[0])
    signers.put(second, values[1])
    assert signers.get(first) is values[0]  # now the most recently used
    signers.put(third, values[2])  # over the size: the least recently used (second) goes
    assert signers.get(second) is None
    assert signers.get(first) is values[0]
    assert signers.get(third) is values[2]
    assert list(signers._entries) == [first, third]


# -- what a known signer holds and re-checks ---------------------------------------------------


def test_a_known_signer_holds_the_path_and_the_crl_entries_of_its_bundle(pki: ThreePartyPKI) -> None:
    moment = now()
    key = pki.signing_key("PA")
    token = signed_flag(pki, moment)
    trust = pki.bundle().parties["PA"]
    ca = load_certificates(pki.parties["PA"].ca_cert)[0]
    crl = make_crl(ca, load_private_key(pki.parties["PA"].ca_key), [(key.certificate.serial_number, moment)])
    clean = TrustBundle({"PA": PartyTrust("PA", trust.cas)})
    revoking = TrustBundle({"PA": PartyTrust("PA", trust.cas, (crl,))})
    verified = verify_record(token, clean, moment)
    chain, public = verified.chain, verified.signer_certificate.public_key()
    assert len(chain) == 2

    known = verify._KnownSigner.of(chain, "PA", public, revoking)  # type: ignore[arg-type]
    assert known == verify._KnownSigner(
        chain[0],
        chain,
        "PA",
        public,  # type: ignore[arg-type]
        key.kid,
        tuple((cert.not_valid_before_utc, cert.not_valid_after_utc) for cert in chain),
        ((key.certificate.serial_number, crl),),
    )
    with pytest.raises(CertificateRevokedError, match=r"CN=.* \(serial [0-9a-f]+\) was revoked on "):
        known.check_time_and_revocation(moment, revoking)

    assert verify._KnownSigner.of(chain, "PA", public, clean).crls == ()  # type: ignore[arg-type]
    assert verify._KnownSigner.of(chain, "PA", public, TrustBundle({})).crls == ()  # type: ignore[arg-type]
    verify._KnownSigner.of(chain, "PA", public, clean).check_time_and_revocation(moment, clean)  # type: ignore[arg-type]


# -- the per-certificate caches of subject and fingerprint --------------------------------------


def test_per_certificate_cache_derives_once_per_object_and_stays_bounded(pki: ThreePartyPKI) -> None:
    certificates = [pki.signing_key(party).certificate for party in ("PA", "CO", "US")]
    first, second, third = certificates
    calls: list[x509.Certificate] = []

    def derive(cert: x509.Certificate) -> str:
        calls.append(cert)
        return f"value {len(calls)}"

    cache = verify._PerCertificate(derive, 2)
    assert cache(first) == "value 1"
    assert cache(first) == "value 1"
    assert calls == [first]
    assert cache(second) == "value 2"
    assert cache(third) == "value 3"  # full at 2: emptied before the third went in
    assert cache._entries == {id(third): (third, "value 3")}
    assert cache(third) == "value 3"
    assert calls == certificates


def test_signer_subject_and_fingerprint(pki: ThreePartyPKI) -> None:
    moment = now()
    verified = verify_record(signed_flag(pki, moment), pki.bundle(), moment)
    leaf = verified.signer_certificate
    assert verified.signer_subject == leaf.subject.rfc4514_string()
    assert verified.signer_fingerprint == leaf.fingerprint(hashes.SHA256()).hex()
    assert verified.signer_subject == verified.signer_subject


def test_a_known_signers_kid_refusal_has_the_detail_of_the_full_check(pki: ThreePartyPKI) -> None:
    moment = now()
    bundle = pki.bundle()
    token = signed_flag(pki, moment)
    verify_record(token, bundle, moment)  # now known under this bundle
    header, _, _ = forge.split(token)
    with pytest.raises(UnknownKeyError) as raised:
        verify_record(forge.replace_header(token, {**header, "kid": pki.signing_key("CO").kid}), bundle, moment)
    assert raised.value.detail == "kid is not the RFC 7638 thumbprint of the x5c[0] key"
