"""The offline commands (``pki``, ``sign``, ``verify``) through the real entry point.

Commands run in-process through ``gateway.cli.main`` (what the ``gateway`` console
script calls), so exit codes and error handling are the ones a user sees; one test
runs the installed console script itself.
"""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

import gateway.cli
from gateway.trust.bundle import TrustBundle
from gateway.trust.keys import load_certificates

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "schemas" / "examples").glob("*.json"))
PARTIES = ("PA", "CO", "US")
CONSOLE_SCRIPT = Path(sys.executable).parent / "gateway"


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def error_line(self) -> str:
        """The error output, asserted to be exactly one line without a traceback."""
        assert "Traceback" not in self.stdout + self.stderr
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        return lines[0]


def gateway_cli(*args: str | Path) -> Run:
    """Run ``gateway ARGS`` in-process through the console-script entry point."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with (
        mock.patch.object(sys, "argv", ["gateway", *map(str, args)]),
        redirect_stdout(out),
        redirect_stderr(err),
    ):
        try:
            gateway.cli.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Run(code, out.getvalue(), err.getvalue())


def originator(draft: Path) -> str:
    party: str = json.loads(draft.read_text("utf-8"))["originator"]["party"]
    return party


@dataclass(frozen=True)
class Workdir:
    root: Path
    bundle: Path

    def party(self, code: str) -> Path:
        return self.root / code.lower()

    def sign(self, draft: Path, party: str) -> Run:
        pki = self.party(party)
        return gateway_cli("sign", draft, "--key", pki / "signing.key", "--cert", pki / "signing.pem")

    def signed_file(self, draft: Path, name: str) -> Path:
        run = self.sign(draft, originator(draft))
        assert run.code == 0, run.stderr
        path = self.root / name
        path.write_text(run.stdout, "ascii")
        return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Workdir:
    """Three parties initialised and bundled with the CLI (not mutated by the tests)."""
    root = tmp_path_factory.mktemp("cli")
    for party in PARTIES:
        run = gateway_cli("pki", "init", "--party", party, "--out", root / party.lower())
        assert run.code == 0, run.stderr
    entries = [root / party.lower() / "bundle-entry.json" for party in PARTIES]
    run = gateway_cli("pki", "bundle", *entries, "--out", root / "trust-bundle.json")
    assert run.code == 0, run.stderr
    return Workdir(root, root / "trust-bundle.json")


# -- pki -------------------------------------------------------------------------


@pytest.mark.parametrize("party", PARTIES)
def test_pki_init_creates_the_party_pki(workdir: Workdir, party: str) -> None:
    pki = workdir.party(party)
    for name in ("ca.pem", "tls.pem", "signing.pem", "crl.pem", "bundle-entry.json"):
        assert (pki / name).is_file()
    for name in ("ca.key", "tls.key", "signing.key"):
        assert stat.S_IMODE((pki / name).stat().st_mode) == 0o600
    assert list(TrustBundle.load(pki / "bundle-entry.json").parties) == [party]


def test_pki_init_reports_what_it_wrote(tmp_path: Path) -> None:
    run = gateway_cli("pki", "init", "--party", "us", "--out", tmp_path / "us", "--host", "us.example")
    assert run.code == 0
    # rich wraps long paths at the console width; the words matter, not the breaks.
    assert f"created the US development PKI in {tmp_path / 'us'}" in run.stdout.replace("\n", "")
    assert "mode 0600" in run.stdout
    assert run.stderr == ""


def test_pki_init_refuses_to_overwrite(workdir: Workdir) -> None:
    before = (workdir.party("PA") / "ca.key").read_bytes()
    run = gateway_cli("pki", "init", "--party", "PA", "--out", workdir.party("PA"))
    assert run.code == 1
    assert "ca.key already exists — choose another --out directory" in run.error_line
    assert (workdir.party("PA") / "ca.key").read_bytes() == before


def test_pki_init_refuses_what_is_not_a_party_code(tmp_path: Path) -> None:
    run = gateway_cli("pki", "init", "--party", "Panama", "--out", tmp_path / "pa")
    assert run.code == 1
    assert "'PANAMA' is not a party code" in run.error_line
    assert not (tmp_path / "pa").exists()


def test_pki_init_makes_a_pki_for_a_party_that_joins_later(tmp_path: Path) -> None:
    # Parties join by configuration (a signed admission), so the PKI tool knows no fixed list.
    run = gateway_cli("pki", "init", "--party", "MX", "--out", tmp_path / "mx")
    assert run.code == 0, run.stderr
    assert TrustBundle.load(tmp_path / "mx" / "bundle-entry.json").parties.keys() == {"MX"}


def test_pki_bundle_merges_the_parties(workdir: Workdir) -> None:
    bundle = TrustBundle.load(workdir.bundle)
    assert sorted(bundle.parties) == ["CO", "PA", "US"]
    for party in PARTIES:
        ca = load_certificates(workdir.party(party) / "ca.pem")[0]
        assert bundle.parties[party].cas == (ca,)


# -- sign and verify -------------------------------------------------------------


@pytest.mark.parametrize("draft", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_sign_then_verify_every_example(workdir: Workdir, draft: Path) -> None:
    party = originator(draft)
    signed = workdir.sign(draft, party)
    assert signed.code == 0, signed.stderr
    jws = signed.stdout.strip()
    assert signed.stdout == jws + "\n"
    assert jws.count(".") == 2

    path = workdir.root / f"{draft.stem}.jws"
    path.write_text(signed.stdout, "ascii")
    verified = gateway_cli("verify", path, "--trust", workdir.bundle)

    assert verified.code == 0, verified.stderr
    assert verified.stdout.startswith(f"valid {draft.stem} ")
    assert f"signer   {party}: " in verified.stdout
    assert "(ES256)" in verified.stdout
    envelope = json.loads(verified.stdout[verified.stdout.index("\n{") :])
    assert envelope["record_type"] == draft.stem
    assert envelope["originator"]["party"] == party


def test_verify_tampered_file_names_the_signature_step(workdir: Workdir) -> None:
    path = workdir.signed_file(EXAMPLES[0], "tampered.jws")
    header, payload, signature = path.read_text("ascii").strip().split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    path.write_text(f"{header}.{payload}.{flipped}\n", "ascii")

    run = gateway_cli("verify", path, "--trust", workdir.bundle)

    assert run.code == 1
    assert "verification failed at step 7-signature" in run.error_line
    assert run.stdout == ""


def test_verify_before_the_certificate_validity(workdir: Workdir) -> None:
    path = workdir.signed_file(EXAMPLES[0], "early.jws")
    run = gateway_cli("verify", path, "--trust", workdir.bundle, "--at", "2020-01-01T00:00:00Z")
    assert run.code == 1
    assert "verification failed at step 4-certificate-validity" in run.error_line
    assert "is not valid before" in run.error_line


def test_verify_with_a_bundle_that_lacks_the_signer(workdir: Workdir, tmp_path: Path) -> None:
    draft = next(p for p in EXAMPLES if originator(p) == "PA")
    path = workdir.signed_file(draft, "pa-signed.jws")
    only_us = tmp_path / "us-only.json"
    run = gateway_cli("pki", "bundle", workdir.party("US") / "bundle-entry.json", "--out", only_us)
    assert run.code == 0
    run = gateway_cli("verify", path, "--trust", only_us)
    assert run.code == 1
    assert "step 3-certificate-chain" in run.error_line


def test_verify_record_signed_by_another_party(workdir: Workdir) -> None:
    draft = next(p for p in EXAMPLES if originator(p) == "PA")
    signed = workdir.sign(draft, "CO")  # sign does not check who the originator is
    assert signed.code == 0
    path = workdir.root / "co-signed-pa-record.jws"
    path.write_text(signed.stdout, "ascii")
    run = gateway_cli("verify", path, "--trust", workdir.bundle)
    assert run.code == 1
    assert "step 9-originator-party" in run.error_line
    assert "claims party 'PA'" in run.error_line


def test_verify_an_invalid_time(workdir: Workdir) -> None:
    path = workdir.signed_file(EXAMPLES[0], "time.jws")
    run = gateway_cli("verify", path, "--trust", workdir.bundle, "--at", "yesterday")
    assert run.code == 2
    assert "Traceback" not in run.stderr
    assert "'yesterday' is not an RFC 3339 time" in run.stderr


def test_verify_without_arguments_is_a_usage_error() -> None:
    run = gateway_cli("verify")
    assert run.code == 2
    assert "Traceback" not in run.stderr
    assert "Missing" in run.stderr


def test_verify_a_file_that_is_not_a_jws(workdir: Workdir, tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text(EXAMPLES[0].read_text("utf-8"), "utf-8")
    run = gateway_cli("verify", path, "--trust", workdir.bundle)
    assert run.code == 1
    assert "step 1-header-parse" in run.error_line


def test_sign_an_invalid_draft(workdir: Workdir, tmp_path: Path) -> None:
    draft = tmp_path / "draft.json"
    document = json.loads(EXAMPLES[0].read_text("utf-8"))
    document["body"]["home_address"] = "not in the schema"
    draft.write_text(json.dumps(document), "utf-8")

    run = workdir.sign(draft, originator(EXAMPLES[0]))

    assert run.code == 1
    line = run.error_line
    assert f"{draft} is not a valid record" in line
    assert "home_address: Extra inputs are not permitted" in line
    assert run.stdout == ""


def test_sign_a_draft_that_is_not_json(workdir: Workdir, tmp_path: Path) -> None:
    draft = tmp_path / "draft.json"
    draft.write_text('{"record_type": "acknowledgement",', "utf-8")
    run = workdir.sign(draft, "CO")
    assert run.code == 1
    assert "Invalid input" in run.error_line
    assert "invalid JSON" in run.error_line


def test_sign_a_draft_with_duplicate_keys(workdir: Workdir, tmp_path: Path) -> None:
    draft = tmp_path / "draft.json"
    draft.write_text('{"handling": "H3", "handling": "H0"}', "utf-8")
    run = workdir.sign(draft, "CO")
    assert run.code == 1
    assert "duplicate key 'handling'" in run.error_line


def test_sign_with_a_certificate_of_another_key(workdir: Workdir) -> None:
    run = gateway_cli(
        "sign", EXAMPLES[0],
        "--key", workdir.party("PA") / "signing.key",
        "--cert", workdir.party("CO") / "signing.pem",
    )  # fmt: skip
    assert run.code == 1
    assert "does not belong to the private key" in run.error_line


# -- lifecycle -------------------------------------------------------------------


def test_revoked_signing_certificate(tmp_path: Path) -> None:
    pa = tmp_path / "pa"
    bundle = tmp_path / "bundle.json"
    assert gateway_cli("pki", "init", "--party", "PA", "--out", pa).code == 0
    assert gateway_cli("pki", "bundle", pa / "bundle-entry.json", "--out", bundle).code == 0
    draft = next(p for p in EXAMPLES if originator(p) == "PA")
    signed = gateway_cli("sign", draft, "--key", pa / "signing.key", "--cert", pa / "signing.pem")
    jws = tmp_path / "record.jws"
    jws.write_text(signed.stdout, "ascii")
    assert gateway_cli("verify", jws, "--trust", bundle).code == 0

    revoked = gateway_cli("pki", "revoke", "--ca-dir", pa, pa / "signing.pem")
    assert revoked.code == 0
    assert "CRL now lists 1 revoked certificate(s)" in revoked.stdout
    assert gateway_cli("pki", "bundle", pa / "bundle-entry.json", "--out", bundle).code == 0

    run = gateway_cli("verify", jws, "--trust", bundle)
    assert run.code == 1
    assert "step 5-revocation" in run.error_line


def test_ed25519_party(tmp_path: Path) -> None:
    co = tmp_path / "co"
    assert gateway_cli("pki", "init", "--party", "CO", "--out", co, "--ed25519").code == 0
    draft = next(p for p in EXAMPLES if originator(p) == "CO")
    signed = gateway_cli("sign", draft, "--key", co / "signing.key", "--cert", co / "signing.pem")
    jws = tmp_path / "record.jws"
    jws.write_text(signed.stdout, "ascii")
    run = gateway_cli("verify", jws, "--trust", co / "bundle-entry.json")
    assert run.code == 0, run.stderr
    assert "(Ed25519)" in run.stdout


# -- the installed console script ------------------------------------------------


def test_console_script_exit_codes(workdir: Workdir) -> None:
    good = workdir.signed_file(EXAMPLES[0], "script.jws")
    header, payload, signature = good.read_text("ascii").strip().split(".")
    bad = workdir.root / "script-tampered.jws"
    bad.write_text(f"{header}.{payload}.{signature[::-1]}\n", "ascii")

    ok = subprocess.run(
        [CONSOLE_SCRIPT, "verify", good, "--trust", workdir.bundle],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    failed = subprocess.run(
        [CONSOLE_SCRIPT, "verify", bad, "--trust", workdir.bundle],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"valid {EXAMPLES[0].stem} ")
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert "step 7-signature" in failed.stderr
