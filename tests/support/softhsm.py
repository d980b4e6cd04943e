"""Throwaway SoftHSM2 tokens for PKCS#11 tests.

SoftHSM2 reads its configuration (SOFTHSM2_CONF) and scans its token
directory once, when the PKCS#11 library is initialized in the process. So
each pytest session makes its own configuration and tokens under a temporary
directory, then (re)initializes the library on them, and finalizes it when the
session ends: a second session in the same process (mutmut runs several)
starts from fresh tokens, not from the keys and deleted tokens of the first.
Tests keep apart by key labels (``object=``) inside those tokens. Under
CI=true a missing SoftHSM2 fails instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest

from gateway.trust import token_keys

SOFTHSM_MODULE_CANDIDATES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/local/lib/softhsm/libsofthsm2.so"),
)
USER_PIN = "4711-test-pin"
SO_PIN = "so-pin-0815-test"
# Tokens made for the session: one for most tests; "gateway-other" for a token in another slot;
# two "twin-token"s, which a label alone cannot tell apart; the others are deleted by one test each.
TOKENS = (
    "gateway-test",
    "gateway-other",
    "twin-token",
    "twin-token",
    "vanishing",
    "vanishing-node",
    "vanishing-kek",
    "vanishing-kek-node",
)


@dataclass(frozen=True)
class SoftHSM:
    """The session's SoftHSM2: its library, configuration, and a PIN file for its tokens."""

    module: Path
    conf: Path
    pin_file: Path

    def uri(self, object_label: str, token: str = "gateway-test") -> str:  # noqa: S107 - a token label
        return f"pkcs11:token={token};object={object_label}"

    def delete_token(self, token: str) -> None:
        run_util(self.conf, "--delete-token", "--token", token)


def find_module() -> Path | None:
    return next((path for path in SOFTHSM_MODULE_CANDIDATES if path.exists()), None)


def run_util(conf: Path, *args: str) -> None:
    subprocess.run(
        ["softhsm2-util", *args],
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        check=True,
        capture_output=True,
    )


def make_softhsm(root: Path) -> SoftHSM:
    """Initialize SoftHSM2 tokens under ``root`` and point SOFTHSM2_CONF at them; skip (fail under CI) without it."""
    module = find_module()
    if module is None or shutil.which("softhsm2-util") is None:
        message = "SoftHSM2 is not installed (apt-get install softhsm2; `make test` installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    tokens = root / "tokens"
    tokens.mkdir(parents=True)
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n", "utf-8")
    for label in TOKENS:
        run_util(conf, "--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", USER_PIN)
    os.environ["SOFTHSM2_CONF"] = str(conf)
    pin_file = root / "pin"
    pin_file.write_text(USER_PIN + "\n", "utf-8")
    pin_file.chmod(0o600)
    return SoftHSM(module, conf, pin_file)


@contextmanager
def softhsm_session(root: Path) -> Iterator[SoftHSM]:
    """Yield fresh SoftHSM2 tokens under ``root`` for one pytest session, then finalize the library.

    The library may still be initialized on an earlier session's tokens in this
    process; it is finalized so that it reads the new SOFTHSM2_CONF, and again
    at the end so that the next session (or a forked mutmut worker) starts clean.
    """
    previous = os.environ.get("SOFTHSM2_CONF")
    softhsm = make_softhsm(root)
    reset_module(softhsm.module)
    try:
        yield softhsm
    finally:
        reset_module(softhsm.module, initialize=False)
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous


def reset_module(module: Path, *, initialize: bool = True) -> None:
    """Finalize the PKCS#11 library (closing every session and login) and optionally initialize it again."""
    library = pkcs11.lib(str(module))  # the process's one instance, as gateway.trust.token_keys.open_token gets it
    library.finalize()
    # C_Finalize logged the process out of every token: forget the logins token_keys remembers.
    with token_keys._LOGIN_LOCK:
        token_keys._LOGGED_IN.clear()
    if initialize:
        library.initialize()
