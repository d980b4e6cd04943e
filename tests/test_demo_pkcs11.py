"""``gateway demo --pkcs11``: the whole scenario with PA's record-signing key in a SoftHSM2 token."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from gateway.trust.keys import load_certificates
from tests.support.softhsm import SoftHSM

CONSOLE_SCRIPT = Path(sys.executable).parent / "gateway"


def test_the_demo_runs_with_pas_keys_in_a_token(softhsm: SoftHSM, tmp_path: Path) -> None:
    # The session's SoftHSM2 fixture proves the package is installed (or skips/fails under CI);
    # the demo, a separate process, makes its own configuration and token in its work directory.
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"}
    run = subprocess.run(
        [str(CONSOLE_SCRIPT), "demo", "--pkcs11", "--workdir", str(tmp_path)],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "PA's record-signing key is in a SoftHSM2 token: pkcs11:token=PA%20demo%20" in run.stdout
    assert "signed by CO, PA, US" in run.stdout
    # The PEM key is gone; PA's certificate certifies the token key.
    assert not (tmp_path / "pki" / "pa" / "signing.key").exists()
    assert (
        load_certificates(tmp_path / "pki" / "pa" / "signing.pem")[0]
        .subject.rfc4514_string()
        .startswith("CN=PA MOU Gateway record signing")
    )
    assert (tmp_path / "softhsm" / "pa.pin").stat().st_mode & 0o077 == 0
    # PA's row: records sent and delivered, none dead, every partner receipt verified.
    row = re.search(r"│ PA\s+│\s+(\d+) │\s+(\d+) │\s+(\d+) │\s+(\d+) │\s+(\d+) │\s+(\d+) │\s+(\d+) │", run.stdout)
    assert row is not None, run.stdout[-3000:]
    sent, _received, _rejected, delivered, pending, dead, verified = map(int, row.groups())
    assert sent > 0
    assert (pending, dead) == (0, 0)
    assert delivered == verified > 0
