"""Exact behaviour of the trust bundle (bundle.py) that surviving mutmut mutants showed untested.

The bundle file is the root of every trust decision: each refusal names what
is wrong, the sequence is an integer from 0 to 2**53 - 1, the PEM handed to
OpenSSL holds exactly the CAs and CRLs of the parties asked for, and the
per-bundle anchor cache stays bounded.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.trust.bundle import (
    BUNDLE_FORMAT,
    MAX_SEQUENCE,
    PartyTrust,
    TrustBundle,
    parse_party_entry,
    party_entry,
    spki_sha256,
)
from gateway.trust.errors import CAInTwoPartiesError, PKIError
from tests.trust import minting

T0 = datetime(2026, 2, 1, tzinfo=UTC)


def crl_of(ca: minting.Authority, *, next_update: datetime) -> x509.CertificateRevocationList:
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(T0)
        .next_update(next_update)
        .sign(ca.key, hashes.SHA256())
    )


def pem(cert: x509.Certificate | x509.CertificateRevocationList) -> str:
    return cert.public_bytes(Encoding.PEM).decode()


@pytest.fixture(scope="module")
def pa() -> minting.Authority:
    return minting.root("PA")


@pytest.fixture(scope="module")
def co() -> minting.Authority:
    return minting.root("CO")


def refusal(code: object, entry: object) -> str:
    with pytest.raises(PKIError) as caught:
        parse_party_entry(code, entry, "bundle.json")
    return caught.value.detail


# -- the sequence ------------------------------------------------------------------------


def test_an_entry_without_sequence_reads_as_zero(pa: minting.Authority) -> None:
    assert parse_party_entry("PA", {"cas": [pem(pa.cert)]}, "bundle.json").sequence == 0


@pytest.mark.parametrize("sequence", [0, 1, MAX_SEQUENCE])
def test_sequences_from_zero_to_the_largest_exact_integer_are_read(pa: minting.Authority, sequence: int) -> None:
    assert parse_party_entry("PA", {"cas": [pem(pa.cert)], "sequence": sequence}, "bundle.json").sequence == sequence


@pytest.mark.parametrize("sequence", [-1, MAX_SEQUENCE + 1, True, False, "3", 1.0, None])
def test_other_sequences_are_refused_exactly(pa: minting.Authority, sequence: object) -> None:
    assert refusal("PA", {"cas": [pem(pa.cert)], "sequence": sequence}) == (
        f"bundle.json: sequence of PA is not an integer from 0 to {MAX_SEQUENCE}"
    )


# -- one party's entry ----------------------------------------------------------------------


def test_refusals_of_a_party_entry_are_exact(pa: minting.Authority) -> None:
    leaf = pa.issue(minting.name("PA", "leaf"), ec.generate_private_key(ec.SECP256R1()).public_key())
    no_constraints = minting.mint(
        minting.name("PA", "no bc"),
        pa.key.public_key(),
        minting.name("PA", "no bc"),
        pa.key,
        ca=True,
        basic_constraints=False,
    )
    assert refusal("pa", {"cas": [pem(pa.cert)]}).startswith("bundle.json: 'pa' is not a party code")
    assert refusal("PA", [pem(pa.cert)]) == "bundle.json: entry of PA is not an object"
    assert refusal("PA", {"cas": ["garbage"]}) == "bundle.json: party PA has an unreadable certificate or CRL"
    assert refusal("PA", {"cas": [pem(pa.cert)], "crls": ["garbage"]}) == (
        "bundle.json: party PA has an unreadable certificate or CRL"
    )
    assert refusal("PA", {"cas": []}) == "bundle.json: party PA has no CA certificate"
    assert refusal("PA", {"crls": []}) == "bundle.json: party PA has no CA certificate"
    assert refusal("PA", {"cas": [pem(leaf)]}) == "bundle.json: a certificate of PA is not a CA certificate"
    assert refusal("PA", {"cas": [pem(pa.cert) + pem(no_constraints)]}) == (
        "bundle.json: a certificate of PA is not a CA certificate"
    )


def test_a_party_entry_reads_every_ca_and_crl(pa: minting.Authority) -> None:
    sub = pa.sub_ca("PA issuing")
    crl = crl_of(pa, next_update=T0 + timedelta(days=1))
    trust = parse_party_entry("PA", {"cas": [pem(pa.cert) + pem(sub.cert)], "crls": [pem(crl)], "sequence": 4}, "b")
    assert trust == PartyTrust("PA", (pa.cert, sub.cert), (crl,), 4)
    assert parse_party_entry("PA", {"cas": [pem(pa.cert)]}, "b").crls == ()


def test_party_entry_writes_cas_crls_and_sequence(pa: minting.Authority) -> None:
    crl = crl_of(pa, next_update=T0 + timedelta(days=1))
    assert party_entry(PartyTrust("PA", (pa.cert,), (crl,), 7)) == {
        "cas": [pem(pa.cert)],
        "crls": [pem(crl)],
        "sequence": 7,
    }


# -- the bundle --------------------------------------------------------------------------------


def test_a_ca_under_two_parties_is_refused_by_name(pa: minting.Authority) -> None:
    with pytest.raises(CAInTwoPartiesError) as caught:
        TrustBundle({"PA": PartyTrust("PA", (pa.cert,)), "CO": PartyTrust("CO", (pa.cert,))})
    assert caught.value.detail == (
        f"CA {pa.cert.subject.rfc4514_string()} (SPKI SHA-256 {spki_sha256(pa.cert)}) is listed under PA and CO"
    )


def test_a_ca_listed_twice_under_one_party_is_accepted(pa: minting.Authority) -> None:
    assert TrustBundle({"PA": PartyTrust("PA", (pa.cert, pa.cert))}).all_cas() == [pa.cert, pa.cert]


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("{", "trust bundle is not JSON: Expecting property name enclosed in double quotes"),
        ("[]", f"trust bundle is not a {BUNDLE_FORMAT} document"),
        ('{"format": "mou-trust-bundle/2", "parties": {}}', f"trust bundle is not a {BUNDLE_FORMAT} document"),
        ('{"parties": {}}', f"trust bundle is not a {BUNDLE_FORMAT} document"),
        (f'{{"format": "{BUNDLE_FORMAT}"}}', "trust bundle lists no parties"),
        (f'{{"format": "{BUNDLE_FORMAT}", "parties": {{}}}}', "trust bundle lists no parties"),
        (f'{{"format": "{BUNDLE_FORMAT}", "parties": []}}', "trust bundle lists no parties"),
    ],
)
def test_from_json_refusals_are_exact(text: str, detail: str) -> None:
    with pytest.raises(PKIError) as caught:
        TrustBundle.from_json(text)
    assert caught.value.detail == detail


def test_from_json_reads_each_party_under_its_code(pa: minting.Authority, co: minting.Authority) -> None:
    text = json.dumps(
        {"format": BUNDLE_FORMAT, "parties": {"PA": {"cas": [pem(pa.cert)]}, "CO": {"cas": [pem(co.cert)]}}}
    )
    bundle = TrustBundle.from_json(text, "x.json")
    assert {code: trust.cas for code, trust in bundle.parties.items()} == {"PA": (pa.cert,), "CO": (co.cert,)}
    with pytest.raises(PKIError) as caught:
        TrustBundle.from_json(json.dumps({"format": BUNDLE_FORMAT, "parties": {"PA": {"cas": []}}}), "x.json")
    assert caught.value.detail == "x.json: party PA has no CA certificate"


def test_load_names_the_file(tmp_path: Path, pa: minting.Authority) -> None:
    missing = tmp_path / "absent.json"
    with pytest.raises(PKIError) as caught:
        TrustBundle.load(missing)
    assert caught.value.detail == f"cannot read trust bundle {missing}: No such file or directory"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"format": BUNDLE_FORMAT, "parties": {"PA": {"cas": []}}}), "utf-8")
    with pytest.raises(PKIError) as caught:
        TrustBundle.load(broken)
    assert caught.value.detail == f"{broken}: party PA has no CA certificate"
    good = tmp_path / "good.json"
    good.write_text(TrustBundle({"PA": PartyTrust("PA", (pa.cert,))}).to_json(), "utf-8")
    assert TrustBundle.load(good).parties["PA"].cas == (pa.cert,)


def test_to_json_is_the_documented_file_format(pa: minting.Authority, co: minting.Authority) -> None:
    crl = crl_of(co, next_update=T0 + timedelta(days=1))
    bundle = TrustBundle({"PA": PartyTrust("PA", (pa.cert,), (), 2), "CO": PartyTrust("CO", (co.cert,), (crl,), 5)})
    expected = {
        "format": BUNDLE_FORMAT,
        "parties": {
            "CO": {"cas": [pem(co.cert)], "crls": [pem(crl)], "sequence": 5},
            "PA": {"cas": [pem(pa.cert)], "crls": [], "sequence": 2},
        },
    }
    assert bundle.to_json() == json.dumps(expected, indent=2)
    assert list(json.loads(bundle.to_json())["parties"]) == ["CO", "PA"]


def test_merge_keeps_every_party_and_later_entries_win(pa: minting.Authority, co: minting.Authority) -> None:
    first = TrustBundle({"PA": PartyTrust("PA", (pa.cert,), (), 1), "CO": PartyTrust("CO", (co.cert,))})
    second = TrustBundle({"PA": PartyTrust("PA", (pa.cert,), (), 9)})
    merged = TrustBundle.merge([first, second])
    assert sorted(merged.parties) == ["CO", "PA"]
    assert merged.parties["PA"].sequence == 9
    assert merged.party("CO") == first.parties["CO"]
    assert merged.party("US") is None


def test_crl_dates_of_the_bundle(pa: minting.Authority, co: minting.Authority) -> None:
    soon, later = T0 + timedelta(days=1), T0 + timedelta(days=9)
    without = TrustBundle({"PA": PartyTrust("PA", (pa.cert,)), "CO": PartyTrust("CO", (co.cert,))})
    assert (without.has_crls(), without.next_crl_update()) == (False, None)
    bundle = TrustBundle(
        {
            "PA": PartyTrust("PA", (pa.cert,), (crl_of(pa, next_update=later),)),
            "CO": PartyTrust("CO", (co.cert,), (crl_of(co, next_update=soon),)),
        }
    )
    assert (bundle.has_crls(), bundle.next_crl_update()) == (True, soon)


def test_verify_locations_pem_holds_exactly_the_parties_asked_for(pa: minting.Authority, co: minting.Authority) -> None:
    pa_crl, co_crl = crl_of(pa, next_update=T0 + timedelta(days=1)), crl_of(co, next_update=T0 + timedelta(days=1))
    bundle = TrustBundle({"PA": PartyTrust("PA", (pa.cert,), (pa_crl,)), "CO": PartyTrust("CO", (co.cert,), (co_crl,))})
    co_pem = (pem(co.cert) + pem(co_crl)).encode()
    pa_pem = (pem(pa.cert) + pem(pa_crl)).encode()
    assert bundle.verify_locations_pem() == co_pem + pa_pem  # sorted by party code
    assert bundle.verify_locations_pem(["PA"]) == pa_pem
    assert bundle.verify_locations_pem(["PA", "US"]) == pa_pem  # a party not held adds nothing
    assert bundle.verify_locations_pem([]) == b""


def test_issuing_party_answers_the_same_from_its_cache(pa: minting.Authority, co: minting.Authority) -> None:
    bundle = TrustBundle({"PA": PartyTrust("PA", (pa.cert,)), "CO": PartyTrust("CO", (co.cert,))})
    leaf = co.issue(minting.name("CO", "leaf"), ec.generate_private_key(ec.SECP256R1()).public_key())
    assert bundle.issuing_party(leaf) == ("CO", co.cert)
    assert bundle.issuing_party(leaf) == ("CO", co.cert)
    stranger = minting.root("CO").issue(minting.name("CO", "x"), ec.generate_private_key(ec.SECP256R1()).public_key())
    assert bundle.issuing_party(stranger) is None
    assert bundle.issuing_party(stranger) is None


def test_the_anchor_cache_stays_bounded(pa: minting.Authority) -> None:
    # Certificates come from peers: a peer sending ever new ones must not grow the cache without end.
    bundle = TrustBundle({"PA": PartyTrust("PA", (pa.cert,))})
    key = ec.generate_private_key(ec.SECP256R1())
    template = (
        x509.CertificateBuilder()
        .subject_name(minting.name("PA", "peer"))
        .issuer_name(pa.cert.subject)
        .public_key(key.public_key())
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(days=1))
    )
    for serial in range(1, 1026):
        bundle.issuing_party(template.serial_number(serial).sign(key, hashes.SHA256()))
        assert len(bundle._anchors) <= 1024
