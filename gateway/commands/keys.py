"""``gateway keys``: the key-encryption key of record bodies (new, rotate) and sealing older rows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from gateway.commands.common import ConfigOption, fail, settings_from, stdout

app = typer.Typer(help="Keys of record bodies at rest: new and rotated key-encryption keys.", no_args_is_help=True)


Pkcs11ModuleOption = Annotated[
    Path | None,
    typer.Option(
        "--pkcs11-module",
        help="The token's PKCS#11 library (default: GATEWAY_PKCS11_MODULE, pkcs11_module, or module-path in the URI).",
    ),
]
PinFileOption = Annotated[
    Path | None, typer.Option(help="File holding the token's user PIN (default: GATEWAY_PKCS11_PIN).")
]


def _token_access(module: Path | None, pin_file: Path | None, config: Path | None) -> tuple[Path | None, str]:
    """The token's module and PIN: options first, then the environment, then the configuration file."""
    from gateway.trust.token_keys import read_pin

    env_module, env_pin_file = os.environ.get("GATEWAY_PKCS11_MODULE"), os.environ.get("GATEWAY_PKCS11_PIN_FILE")
    settings = settings_from(config) if config is not None else None
    chosen_module = module or (Path(env_module) if env_module else None) or (settings and settings.pkcs11_module)
    pin_source = pin_file or (Path(env_pin_file) if env_pin_file else None) or (settings and settings.pkcs11_pin_file)
    return chosen_module or None, read_pin(os.environ.get("GATEWAY_PKCS11_PIN"), pin_source or None)


@app.command("new-kek")
def new_kek(
    out: Annotated[Path | None, typer.Option("--out", help="File to write (0600); never overwritten.")] = None,
    pkcs11: Annotated[
        str | None,
        typer.Option(
            "--pkcs11",
            help="Generate the key in a PKCS#11 token instead (AES-256, never leaves it): RFC 7512 URI "
            "(pkcs11:token=…;object=…).",
        ),
    ] = None,
    pkcs11_module: Pkcs11ModuleOption = None,
    pin_file: PinFileOption = None,
    config: ConfigOption = None,
) -> None:
    """Make a new key-encryption key: base64 of 32 random bytes in a new file, or an AES-256 key in a token."""
    from gateway.vault.sealing import KeyEncryptionKey

    if (out is None) == (pkcs11 is None):
        fail("give exactly one of --out FILE and --pkcs11 URI")
    if pkcs11 is not None:
        from gateway.vault.token_kek import generate_token_kek

        module, pin = _token_access(pkcs11_module, pin_file, config)
        token_kek = generate_token_kek(pkcs11, module, pin)
        token_kek.close()
        stdout.print(
            f"generated key-encryption key {token_kek.kek_id} in the token: {pkcs11} "
            "(set kek_uri to it, or pass it to `gateway keys rotate-kek --new-pkcs11`)",
            soft_wrap=True,
        )
        return
    assert out is not None
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
    new: Annotated[
        Path | None, typer.Option("--new-kek", help="Key file of the new key (from `gateway keys new-kek --out`).")
    ] = None,
    new_pkcs11: Annotated[
        str | None,
        typer.Option(
            "--new-pkcs11", help="RFC 7512 URI of the new key in the token (`gateway keys new-kek --pkcs11`)."
        ),
    ] = None,
    pkcs11_module: Pkcs11ModuleOption = None,
    pin_file: PinFileOption = None,
    config: ConfigOption = None,
) -> None:
    """Re-wrap every data key under a new key-encryption key (bodies untouched; resumable).

    From a file or token key (kek_file or kek_uri) to a file or token key.
    Then point kek_file or kek_uri at the new key and restart; the old key can be destroyed.
    """
    from gateway.node import close_kek, open_vault
    from gateway.vault.sealing import KeyEncryptionKey, KeyWrapper

    if (new is None) == (new_pkcs11 is None):
        fail("give exactly one of --new-kek FILE and --new-pkcs11 URI")
    settings = settings_from(config)
    new_kek: KeyWrapper
    if new_pkcs11 is not None:
        from gateway.vault.token_kek import load_token_kek

        module, pin = _token_access(pkcs11_module, pin_file, config)
        new_kek = load_token_kek(new_pkcs11, module, pin)
        target = f"kek_uri to {new_pkcs11} (and unset kek_file)"
    else:
        new_kek = KeyEncryptionKey.from_file(new)
        target = f"kek_file to {new} (and unset kek_uri)"
    try:
        vault = open_vault(settings)
        try:
            if new_kek.kek_id == vault.kek.kek_id:
                fail("the new key is the key the store is wrapped under", hint="make one with `gateway keys new-kek`")
            count = vault.rotate(new_kek)
        finally:
            vault.keystore.engine.dispose()
    finally:
        close_kek(new_kek)
    old = "kek_uri" if settings.kek_uri is not None else "kek_file"
    stdout.print(
        f"re-wrapped {count} data keys under key-encryption key {new_kek.kek_id}; "
        f"set {target} and restart, then destroy the old key ({old})",
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
