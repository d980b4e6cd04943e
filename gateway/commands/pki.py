"""``gateway pki``: development PKI and trust bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.commands.common import stdout
from gateway.trust.bundle import TrustBundle
from gateway.trust.pki import init_party, issue_from_dir, revoke_in_dir

app = typer.Typer(help="Create and manage a development PKI and trust bundles.", no_args_is_help=True)


@app.command("init")
def init(
    party: Annotated[str, typer.Option(help="Party code: PA, CO or US.")],
    out: Annotated[Path, typer.Option(help="Directory to write the party's PKI into.")],
    host: Annotated[list[str] | None, typer.Option(help="Extra TLS host name or IP (repeatable).")] = None,
    ed25519: Annotated[bool, typer.Option(help="Record-signing key Ed25519 instead of ES256.")] = False,
) -> None:
    """Create a party root CA, a TLS certificate, a record-signing certificate and a CRL."""
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
    stdout.print("private keys (*.key) are mode 0600; never share them.")


@app.command("issue")
def issue(
    ca_dir: Annotated[Path, typer.Option(help="Directory made by `pki init` (holds ca.pem, ca.key).")],
    kind: Annotated[str, typer.Option(help="tls or signing.")],
    out_cert: Annotated[Path, typer.Option(help="Where to write the certificate (PEM).")],
    out_key: Annotated[Path, typer.Option(help="Where to write the private key (PEM, 0600).")],
    host: Annotated[list[str] | None, typer.Option(help="Extra TLS host name (repeatable).")] = None,
    days: Annotated[int, typer.Option(help="Validity in days.")] = 825,
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
) -> None:
    """Revoke a certificate: add it to the party CRL and refresh the bundle entry."""
    crl = revoke_in_dir(ca_dir, cert)
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
