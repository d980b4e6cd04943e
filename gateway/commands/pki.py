"""``gateway pki``: development PKI and trust bundles."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509

from gateway.commands.common import ConfigOption, fail, settings_from, stderr, stdout, write_stdout_text
from gateway.commands.records import parse_time
from gateway.trust.bundle import MAX_SEQUENCE, TrustBundle
from gateway.trust.bundle_update import (
    apply_trust_update,
    combine_entries,
    sign_trust_update,
    verify_trust_update,
    with_sequence,
)
from gateway.trust.keys import SigningKey
from gateway.trust.pki import CertKind, init_party, issue_from_dir, revoke_in_dir
from gateway.trust.token_keys import read_pin
from gateway.trust.token_pki import init_party_with_token, issue_token_signing_certificate

Pkcs11Option = Annotated[
    str | None,
    typer.Option(help="Generate the record-signing key in a PKCS#11 token: RFC 7512 URI (pkcs11:token=…;object=…)."),
]
Pkcs11ModuleOption = Annotated[
    Path | None,
    typer.Option(help="The token's PKCS#11 library (default: GATEWAY_PKCS11_MODULE, or module-path in the URI)."),
]
PinFileOption = Annotated[
    Path | None, typer.Option(help="File holding the token's user PIN (default: GATEWAY_PKCS11_PIN).")
]


def _module(option: Path | None) -> Path | None:
    if option is not None:
        return option
    value = os.environ.get("GATEWAY_PKCS11_MODULE")
    return Path(value) if value else None


def _pin(pin_file: Path | None) -> str:
    return read_pin(os.environ.get("GATEWAY_PKCS11_PIN"), pin_file or _env_path("GATEWAY_PKCS11_PIN_FILE"))


_REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
}


def _reason(name: str) -> x509.ReasonFlags:
    if name not in _REASONS:
        fail(
            f"Invalid value for --reason: {name!r} is not one of {', '.join(_REASONS)}",
            hint="see `gateway pki revoke --help`",
        )
    return _REASONS[name]


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


app = typer.Typer(help="Create and manage a development PKI and trust bundles.", no_args_is_help=True)


@app.command("init")
def init(
    party: Annotated[str, typer.Option(help="Party code (ISO 3166-1 alpha-2, e.g. PA).")],
    out: Annotated[Path, typer.Option(help="Directory to write the party's PKI into.")],
    host: Annotated[list[str] | None, typer.Option(help="Extra TLS host name or IP (repeatable).")] = None,
    ed25519: Annotated[bool, typer.Option(help="Record-signing key Ed25519 instead of ES256.")] = False,
    pkcs11: Pkcs11Option = None,
    pkcs11_module: Pkcs11ModuleOption = None,
    pin_file: PinFileOption = None,
) -> None:
    """Create a party root CA, a TLS certificate, a record-signing certificate and a CRL.

    With --pkcs11 the record-signing key pair is generated in the token (P-256)
    and only its certificate is written.
    """
    if pkcs11 is not None:
        if ed25519:
            fail("--ed25519 and --pkcs11 do not go together: token keys are P-256 (ES256)")
        files = init_party_with_token(
            party.upper(), out, pkcs11, _module(pkcs11_module), _pin(pin_file), hosts=tuple(host or ())
        )
    else:
        files = init_party(party.upper(), out, hosts=tuple(host or ()), key_kind="ed25519" if ed25519 else "ec-p256")
    stdout.print(f"created the {party.upper()} development PKI in {files.root}:")
    for label, path in (
        ("root CA", files.ca_cert),
        ("TLS certificate", files.tls_cert),
        ("signing certificate", files.signing_cert),
        ("CRL", files.crl),
        ("trust-bundle entry", files.bundle_entry),
    ):
        stdout.print(f"  {label:<20} {path}")
    if pkcs11 is not None:
        stdout.print(
            f"  {'signing key':<20} {pkcs11} (in the token; set GATEWAY_SIGNING_KEY_URI to it)", soft_wrap=True
        )
    stdout.print("private keys (*.key) are mode 0600; never share them.")


@app.command("issue")
def issue(
    ca_dir: Annotated[Path, typer.Option(help="Directory made by `pki init` (holds ca.pem, ca.key).")],
    kind: Annotated[str, typer.Option(help="tls or signing.")],
    out_cert: Annotated[Path, typer.Option(help="Where to write the certificate (PEM).")],
    out_key: Annotated[Path, typer.Option(help="Where to write the private key (PEM, 0600).")],
    host: Annotated[list[str] | None, typer.Option(help="Extra TLS host name (repeatable).")] = None,
    days: Annotated[int, typer.Option(min=1, help="Validity in days (at least 1).")] = 825,
) -> None:
    """Issue another TLS or signing certificate from a party CA."""
    if kind not in ("tls", "signing"):
        raise typer.BadParameter("kind must be tls or signing", param_hint="--kind")
    cert = issue_from_dir(ca_dir, kind, out_cert, out_key, hosts=tuple(host or ()), days=days)  # type: ignore[arg-type]
    stdout.print(f"issued {kind} certificate serial {cert.serial_number:x} → {out_cert}")


@app.command("revoke")
def revoke(
    ca_dir: Annotated[Path, typer.Option(help="Directory made by `pki init`.")],
    cert: Annotated[Path, typer.Argument(help="Certificate (PEM) to revoke.")],
    reason: Annotated[
        str | None,
        typer.Option(
            help="RFC 5280 reason: superseded, cessationOfOperation, affiliationChanged (records signed before "
            "stay valid when received), keyCompromise (with --invalidity-date), privilegeWithdrawn, unspecified."
        ),
    ] = None,
    invalidity_date: Annotated[
        str | None,
        typer.Option(help="keyCompromise: since when the key is known or suspected compromised (RFC 3339)."),
    ] = None,
) -> None:
    """Revoke a certificate: add it to the party CRL and refresh the bundle entry."""
    flag = _reason(reason) if reason is not None else None
    since = parse_time(invalidity_date) if invalidity_date is not None else None
    if since is not None and flag not in (x509.ReasonFlags.key_compromise, x509.ReasonFlags.ca_compromise):
        fail("--invalidity-date goes with --reason keyCompromise (or cACompromise)")
    crl = revoke_in_dir(ca_dir, cert, reason=flag, invalidity_date=since)
    stdout.print(f"CRL now lists {len(list(crl))} revoked certificate(s); redistribute the trust bundle")


@app.command("bundle")
def bundle(
    entries: Annotated[list[Path], typer.Argument(help="bundle-entry.json files to merge.")],
    out: Annotated[Path, typer.Option(help="Trust bundle file to write.")],
) -> None:
    """Merge party bundle entries into one trust bundle."""
    merged = TrustBundle.merge(TrustBundle.load(path) for path in entries)
    out.write_text(merged.to_json(), "utf-8")
    stdout.print(f"trust bundle with parties {', '.join(sorted(merged.parties))} → {out}")


# -- rotation --------------------------------------------------------------------


@app.command("rotate")
def rotate(
    ca_dir: Annotated[Path, typer.Option(help="Directory made by `pki init` (holds ca.pem, ca.key).")],
    out: Annotated[Path, typer.Option(help="Directory for the new certificates and keys.")],
    host: Annotated[list[str] | None, typer.Option(help="Extra TLS host name or IP (repeatable).")] = None,
    ed25519: Annotated[bool, typer.Option(help="New record-signing key Ed25519 instead of ES256.")] = False,
    days: Annotated[int, typer.Option(min=1, help="Validity in days (at least 1).")] = 825,
    pkcs11: Annotated[
        str | None,
        typer.Option(help="Generate the new record-signing key in this PKCS#11 token key (RFC 7512 URI, new object)."),
    ] = None,
    pkcs11_module: Pkcs11ModuleOption = None,
    pin_file: PinFileOption = None,
) -> None:
    """Issue a new TLS certificate and a new record-signing certificate from the party CA.

    Partners need nothing: they trust the CA, not the leaf. Records signed with
    the old key keep verifying until its certificate expires or is revoked.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    files: dict[CertKind, tuple[Path, Path]] = {
        "tls": (out / f"tls-{stamp}.pem", out / f"tls-{stamp}.key"),
        "signing": (out / f"signing-{stamp}.pem", out / f"signing-{stamp}.key"),
    }
    if pkcs11 is not None:
        if ed25519:
            fail("--ed25519 and --pkcs11 do not go together: token keys are P-256 (ES256)")
        issue_token_signing_certificate(
            ca_dir, pkcs11, _module(pkcs11_module), _pin(pin_file), files["signing"][0], days=days
        )
        stdout.print(f"generated the signing key in the token at {pkcs11} → {files['signing'][0]}", soft_wrap=True)
    for kind, (cert, key) in files.items():
        if kind == "signing" and pkcs11 is not None:
            continue
        issued = issue_from_dir(
            ca_dir,
            kind,
            cert,
            key,
            hosts=tuple(host or ()),
            days=days,
            key_kind="ed25519" if ed25519 and kind == "signing" else "ec-p256",
        )
        stdout.print(f"issued {kind} certificate serial {issued.serial_number:x} → {cert}")
    stdout.print(
        "switch the node over and restart `gateway serve`:\n"
        f"  GATEWAY_TLS_CERT={files['tls'][0]} GATEWAY_TLS_KEY={files['tls'][1]}\n"
        f"  GATEWAY_SIGNING_CERT={files['signing'][0]} "
        + (
            f"GATEWAY_SIGNING_KEY_URI='{pkcs11}'\n"
            if pkcs11 is not None
            else f"GATEWAY_SIGNING_KEY={files['signing'][1]}\n"
        )
        + "then retire the old certificates with `gateway pki revoke` and publish the CRL "
        "(`gateway pki publish`).",
        soft_wrap=True,
    )


def _held_sequence(party: str, sources: list[TrustBundle]) -> int:
    return max((trust.sequence for bundle in sources if (trust := bundle.party(party)) is not None), default=0)


@app.command("publish")
def publish(
    entry: Annotated[list[Path], typer.Argument(help="This party's bundle-entry.json files (old and new CA).")],
    key: Annotated[Path, typer.Option(help="A record-signing key partners already trust (PEM).")],
    cert: Annotated[Path, typer.Option(help="Its certificate (PEM).")],
    out: Annotated[Path | None, typer.Option(help="Write the signed update here (default: stdout).")] = None,
    trust: Annotated[
        Path | None,
        typer.Option(
            help="This node's trust bundle: the held sequence is read from it, and the published "
            "entry is written into it (so /v1/exchange/trust-update serves the same update)."
        ),
    ] = None,
    sequence: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_SEQUENCE,
            help="Sequence to publish (default: the highest held + 1); must be above the held one.",
        ),
    ] = None,
) -> None:
    """Sign this party's CAs and CRLs as a trust update for partners (CA rotation, new CRLs).

    Partners adopt an update only with a sequence above the one they hold, so
    each publication takes the next sequence: the highest held in the entry
    files and ``--trust``, plus one (or ``--sequence``). The sequence is
    written back into the entry files and ``--trust``.
    """
    entries = [TrustBundle.load(path) for path in entry]
    combined = combine_entries([party for loaded in entries for party in loaded.parties.values()])
    node_bundle = TrustBundle.load(trust) if trust is not None else None
    held = _held_sequence(combined.party, entries + ([node_bundle] if node_bundle is not None else []))
    if sequence is not None and sequence <= held:
        fail(
            f"sequence {sequence} is not above {held}, the sequence {combined.party} already published; "
            "partners would refuse it as a rollback",
            hint=f"use --sequence {held + 1} or leave --sequence out",
        )
    published = with_sequence(combined, sequence if sequence is not None else held + 1)
    # Built before signing: a CA of another party in it fails here, with nothing written.
    served = TrustBundle({**node_bundle.parties, combined.party: published}) if node_bundle is not None else None
    update = sign_trust_update(published, SigningKey.from_files(key, cert), datetime.now(UTC))
    if out is None:
        write_stdout_text(update + "\n")
    else:
        out.write_text(update + "\n", "utf-8")
    for path, loaded in zip(entry, entries, strict=True):
        own = with_sequence(loaded.parties[combined.party], published.sequence)
        path.write_text(TrustBundle({combined.party: own}).to_json(), "utf-8")
    if trust is not None and served is not None:
        trust.write_text(served.to_json(), "utf-8")
    # stderr: with no --out the update itself goes to stdout.
    stderr.print(
        f"signed trust update for {combined.party}, sequence {published.sequence}"
        + (f" → {out}" if out is not None else "")
        + (f"; {trust} holds it now, restart the node to serve it" if trust is not None else ""),
        soft_wrap=True,
    )


def _adopt(update: bytes, bundle_path: Path, expected: str | None, out: Path | None) -> None:
    bundle = TrustBundle.load(bundle_path)
    verified = verify_trust_update(update, bundle, datetime.now(UTC))
    if expected is not None and verified.party != expected:
        fail(f"the update is for {verified.party}, not {expected}")
    adopted = apply_trust_update(bundle, verified)
    if adopted is bundle:
        stdout.print(
            f"{verified.party}: sequence {verified.sequence} is already held; {bundle_path} unchanged", soft_wrap=True
        )
        return
    target = out or bundle_path
    target.write_text(adopted.to_json(), "utf-8")
    stdout.print(
        f"{verified.party}: {len(verified.trust.cas)} CA(s), {len(verified.trust.crls)} CRL(s), "
        f"sequence {verified.sequence} (issued {verified.issued_at}) → {target}; restart the node to use it",
        soft_wrap=True,
    )


@app.command("adopt")
def adopt(
    update: Annotated[Path, typer.Argument(help="Signed trust update (from `pki publish`).")],
    trust: Annotated[Path, typer.Option(help="Trust bundle to update (verified against it first).")],
    out: Annotated[Path | None, typer.Option(help="Write here instead of updating --trust.")] = None,
) -> None:
    """Verify a partner's signed trust update against the trust already held, then apply it."""
    _adopt(update.read_bytes(), trust, None, out)


@app.command("fetch")
def fetch(
    party: Annotated[str, typer.Argument(help="Partner party code.")],
    config: ConfigOption = None,
) -> None:
    """Fetch a partner's signed trust update over mTLS, verify it, update the node's trust bundle."""
    from gateway.node import build_node
    from gateway.transport.client import PartnerClients

    settings = settings_from(config)
    if settings.trust_bundle is None:
        fail("GATEWAY_TRUST_BUNDLE is not set")
        return
    node = build_node(settings)
    clients = PartnerClients(node, timeout=30)
    try:
        response = clients.get(party.upper(), "/v1/exchange/trust-update")
    finally:
        clients.close()
        node.close()
    if response.status_code != 200:
        fail(f"{party.upper()} answered HTTP {response.status_code}")
    _adopt(response.content, settings.trust_bundle, party.upper(), None)
