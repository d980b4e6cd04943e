"""``gateway demo --pkcs11``: PA's record-signing key in a SoftHSM2 token instead of a PEM file.

The demo makes a SoftHSM2 configuration and token under its work directory
(unless SOFTHSM2_CONF already names one), generates PA's P-256 key in the
token, has PA's CA certify it and removes the PEM key, so PA's records,
receipts, checkpoints, trust updates and terms signature are all made in the
token.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError
from gateway.trust.keys import SigningKey, load_certificates
from gateway.trust.pki import PartyFiles
from gateway.trust.token_keys import load_token_key
from gateway.trust.token_pki import issue_token_signing_certificate

MODULES = (Path("/usr/lib/softhsm/libsofthsm2.so"), Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"))


@dataclass(frozen=True)
class DemoToken:
    """Where the demo's token key is and how a node opens it."""

    uri: str
    module: Path
    pin_file: Path

    def settings(self) -> dict[str, Any]:
        return {
            "signing_key": None,
            "signing_key_uri": self.uri,
            "pkcs11_module": self.module,
            "pkcs11_pin_file": self.pin_file,
        }

    def signing_key(self, cert: Path) -> SigningKey:
        pin = self.pin_file.read_text("utf-8").strip()
        return SigningKey(load_token_key(self.uri, self.module, pin), tuple(load_certificates(cert)))


def move_signing_key_into_token(workdir: Path, files: PartyFiles, party: str) -> DemoToken:
    """Replace ``party``'s PEM signing key by a key generated in a new SoftHSM2 token; return how to open it.

    Raises ConfigurationError when SoftHSM2 is not installed.
    """
    module = next((path for path in MODULES if path.exists()), None)
    if module is None or shutil.which("softhsm2-util") is None:
        raise ConfigurationError("SoftHSM2 is not installed", hint="apt-get install softhsm2")
    root = workdir / "softhsm"
    root.mkdir(parents=True, exist_ok=True)
    if "SOFTHSM2_CONF" not in os.environ:
        (root / "tokens").mkdir(exist_ok=True)
        conf = root / "softhsm2.conf"
        conf.write_text(
            f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n", "utf-8"
        )
        os.environ["SOFTHSM2_CONF"] = str(conf)
    pin = secrets.token_hex(8)
    pin_file = root / f"{party.lower()}.pin"
    descriptor = os.open(pin_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(pin + "\n")
    label = f"{party} demo {secrets.token_hex(3)}"
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", secrets.token_hex(8), "--pin", pin],
        check=True,
        capture_output=True,
    )
    uri = f"pkcs11:token={label.replace(' ', '%20')};object=record-signing"
    files.signing_key.unlink(missing_ok=True)
    issue_token_signing_certificate(files.root, uri, module, pin, files.signing_cert)
    return DemoToken(uri, module, pin_file)
