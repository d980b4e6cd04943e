"""``gateway party``: admit a new party into the federation's trust bundles.

A newcomer cannot sign its own first trust-bundle entry (nothing partners
hold speaks for it). A party already in the federation signs it
(``party admit``); every partner checks the newcomer's CA fingerprint out of
band and adopts the admission (``party adopt``). The newcomer exchanges
nothing until every party signed the terms amendment naming it
(``joined_in``, see deploy/README.md, "A party joins").
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from gateway.commands.common import fail, stderr, stdout, write_stdout_text
from gateway.trust.bundle import TrustBundle, spki_sha256
from gateway.trust.bundle_update import admit_party, sign_admission, verify_admission
from gateway.trust.keys import SigningKey

app = typer.Typer(
    help="Admit a new party into the trust bundle (a signed admission; terms decide its flows).", no_args_is_help=True
)


@app.command("admit")
def admit(
    entry: Annotated[Path, typer.Argument(help="The newcomer's bundle-entry.json (from its `pki init`).")],
    sponsor: Annotated[str, typer.Option(help="This party's code: the party that vouches for the newcomer.")],
    key: Annotated[Path, typer.Option(help="This party's record-signing key, which partners trust (PEM).")],
    cert: Annotated[Path, typer.Option(help="Its certificate (PEM).")],
    out: Annotated[Path | None, typer.Option(help="Write the signed admission here (default: stdout).")] = None,
) -> None:
    """Sign a new party's CA entry as this party, for every partner to adopt with `gateway party adopt`."""
    loaded = TrustBundle.load(entry)
    if len(loaded.parties) != 1:
        fail(f"{entry} lists {len(loaded.parties)} parties; an admission carries one newcomer's entry")
    (trust,) = loaded.parties.values()
    admission = sign_admission(trust, sponsor, SigningKey.from_files(key, cert), datetime.now(UTC))
    if out is None:
        write_stdout_text(admission + "\n")
    else:
        out.write_text(admission + "\n", "utf-8")
    fingerprints = ", ".join(spki_sha256(ca) for ca in trust.cas)
    stderr.print(
        f"{sponsor} admits {trust.party}; partners adopt it with --ca-sha256 {fingerprints} "
        "after comparing it with the newcomer out of band" + (f" → {out}" if out is not None else ""),
        soft_wrap=True,
    )


@app.command("adopt")
def adopt(
    admission: Annotated[Path, typer.Argument(help="A signed admission (from `gateway party admit`).")],
    trust: Annotated[Path, typer.Option(help="Trust bundle to update (the sponsor is verified against it).")],
    ca_sha256: Annotated[
        list[str],
        typer.Option(
            "--ca-sha256",
            help="SPKI SHA-256 (hex) of each of the newcomer's CAs, as the newcomer gave it out of band.",
        ),
    ],
    out: Annotated[Path | None, typer.Option(help="Write here instead of updating --trust.")] = None,
) -> None:
    """Verify an admission against the sponsor's trust and the newcomer's CA fingerprints, then add the newcomer."""
    bundle = TrustBundle.load(trust)
    verified = verify_admission(admission.read_bytes(), bundle, datetime.now(UTC))
    offered = {spki_sha256(ca) for ca in verified.trust.cas}
    expected = {value.strip().lower() for value in ca_sha256}
    if offered != expected:
        fail(
            f"{verified.party}'s CAs in the admission have SPKI SHA-256 {', '.join(sorted(offered))}, "
            f"not {', '.join(sorted(expected))}",
            hint=f"ask {verified.party} again, out of band, for its CA fingerprint; adopt nothing until they match",
        )
    adopted = admit_party(bundle, verified)
    if adopted is bundle:
        stdout.print(f"{verified.party} is already held with this entry; {trust} unchanged", soft_wrap=True)
        return
    target = out or trust
    target.write_text(adopted.to_json(), "utf-8")
    stdout.print(
        f"{verified.party}: admitted by {verified.sponsor} (issued {verified.issued_at}), "
        f"{len(verified.trust.cas)} CA(s) → {target}; its flows go live once every party signed the terms "
        "amendment naming it; restart the node to use it",
        soft_wrap=True,
    )
