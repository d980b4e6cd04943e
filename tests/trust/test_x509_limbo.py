"""C2SP x509-limbo against the node's RFC 5280 path validation.

The testcases were written by others (C2SP, Apache-2.0) for every X.509
validator; tests/vectors/x509_limbo/select.py keeps those that apply to
``validate_path`` (no host-name matching, no OCSP, no knobs we lack) and
README.md there says which and why. Each case becomes one call:

* the trusted certificates are the CAs of one party (``PartyTrust`` built
  directly: the bundle file parser would refuse a non-CA anchor before the path
  validation could be tested on it), the case's CRLs that party's CRLs;
* the peer certificate and the untrusted intermediates are parsed as the node
  parses an ``x5c`` entry (``jws._x5c_certificate``: every field eagerly, a
  malformed certificate refused as ``malformed_jws``);
* SERVER validation is ``Purpose.TLS_SERVER``, CLIENT is ``Purpose.TLS_CLIENT``;
  the validation time is the case's (now when it names none).

Expected SUCCESS must return a ValidatedPath; expected FAILURE must raise a
TrustError, never another exception. Where the node's verdict differs on
purpose, the case is in INTENDED_DIFFERENCES with the reason; a difference the
path validation's owner still has to decide on is in OPEN_DISAGREEMENTS. Both
lists are checked both ways: a listed case that starts agreeing fails too, so
the lists never outlive the difference.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.errors import TrustError
from gateway.trust.jws import _x5c_certificate
from gateway.trust.path import Purpose, validate_path

_REPO = Path(__file__).resolve().parents[2]
_SUBSET_NAME = "limbo-subset.json.gz"
# Where the selected cases may be: named by the environment, beside select.py,
# or in the steering repository's shared/ folder next to the work tree.
_CANDIDATES = (
    os.environ.get("X509_LIMBO_SUBSET", ""),
    str(_REPO / "tests" / "vectors" / "x509_limbo" / _SUBSET_NAME),
    str(_REPO.parent / "shared" / "x509_limbo" / _SUBSET_NAME),
)
# limbo holds certificates cryptography deprecates (zero and negative serials, DSA) on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
_PURPOSES = {"SERVER": Purpose.TLS_SERVER, "CLIENT": Purpose.TLS_CLIENT}

# Cases where the node's verdict differs from limbo's on purpose, with why.
_EE_PROFILE = (
    "end-entity profile rule the node does not enforce: the reference check runs an end-entity policy that "
    "permits any extension (path.py step 8), the leaf's only judged field is its EKU (step 7)"
)
_CA_PROFILE = (
    "certificate-profile MUST for issuing CAs (RFC 5280 4.2.1.1/4.2.1.2); the path validation algorithm of "
    "RFC 5280 section 6.1 does not use the key identifiers, and the node's own PKI always sets them"
)
_CABF = "CA/Browser Forum Baseline Requirements rule for the public Web PKI; the MOU PKI is private (RFC 5280 profile)"
INTENDED_DIFFERENCES: dict[str, str] = {
    # Key separation (issue 14, item 3): a TLS or signing leaf must be an end
    # entity carrying the purpose's EKU; RFC 5280 alone accepts both.
    "rfc5280::eku::ee-without-eku": "the node requires the purpose's EKU in the leaf (serverAuth here)",
    "rfc5280::ca-as-leaf": "a CA certificate is never accepted as a leaf (check_purpose), and it has no EKU",
    "pathlen::validation-ignores-pathlen-in-leaf": "a CA certificate is never accepted as a leaf, and it has no EKU",
    # Stricter where the reference verifier (cryptography, Web PKI CA policy) is.
    "crl::issuer-no-keyusage-extension": "the reference CA policy requires keyUsage on every CA (RFC 5280 "
    "4.2.1.3: conforming CAs MUST include it); the case only tests the CRL issuer's missing keyUsage",
    "rfc5280::nc::permitted-dn-match": "directoryName name constraints are unsupported by the reference "
    "verifier, which refuses them (fail-closed) rather than ignore a critical constraint",
    "pathlen::self-issued-certs-pathlen": "the reference verifier (cryptography) builds no path through the "
    "self-issued ICA'; the node keeps its verdict (its own PKI issues no self-issued intermediates)",
    "rfc5280::validity::notafter-fractional": "the validation time is not truncated to whole seconds: a "
    "certificate is expired from notAfter on, not from notAfter + 1 s (5 ms late here)",
    # Laxer, as the reference verifier is: profile rules about how CAs must
    # write certificates, not about what a path may be.
    "rfc5280::nc::permitted-dns-match-noncritical": "a non-critical nameConstraints is still enforced (Web PKI "
    "reading, as the reference verifier does); RFC 5280 only says CAs MUST mark it critical",
    "rfc5280::aki::leaf-missing-aki": _CA_PROFILE,
    "rfc5280::aki::intermediate-missing-aki": _CA_PROFILE,
    "rfc5280::aki::cross-signed-root-missing-aki": _CA_PROFILE + " (limbo marks it pedantic)",
    "rfc5280::ski::root-missing-ski": _CA_PROFILE,
    "rfc5280::ski::intermediate-missing-ski": _CA_PROFILE,
    "rfc5280::serial::zero": "a zero serial number is a profile violation (limbo: pedantic); the path is sound",
    "crl::crlnumber-missing": "CRLs without a CRL number are used and ordered by thisUpdate (trust/crls.py)",
    "pathological::nc-dos-3": "limbo expects a work budget to refuse it; the reference verifier applies dNSName "
    "constraints to SANs only, so the 2048 subjects cost nothing (the case takes milliseconds)",
    "rfc5280::san::noncritical-with-empty-subject": _EE_PROFILE,
    "webpki::eku::ee-anyeku": _CABF + "; serverAuth is present, which is what the node requires",
    "webpki::eku::ee-critical-eku": _CABF,
    "webpki::aki::root-with-aki-all-fields": _CABF,
    "webpki::aki::root-with-aki-ski-mismatch": _CABF,
    "webpki::forbidden-p192-leaf": _CABF + " (subscriber key; limbo marks it pedantic)",
    "webpki::forbidden-dsa-leaf": _CABF + " (subscriber key; limbo marks it pedantic)",
    "webpki::forbidden-weak-rsa-in-leaf": _CABF + " (subscriber key; limbo marks it pedantic)",
    "webpki::forbidden-rsa-key-not-divisible-by-8-in-leaf": _CABF + " (subscriber key; limbo marks it pedantic)",
    "webpki::forbidden-rsa-not-divisible-by-8-in-root": _CABF + " (RSA-2052 is above the 2048-bit floor)",
    "webpki::eku::root-has-eku": _CABF + "; RFC 5280 lets a CA carry an EKU, and the node reads a CA's EKU as the "
    "purposes it may vouch for (serverAuth here, which is what the case asks for)",
}

# Differences reported to the owner of gateway/trust/path.py (and of the CRL
# admission), not decided yet: each one is a candidate defect.
OPEN_DISAGREEMENTS: dict[str, str] = {}

# Cases where the node raises something other than a TrustError (a 500 at an
# entry point, not a refusal): reported, and pinned until fixed.
KNOWN_CRASHES: dict[str, str] = {}


def _subset_path() -> Path | None:
    return next((Path(c) for c in _CANDIDATES if c and Path(c).is_file()), None)


@cache
def _subset() -> dict[str, Any]:
    path = _subset_path()
    if path is None:
        return {"source": {}, "selected": [], "excluded": []}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def _cases() -> list[dict[str, Any]]:
    return list(_subset()["selected"])


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    stage: str  # anchor | x5c | path | crash
    detail: str


def _x5c(pem: str) -> x509.Certificate:
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)
    return _x5c_certificate(base64.b64encode(der).decode("ascii"))


def _anchor(pem: str) -> x509.Certificate:
    # A bundle CA is parsed whole, as an x5c entry is: the node's bundle loader
    # reads every extension of a CA (parse_party_entry), so a CA with a
    # malformed one never becomes an anchor.
    cert = x509.load_pem_x509_certificate(pem.encode())
    _ = (cert.subject, cert.extensions, cert.public_key())
    return cert


def _at(case: dict[str, Any]) -> datetime:
    when = case["validation_time"]
    return datetime.fromisoformat(when) if when else datetime.now(UTC)


def _verdict(case: dict[str, Any]) -> Verdict:
    try:
        anchors = tuple(_anchor(pem) for pem in case["trusted_certs"])
        crls = tuple(x509.load_pem_x509_crl(pem.encode()) for pem in case["crls"])
        bundle = TrustBundle({"PA": PartyTrust("PA", anchors, crls)})
    except Exception as exc:  # any failure here: the anchor cannot be configured
        return Verdict(False, "anchor", f"{type(exc).__name__}: {exc}")
    try:
        leaf = _x5c(case["peer_certificate"])
        intermediates = tuple(_x5c(pem) for pem in case["untrusted_intermediates"])
    except TrustError as exc:
        return Verdict(False, "x5c", f"{exc.reason}: {exc}")
    except Exception as exc:  # PEM armour itself unreadable
        return Verdict(False, "crash", f"{type(exc).__name__}: {exc}")
    try:
        path = validate_path(leaf, intermediates, bundle, _at(case), _PURPOSES[case["validation_kind"]])
    except TrustError as exc:
        return Verdict(False, "path", f"{exc.reason}: {exc}")
    except Exception as exc:  # reported as a crash, never as a refusal
        return Verdict(False, "crash", f"{type(exc).__name__}: {exc}")
    return Verdict(True, "path", f"accepted, {len(path.chain)} certificates")


@cache
def _verdicts() -> dict[str, Verdict]:
    return {case["id"]: _verdict(case) for case in _cases()}


def _agrees(case: dict[str, Any], verdict: Verdict) -> bool:
    return verdict.stage != "crash" and verdict.accepted == (case["expected_result"] == "SUCCESS")


@pytest.mark.parametrize("case", _cases(), ids=lambda case: case["id"])
def test_limbo_case(case: dict[str, Any]) -> None:
    verdict = _verdicts()[case["id"]]
    expected = case["expected_result"]
    if case["id"] in KNOWN_CRASHES:
        assert verdict.stage == "crash", f"{case['id']} no longer crashes ({verdict.detail}): take it off the list"
        return
    listed = INTENDED_DIFFERENCES.get(case["id"]) or OPEN_DISAGREEMENTS.get(case["id"])
    assert verdict.stage != "crash", f"{case['id']}: not a TrustError: {verdict.detail}"
    if listed is None:
        assert _agrees(case, verdict), f"{case['id']}: expected {expected}, node {verdict.detail}"
    else:
        assert not _agrees(case, verdict), f"{case['id']} agrees now ({verdict.detail}): take it off the list"


def test_limbo_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """Print the figures for the record; the subset must be there to count."""
    if _subset_path() is None:
        # The subset is committed beside select.py: its absence is a broken checkout, not a choice.
        assert os.environ.get("CI", "").lower() != "true", f"{_SUBSET_NAME} is missing from tests/vectors/x509_limbo"
        pytest.skip(
            f"no {_SUBSET_NAME} in any of {[c for c in _CANDIDATES if c]}: see tests/vectors/x509_limbo/README.md"
        )
    subset = _subset()
    verdicts = _verdicts()
    cases = {case["id"]: case for case in _cases()}
    agreeing = [i for i, v in verdicts.items() if _agrees(cases[i], v)]
    intended = [i for i in verdicts if i in INTENDED_DIFFERENCES]
    open_ = [i for i in verdicts if i in OPEN_DISAGREEMENTS]
    crashes = [i for i in verdicts if i in KNOWN_CRASHES]
    lines = [
        f"x509-limbo {subset['source']['commit']}: {subset['source']['testcases']} testcases, "
        f"{len(cases)} applicable, {len(subset['excluded'])} not applicable",
        f"agree: {len(agreeing)}, intended differences: {len(intended)}, open disagreements: {len(open_)}, "
        f"known crashes: {len(crashes)}",
        f"stages: {dict(Counter(v.stage for v in verdicts.values()))}",
    ]
    for label, ids in (("intended", intended), ("open", open_), ("crash", crashes)):
        lines += [f"  {label}: {i} (limbo {cases[i]['expected_result']}; node {verdicts[i].detail})" for i in ids]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert len(agreeing) + len(intended) + len(open_) + len(crashes) == len(cases)
