"""Path validation rules that surviving mutants of gateway/trust/path.py showed untested.

Each test names the rule it pins: the issuing CAs' extended key usage, the
search's bounds (path length, candidates, issuer checks), backtracking past a
refused candidate or a non-CA issuer, nameConstraints (on an end entity, and
an anchor's across an intermediate), malformed extensions and the bounded
cache of reference-checked chains. Each refusal asserts its class and exact
detail; each has a control that differs only in the defect and validates.
Certificates are minted with ``cryptography`` alone (tests/trust/minting.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from gateway.trust import path
from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.errors import KeyPurposeError, UnknownCriticalExtensionError, UntrustedChainError
from gateway.trust.path import Purpose, candidate_paths, validate_path
from tests.trust.minting import CLIENT_AUTH, DOCUMENT_SIGNING, SERVER_AUTH, Authority, mint, name, root


def moment() -> datetime:
    # Read at each use: a module-level constant is older than certificates minted later in a long run.
    return datetime.now(UTC)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def only(authority: Authority) -> TrustBundle:
    return TrustBundle({"PA": PartyTrust("PA", (authority.cert,))})


def subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def validate(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    anchor: Authority,
    purpose: Purpose = Purpose.DOCUMENT_SIGNING,
) -> path.ValidatedPath:
    return validate_path(leaf, intermediates, only(anchor), moment(), purpose)


def no_chain(leaf: x509.Certificate) -> str:
    return f"certificate {subject(leaf)!r} does not chain to any CA of the trust bundle"


# -- 7. the issuing CAs' extended key usage --------------------------------------------------


@pytest.mark.parametrize(
    ("ca_purposes", "purpose", "leaf_purposes"),
    [
        ((DOCUMENT_SIGNING,), Purpose.DOCUMENT_SIGNING, (DOCUMENT_SIGNING,)),
        ((ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,), Purpose.DOCUMENT_SIGNING, (DOCUMENT_SIGNING,)),
        ((SERVER_AUTH, CLIENT_AUTH), Purpose.TLS_CLIENT, (CLIENT_AUTH,)),
        (None, Purpose.TLS_SERVER, (SERVER_AUTH,)),
    ],
)
def test_issuing_ca_whose_eku_covers_the_purpose_validates(
    ca_purposes: tuple[x509.ObjectIdentifier, ...] | None,
    purpose: Purpose,
    leaf_purposes: tuple[x509.ObjectIdentifier, ...],
) -> None:
    anchor = root("PA")
    sub = anchor.sub_ca("PA issuing", purposes=ca_purposes)
    leaf = sub.issue(name("PA", "leaf"), new_key().public_key(), purposes=leaf_purposes)
    validated = validate(leaf, [sub.cert], anchor, purpose)
    assert validated.chain == (leaf, sub.cert, anchor.cert)
    assert validated.party == "PA"


@pytest.mark.parametrize(
    ("ca_purposes", "purpose", "leaf_purposes", "required"),
    [
        ((SERVER_AUTH,), Purpose.DOCUMENT_SIGNING, (DOCUMENT_SIGNING,), "1.3.6.1.5.5.7.3.36"),
        ((DOCUMENT_SIGNING,), Purpose.TLS_SERVER, (SERVER_AUTH,), "1.3.6.1.5.5.7.3.1"),
        ((SERVER_AUTH,), Purpose.TLS_CLIENT, (CLIENT_AUTH,), "1.3.6.1.5.5.7.3.2"),
    ],
)
def test_issuing_ca_restricted_to_other_purposes_is_key_purpose(
    ca_purposes: tuple[x509.ObjectIdentifier, ...],
    purpose: Purpose,
    leaf_purposes: tuple[x509.ObjectIdentifier, ...],
    required: str,
) -> None:
    anchor = root("PA")
    sub = anchor.sub_ca("PA issuing", purposes=ca_purposes)
    leaf = sub.issue(name("PA", "leaf"), new_key().public_key(), purposes=leaf_purposes)
    with pytest.raises(KeyPurposeError) as raised:
        validate(leaf, [sub.cert], anchor, purpose)
    assert raised.value.reason == "key_purpose"
    assert raised.value.detail == f"CN=PA issuing,C=PA is restricted to other extended key usages than {required}"


# -- 1. path building: backtracking and bounds -------------------------------------------------


def test_a_refused_candidate_path_does_not_stop_the_search() -> None:
    """Two copies of the issuing CA (same name and key): the first carries an unknown critical extension."""
    anchor, key = root("PA", path_length=None), new_key()
    sub_key = new_key()
    sub_name = name("PA", "PA issuing")
    refused = mint(sub_name, sub_key.public_key(), anchor.cert.subject, anchor.key, ca=True, unknown_extension=True)
    current = mint(sub_name, sub_key.public_key(), anchor.cert.subject, anchor.key, ca=True)
    leaf = mint(name("PA", "leaf"), key.public_key(), sub_name, sub_key)
    assert validate(leaf, [refused, current], anchor).chain == (leaf, current, anchor.cert)
    with pytest.raises(UnknownCriticalExtensionError) as raised:  # the control: the refused copy alone
        validate(leaf, [refused], anchor)
    assert raised.value.detail == (
        "CN=PA issuing,C=PA carries the critical extension 1.3.6.1.4.1.99999.7.1, which this node does not process"
    )


def test_a_non_ca_issuer_does_not_stop_the_search() -> None:
    """A same-named, same-key certificate with CA:FALSE comes first in x5c; the real CA follows."""
    anchor, key = root("PA", path_length=None), new_key()
    sub = anchor.sub_ca("PA issuing")
    not_ca = mint(sub.cert.subject, sub.key.public_key(), anchor.cert.subject, anchor.key, ca=False, purposes=None)
    leaf = sub.issue(name("PA", "leaf"), key.public_key())
    assert validate(leaf, [not_ca, sub.cert], anchor).chain == (leaf, sub.cert, anchor.cert)


def test_decoys_before_the_issuer_are_skipped() -> None:
    anchor = root("PA", path_length=None)
    sub = anchor.sub_ca("PA issuing")
    decoys = [anchor.sub_ca(f"PA decoy {i}").cert for i in range(3)]
    leaf = sub.issue(name("PA", "leaf"), new_key().public_key())
    assert validate(leaf, [*decoys, sub.cert], anchor).chain == (leaf, sub.cert, anchor.cert)


def ladder(anchor: Authority, depth: int) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """A leaf under ``depth`` intermediates below ``anchor``: (leaf, intermediates leaf-side first)."""
    cas, issuer = [], anchor
    for level in range(depth):
        issuer = issuer.sub_ca(f"PA level {level}")
        cas.append(issuer.cert)
    return issuer.issue(name("PA", "leaf"), new_key().public_key()), cas[::-1]


def test_four_intermediates_is_the_longest_path() -> None:
    anchor = root("PA", path_length=None)
    leaf, intermediates = ladder(anchor, 4)
    assert len(validate(leaf, intermediates, anchor).chain) == path.MAX_PATH_LENGTH


def test_five_intermediates_do_not_chain() -> None:
    anchor = root("PA", path_length=None)
    leaf, intermediates = ladder(anchor, 5)
    with pytest.raises(UntrustedChainError) as raised:
        validate(leaf, intermediates, anchor)
    assert type(raised.value) is UntrustedChainError
    assert raised.value.detail == no_chain(leaf)


def test_candidate_paths_are_bounded() -> None:
    """Five cross-certified copies of the issuing CA under a root listed twice (renewed, same key): ten paths.

    The search stops looking above further copies once it holds eight candidates.
    """
    anchor, sub_key = root("PA", path_length=None), new_key()
    renewed = mint(anchor.cert.subject, anchor.key.public_key(), anchor.cert.subject, anchor.key, ca=True)
    bundle = TrustBundle({"PA": PartyTrust("PA", (anchor.cert, renewed))})
    sub_name = name("PA", "PA issuing")
    copies = tuple(mint(sub_name, sub_key.public_key(), anchor.cert.subject, anchor.key, ca=True) for _ in range(5))
    leaf = mint(name("PA", "leaf"), new_key().public_key(), sub_name, sub_key)
    paths = candidate_paths(leaf, copies, bundle)
    assert [chain[1:] for _, chain in paths] == [(copy, ca) for copy in copies[:4] for ca in (anchor.cert, renewed)]


@pytest.mark.parametrize(("decoys", "found"), [(63, True), (64, False)])
def test_issuer_checks_are_bounded(decoys: int, found: bool) -> None:
    """Same-named certificates under other keys each cost an issuer check; 64 checks are the budget.

    The real issuer comes after ``decoys`` of them: with 63 it is the 64th check, with 64 the 65th.
    """
    anchor = root("PA", path_length=None)
    sub = anchor.sub_ca("PA issuing")
    decoy_key = new_key()
    decoy = mint(sub.cert.subject, decoy_key.public_key(), anchor.cert.subject, anchor.key, ca=True)
    others = [
        mint(sub.cert.subject, decoy_key.public_key(), anchor.cert.subject, anchor.key, ca=True)
        for _ in range(decoys - 1)
    ]
    leaf = sub.issue(name("PA", "leaf"), new_key().public_key())
    intermediates = [decoy, *others, sub.cert]
    if found:
        assert validate(leaf, intermediates, anchor).chain == (leaf, sub.cert, anchor.cert)
        return
    with pytest.raises(UntrustedChainError) as raised:
        validate(leaf, intermediates, anchor)
    assert raised.value.detail == no_chain(leaf)


# -- 4. nameConstraints ---------------------------------------------------------------------------

PERMIT_PA = x509.NameConstraints(permitted_subtrees=[x509.DNSName("pa.example")], excluded_subtrees=None)


def reissue(
    cert: x509.Certificate, issuer_key: ec.EllipticCurvePrivateKey, extra: x509.ExtensionType, *, critical: bool = True
) -> x509.Certificate:
    """``cert`` with the same fields and key plus ``extra``, signed again by ``issuer_key``."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(cert.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for extension in cert.extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    return builder.add_extension(extra, critical=critical).sign(issuer_key, hashes.SHA256())


def test_end_entity_with_name_constraints_is_refused() -> None:
    anchor = root("PA")
    leaf = anchor.issue(name("PA", "leaf"), new_key().public_key())
    assert validate(leaf, [], anchor).chain == (leaf, anchor.cert)  # the control
    with pytest.raises(UntrustedChainError) as raised:
        validate(reissue(leaf, anchor.key, PERMIT_PA), [], anchor)
    assert type(raised.value) is UntrustedChainError
    assert raised.value.detail == "CN=leaf,C=PA is an end entity but carries nameConstraints"


def test_intermediate_with_name_constraints_validates() -> None:
    """nameConstraints is processed for CAs: only an end entity carrying it is refused."""
    anchor = root("PA", path_length=None)
    sub = anchor.sub_ca("PA issuing")
    leaf = sub.issue(name("PA", "leaf"), new_key().public_key())
    constrained = reissue(sub.cert, anchor.key, PERMIT_PA)
    assert validate(leaf, [constrained], anchor).chain == (leaf, constrained, anchor.cert)


@pytest.mark.parametrize(("dns_name", "refused"), [("node.pa.example", False), ("node.co.example", True)])
def test_anchor_name_constraints_reach_across_an_intermediate(dns_name: str, refused: bool) -> None:
    """The reference check anchors at the bundle CA, not at the intermediate below it."""
    plain = root("PA", path_length=None)
    anchor = Authority(reissue(plain.cert, plain.key, PERMIT_PA), plain.key)
    sub = anchor.sub_ca("PA issuing")
    san = x509.SubjectAlternativeName([x509.DNSName(dns_name)])
    leaf = reissue(sub.issue(name("PA", "leaf"), new_key().public_key()), sub.key, san, critical=False)
    if not refused:
        assert validate(leaf, [sub.cert], anchor).chain == (leaf, sub.cert, anchor.cert)
        return
    with pytest.raises(UntrustedChainError) as raised:
        validate(leaf, [sub.cert], anchor)
    assert type(raised.value) is UntrustedChainError
    assert raised.value.detail.startswith("the certificate path fails RFC 5280 validation: ")


# -- malformed extensions ---------------------------------------------------------------------------


def test_leaf_with_unparsable_extension_is_untrusted_chain() -> None:
    anchor, key = root("PA"), new_key()
    start = moment() - timedelta(minutes=5)
    garbage = x509.UnrecognizedExtension(ExtensionOID.BASIC_CONSTRAINTS, b"\x04\x00")  # an OCTET STRING, no SEQUENCE
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("PA", "leaf"))
        .issuer_name(anchor.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
        .add_extension(garbage, critical=True)
        .sign(anchor.key, hashes.SHA256())
    )
    with pytest.raises(UntrustedChainError) as raised:
        validate(leaf, [], anchor)
    assert type(raised.value) is UntrustedChainError
    assert raised.value.detail.startswith("CN=leaf,C=PA has malformed extensions: ")


# -- 8. the reference check's cache ------------------------------------------------------------------


def test_reference_checked_chains_are_cached_and_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[x509.Certificate, ...]] = []
    real = path.reference_check

    def counting(chain: tuple[x509.Certificate, ...], at: datetime) -> None:
        calls.append(chain)
        real(chain, at)

    monkeypatch.setattr(path, "reference_check", counting)
    cache: set[object] = set(path._REFERENCE_ACCEPTED)
    monkeypatch.setattr(path, "_REFERENCE_ACCEPTED", cache)
    anchor = root("PA")
    leaf = anchor.issue(name("PA", "leaf"), new_key().public_key())
    validate(leaf, [], anchor)
    validate(leaf, [], anchor)
    assert calls == [(leaf, anchor.cert)]  # checked once, then taken from the cache
    assert (leaf, anchor.cert) in cache

    cache.clear()
    cache.update((object(),) for _ in range(1023))  # with the chain above: 1024 held
    cache.add((leaf, anchor.cert))
    other = anchor.issue(name("PA", "other leaf"), new_key().public_key())
    validate(other, [], anchor)
    assert cache == {(other, anchor.cert)}  # full at 1024: emptied before the new chain went in
