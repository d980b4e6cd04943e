"""``gateway keys``: the key-encryption key of record bodies (new, rotate) and sealing older rows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from gateway.commands.common import ConfigOption, fail, settings_from, stdout

app = typer.Typer(help="Keys of record bodies at rest: new and rotated key-encryption keys.", no_args_is_help=True)


@app.command("new-kek")
def new_kek(
    out: Annotated[Path, typer.Option("--out", help="File to write (0600); never overwritten.")],
) -> None:
    """Write a new key-encryption key (base64 of 32 random bytes) to a new file."""
    from gateway.vault.sealing import KeyEncryptionKey

    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail(f"{out} exists; a key file is never overwritten", hint="choose another --out")
        return
    except OSError as exc:
        fail(f"{out} cannot be created ({exc.strerror})")
        return
    kek = KeyEncryptionKey.generate()
    with os.fdopen(descriptor, "w", encoding="ascii") as key_file:
        key_file.write(kek.encoded() + "\n")
    stdout.print(f"wrote key-encryption key {kek.kek_id} to {out}", soft_wrap=True)


@app.command("rotate-kek")
def rotate_kek(
    new: Annotated[Path, typer.Option("--new-kek", help="Key file of the new key (from `gateway keys new-kek`).")],
    config: ConfigOption = None,
) -> None:
    """Re-wrap every data key under a new key-encryption key (bodies untouched; resumable).

    Then point kek_file at the new file and restart; the old key file can be destroyed.
    """
    from gateway.node import open_vault
    from gateway.vault.sealing import KeyEncryptionKey

    settings = settings_from(config)
    new_kek = KeyEncryptionKey.from_file(new)
    vault = open_vault(settings)
    if new_kek.kek_id == vault.kek.kek_id:
        fail("the new key is the key in kek_file", hint="make one with `gateway keys new-kek --out FILE`")
    try:
        count = vault.rotate(new_kek)
    finally:
        vault.keystore.engine.dispose()
    stdout.print(
        f"re-wrapped {count} data keys under key-encryption key {new_kek.kek_id}; "
        f"set kek_file to {new} and restart, then destroy the old key file",
        soft_wrap=True,
    )


@app.command("seal-existing")
def seal_existing(
    config: ConfigOption = None,
    batch: Annotated[int, typer.Option("--batch", min=1, max=10000, help="Rows per transaction.")] = 500,
) -> None:
    """Seal the bodies of rows stored before sealing at rest (batches of their own transactions; resumable)."""
    from gateway.commands.common import require_schema
    from gateway.db import make_engine, make_sessionmaker
    from gateway.node import open_vault
    from gateway.records.sealing_pass import seal_clear_rows

    settings = settings_from(config)
    vault = open_vault(settings)
    engine = make_engine(settings.sqlalchemy_url())
    try:
        require_schema(engine)
        total = seal_clear_rows(make_sessionmaker(engine, vault), batch)
    finally:
        engine.dispose()
        vault.keystore.engine.dispose()
    stdout.print(f"sealed {total} record bodies")
