"""The terms document: its digest, the parties' detached signatures and ``gateway terms show|check|sign``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from gateway.cli import app
from gateway.terms.document import (
    EXAMPLE_TERMS,
    check_signatures,
    load_terms,
    parse_terms,
    sign_terms,
    terms_digest,
)
from gateway.terms.errors import TermsFileError, TermsSignatureError, TermsViolationError
from gateway.terms.registry import TermsRegistry
from tests.support import mou_terms
from tests.support.mou_terms import PARTIES, example_document, expiring, flow_entry, write_terms
from tests.support.pki import TestPKI

REPO = Path(__file__).resolve().parents[2]
TERMS_SCHEMA = REPO / "schemas" / "terms.schema.json"
EXAMPLE_DRAFTS = sorted((REPO / "schemas" / "examples").glob("*.json"))
CONSOLE_SCRIPT = Path(sys.executable).parent / "gateway"
FLOW_IDS = [f["id"] for f in example_document()["flows"]]


def cli(*args: str | Path) -> Any:
    """Run ``gateway ARGS`` in-process, wide enough that rich never folds a flow id."""
    return CliRunner(env={"COLUMNS": "250"}).invoke(app, [str(a) for a in args])


def check_cli(path: Path, pki: TestPKI, *extra: str) -> Any:
    return cli("terms", "check", path, "--trust", pki.bundle_path, *extra)


def json_document(path: Path) -> dict[str, Any]:
    """The YAML terms file as the JSON a schema validator sees (dates as strings)."""
    document: dict[str, Any] = json.loads(json.dumps(yaml.safe_load(path.read_text("utf-8")), default=str))
    return document


# -- the digest ------------------------------------------------------------


def test_example_drafts_name_the_example_terms_by_their_digest() -> None:
    terms = load_terms(EXAMPLE_TERMS)
    digest = terms_digest(terms)
    assert len(digest) == 64
    for path in EXAMPLE_DRAFTS:
        ref = json.loads(path.read_text("utf-8"))["terms"]
        assert ref == {"id": terms.terms_id, "version": terms.version, "sha256": digest}, path.name


@pytest.mark.parametrize(
    "style",
    [
        pytest.param({"default_flow_style": True, "sort_keys": True, "width": 60}, id="flow-style-sorted"),
        pytest.param({"default_flow_style": False, "sort_keys": True, "indent": 4}, id="block-indent-4"),
        pytest.param("json", id="as-json"),
    ],
)
def test_digest_is_stable_across_reformatting(style: Any, tmp_path: Path) -> None:
    document = example_document()
    out = tmp_path / "reformatted.yaml"
    if style == "json":
        out.write_text(json.dumps(document, default=str, indent=1), "utf-8")  # JSON is YAML
    else:
        out.write_text(yaml.safe_dump(document, allow_unicode=False, **style), "utf-8")
    assert out.read_text("utf-8") != EXAMPLE_TERMS.read_text("utf-8")
    assert terms_digest(load_terms(out)) == terms_digest(load_terms(EXAMPLE_TERMS))


def test_stating_a_default_explicitly_is_not_a_change_of_content() -> None:
    document = example_document()
    flow_entry(document, "co-acknowledgements").update({"outside_fields": "refuse", "minimum_handling": "H0"})
    assert terms_digest(parse_terms(document)) == terms_digest(load_terms(EXAMPLE_TERMS))


EDITS: dict[str, Any] = {
    "title": lambda d: d.update(title=d["title"] + "."),
    "version": lambda d: d.update(version=2),
    "expiry": lambda d: d.update(expires_on=date(2028, 6, 29)),
    "flow-offences": lambda d: flow_entry(d, "co-flags")["offence_categories"].remove("environmental_crime"),
    "flow-recipient": lambda d: flow_entry(d, "pa-flags-to-us").update(to=["US", "CO"]),
    "field-list": lambda d: flow_entry(d, "pa-flags-to-us")["fields"].append("body.subject.travel_document"),
    "outside-mode": lambda d: flow_entry(d, "pa-flags-to-us").update(outside_fields="refuse"),
    "retention": lambda d: d["retention"][0].update(days=366),
    "minor-age": lambda d: d["prohibitions"].update(minimum_flag_subject_age=21),
    "authority": lambda d: d["parties"][0].update(authority="Otra autoridad"),
}


def test_any_change_of_content_changes_the_digest() -> None:
    base = terms_digest(load_terms(EXAMPLE_TERMS))
    digests = {}
    for name, edit in EDITS.items():
        document = example_document()
        edit(document)
        digests[name] = terms_digest(parse_terms(document))
    assert base not in digests.values()
    assert len(set(digests.values())) == len(EDITS)  # every edit its own digest


def test_signatures_are_not_part_of_the_digest(pki: TestPKI) -> None:
    assert terms_digest(load_terms(pki.terms_path)) == terms_digest(load_terms(EXAMPLE_TERMS))
    assert [s.party for s in load_terms(pki.terms_path).signatures] == ["CO", "PA", "US"]


# -- signatures ------------------------------------------------------------


@pytest.mark.parametrize("party", PARTIES)
def test_each_party_signs_and_its_signature_verifies(party: str, pki: TestPKI) -> None:
    signed = sign_terms(load_terms(EXAMPLE_TERMS), party, pki.signing_key(party))
    assert [s.party for s in signed.signatures] == [party]
    checks = check_signatures(signed, pki.bundle(), datetime.now(UTC))
    assert {p: (c.valid, c.detail) for p, c in checks.items()} == {
        p: (True, "valid") if p == party else (False, "not signed") for p in PARTIES
    }


def test_signing_again_replaces_the_partys_signature(pki: TestPKI) -> None:
    once = sign_terms(load_terms(EXAMPLE_TERMS), "PA", pki.signing_key("PA"))
    twice = sign_terms(once, "PA", pki.signing_key("PA"))
    assert [s.party for s in twice.signatures] == ["PA"]
    assert check_signatures(twice, pki.bundle(), datetime.now(UTC))["PA"].valid


def test_a_party_cannot_sign_in_anothers_name(pki: TestPKI) -> None:
    forged = sign_terms(load_terms(EXAMPLE_TERMS), "CO", pki.signing_key("PA"))
    check = check_signatures(forged, pki.bundle(), datetime.now(UTC))["CO"]
    assert check.valid is False
    assert check.detail.startswith("party_mismatch:")


def test_a_signature_does_not_carry_over_to_another_version(pki: TestPKI) -> None:
    v1 = sign_terms(load_terms(EXAMPLE_TERMS), "PA", pki.signing_key("PA"))
    document = example_document()
    document["version"] = 2
    v2 = parse_terms(document).model_copy(update={"signatures": v1.signatures})
    check = check_signatures(v2, pki.bundle(), datetime.now(UTC))["PA"]
    assert check.valid is False
    assert check.detail.startswith("bad_signature:")


def test_only_a_party_to_the_terms_may_sign(pki: TestPKI) -> None:
    document = example_document()
    document["parties"] = [p for p in document["parties"] if p["code"] != "US"]
    document["flows"] = [f for f in document["flows"] if "US" not in (f["from"], *f["to"])]
    terms = parse_terms(document)
    with pytest.raises(TermsSignatureError, match="US is not a party to pa-co-us-removal-mou"):
        sign_terms(terms, "US", pki.signing_key("US"))


def test_terms_edited_after_signing_invalidate_every_signature(pki: TestPKI, tmp_path: Path) -> None:
    edited = tmp_path / "edited.yaml"
    text = pki.terms_path.read_text("utf-8")
    assert "minimum_flag_subject_age: 18" in text
    edited.write_text(text.replace("minimum_flag_subject_age: 18", "minimum_flag_subject_age: 16"), "utf-8")

    checks = check_signatures(load_terms(edited), pki.bundle(), datetime.now(UTC))
    assert {p: c.valid for p, c in checks.items()} == dict.fromkeys(PARTIES, False)
    assert all(c.detail.startswith("bad_signature:") for c in checks.values())

    # a node holding the edited file has no live flow at all
    registry = TermsRegistry.load([edited], pki.bundle(), datetime.now(UTC))
    with pytest.raises(TermsViolationError, match="no valid signature of PA, CO") as refused:
        registry.prepare_outgoing(mou_terms.draft("criminal_network_flag", "PA", ["CO"]), mou_terms.now())
    assert refused.value.rule_code == "flow_not_signed"

    result = check_cli(edited, pki)
    assert result.exit_code == 1
    assert "invalid signature of CO, PA, US (edited after signing?)" in result.stderr
    assert "no flow is live" in result.stderr


def test_tampered_terms_fail_the_installed_check_command(pki: TestPKI, tmp_path: Path) -> None:
    edited = tmp_path / "edited.yaml"
    text = pki.terms_path.read_text("utf-8")
    edited.write_text(text.replace("days: 365", "days: 3650", 1), "utf-8")
    assert edited.read_text("utf-8") != text
    done = subprocess.run(
        [str(CONSOLE_SCRIPT), "terms", "check", str(edited), "--trust", str(pki.bundle_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "invalid signature of CO, PA, US" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_a_missing_signature_leaves_that_partys_flows_not_live(pki: TestPKI, tmp_path: Path) -> None:
    path = write_terms(pki, tmp_path / "pa-co-only.yaml", signers=("PA", "CO"))
    registry = TermsRegistry.load([path], pki.bundle(), datetime.now(UTC))
    (version,) = registry.versions
    live = {f.id for f in version.terms.flows if version.flow_live(f)}
    assert live == {"pa-flags-to-co"}  # the only flow between PA and CO alone

    assert registry.prepare_outgoing(mou_terms.draft("criminal_network_flag", "PA", ["CO"]), mou_terms.now())
    with pytest.raises(TermsViolationError, match=r"flow pa-flags-to-us .* no valid signature of US") as refused:
        registry.prepare_outgoing(mou_terms.draft("criminal_network_flag", "PA", ["US"]), mou_terms.now())
    assert refused.value.rule_code == "flow_not_signed"

    result = check_cli(path, pki)
    assert result.exit_code == 0, result.stderr
    assert re.search(r"^US\s+no\s+not signed$", result.stdout, re.MULTILINE), result.stdout
    assert f"ok: 1 of {len(FLOW_IDS)} flows live" in result.stderr


def test_check_refuses_terms_no_flow_of_which_is_live(pki: TestPKI, tmp_path: Path) -> None:
    path = write_terms(pki, tmp_path / "pa-only.yaml", signers=("PA",))
    result = check_cli(path, pki)
    assert result.exit_code == 1
    assert "no flow is live: every party to a flow must sign this exact version" in result.stderr


def test_check_refuses_expired_terms(pki: TestPKI, tmp_path: Path) -> None:
    path = write_terms(pki, tmp_path / "expired.yaml", edit=expiring(date(2025, 6, 30)))
    result = check_cli(path, pki)
    assert result.exit_code == 1
    assert f"not in force on {datetime.now(UTC).date()} (in force 2024-07-01 … 2025-06-30)" in result.stderr


def test_check_at_a_moment_after_expiry(pki: TestPKI, tmp_path: Path) -> None:
    ends = datetime.now(UTC).date() + timedelta(days=30)
    path = write_terms(pki, tmp_path / "short.yaml", edit=expiring(ends))
    assert check_cli(path, pki).exit_code == 0
    on_last_day = check_cli(path, pki, "--at", f"{ends.isoformat()}T23:00:00Z")
    assert on_last_day.exit_code == 0, on_last_day.stderr  # expires_on is the last day in force
    after = check_cli(path, pki, "--at", f"{(ends + timedelta(days=1)).isoformat()}T00:00:00Z")
    assert after.exit_code == 1
    assert f"not in force on {ends + timedelta(days=1)}" in after.stderr


def test_check_of_the_signed_example_lists_every_flow_live(pki: TestPKI) -> None:
    result = check_cli(pki.terms_path, pki)
    assert result.exit_code == 0, result.stderr
    for party in PARTIES:
        assert re.search(rf"^{party}\s+yes\s+valid", result.stdout, re.MULTILINE), result.stdout
    for flow_id in FLOW_IDS:
        assert re.search(rf"^{flow_id}\s.*\syes$", result.stdout, re.MULTILINE), result.stdout
    assert f"ok: {len(FLOW_IDS)} of {len(FLOW_IDS)} flows live" in result.stderr


# -- show and sign through the command line -----------------------------------


def test_show_prints_the_flows(pki: TestPKI) -> None:
    result = cli("terms", "show", EXAMPLE_TERMS)
    assert result.exit_code == 0, result.stderr
    assert "pa-co-us-removal-mou v1" in result.stdout
    assert terms_digest(load_terms(EXAMPLE_TERMS)) in result.stdout
    for flow_id in FLOW_IDS:
        assert flow_id in result.stdout
    assert "PA → CO, US" in result.stdout
    assert "18 listed (strip others)" in result.stdout  # pa-flags-to-us field list
    assert "no flag about a person under 18" in result.stdout
    assert "signed by: nobody yet" in result.stdout

    signed = cli("terms", "show", pki.terms_path)
    assert signed.exit_code == 0, signed.stderr
    assert "signed by: CO, PA, US" in signed.stdout


def test_sign_then_check_round_trip(pki: TestPKI, tmp_path: Path) -> None:
    work = tmp_path / "pa-co-us.yaml"
    shutil.copyfile(EXAMPLE_TERMS, work)
    signed = tmp_path / "signed.yaml"

    for i, party in enumerate(PARTIES):
        files = pki.parties[party]
        source = work if i == 0 else signed
        result = cli(
            "terms",
            "sign",
            source,
            "--party",
            party.lower(),
            "--key",
            files.signing_key,
            "--cert",
            files.signing_cert,
            "--out",
            signed,
            "--trust",
            pki.bundle_path,
        )
        assert result.exit_code == 0, result.stderr
        assert f"{party} signed pa-co-us-removal-mou v1" in result.stdout
        if i == 0:
            only_pa = check_cli(signed, pki)
            assert only_pa.exit_code == 1
            assert "no flow is live" in only_pa.stderr

    assert work.read_text("utf-8") == EXAMPLE_TERMS.read_text("utf-8")  # --out left the source alone
    assert signed.read_text("utf-8").startswith("# Data-sharing terms of the memorandum")  # header kept
    # Every comment of the source stays where it was: only the signatures block changed.
    source_lines = EXAMPLE_TERMS.read_text("utf-8").splitlines()
    signed_lines = signed.read_text("utf-8").splitlines()
    cut = source_lines.index("signatures: []")
    assert signed_lines[:cut] == source_lines[:cut]
    assert [line for line in source_lines if line.lstrip().startswith("#")] == [
        line for line in signed_lines if line.lstrip().startswith("#")
    ]
    terms = load_terms(signed)
    assert [s.party for s in terms.signatures] == ["CO", "PA", "US"]
    assert terms_digest(terms) == terms_digest(load_terms(EXAMPLE_TERMS))
    result = check_cli(signed, pki)
    assert result.exit_code == 0, result.stderr
    assert f"ok: {len(FLOW_IDS)} of {len(FLOW_IDS)} flows live" in result.stderr


# -- the exported JSON Schema -----------------------------------------------


@pytest.mark.parametrize("which", ["example", "signed"])
def test_terms_schema_validates_the_example_terms(which: str, pki: TestPKI) -> None:
    schema = json.loads(TERMS_SCHEMA.read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    path = EXAMPLE_TERMS if which == "example" else pki.terms_path
    jsonschema.Draft202012Validator(schema).validate(json_document(path))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(onward_sharing_allowed=True), "Additional properties are not allowed"),
        (lambda d: flow_entry(d, "co-flags").update(outside_fields="ignore"), "'ignore' is not one of"),
        (lambda d: flow_entry(d, "co-flags").update(to="PA"), "is not of type 'array'"),
        (lambda d: flow_entry(d, "co-flags").update(fields=["subject.nationality"]), "is not valid under any"),
    ],
    ids=["unknown-key", "outside-fields-mode", "to-not-a-list", "field-path-outside-body"],
)
def test_terms_schema_refuses_what_the_model_refuses(edit: Any, message: str) -> None:
    schema = json.loads(TERMS_SCHEMA.read_text("utf-8"))
    document = json.loads(json.dumps(example_document(), default=str))
    edit(document)
    with pytest.raises(jsonschema.ValidationError, match=message):
        jsonschema.Draft202012Validator(schema).validate(document)
    with pytest.raises(TermsFileError):
        parse_terms(document)


@pytest.mark.parametrize(
    ("signer", "kind", "reason"),
    [
        ("CO", "signing", "party_mismatch"),  # another party's record-signing key
        ("PA", "tls", "key_purpose"),  # this party's TLS key
    ],
)
def test_sign_refuses_what_check_would_refuse_before_writing(
    signer: str, kind: str, reason: str, pki: TestPKI, tmp_path: Path
) -> None:
    work = tmp_path / "terms.yaml"
    shutil.copyfile(EXAMPLE_TERMS, work)
    files = pki.parties[signer]
    key, cert = (files.signing_key, files.signing_cert) if kind == "signing" else (files.tls_key, files.tls_cert)
    result = cli("terms", "sign", work, "--party", "PA", "--key", key, "--cert", cert, "--trust", pki.bundle_path)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: PA's signature with {cert} would be refused: {reason}: ")
    assert lines[0].endswith(" — sign with PA's record-signing key and certificate; nothing was written")
    assert work.read_text("utf-8") == EXAMPLE_TERMS.read_text("utf-8")


def test_sign_without_a_trust_bundle_writes_nothing(pki: TestPKI, tmp_path: Path) -> None:
    work = tmp_path / "terms.yaml"
    shutil.copyfile(EXAMPLE_TERMS, work)
    files = pki.parties["PA"]
    result = cli("terms", "sign", work, "--party", "PA", "--key", files.signing_key, "--cert", files.signing_cert)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: terms sign needs a trust bundle to check the new signature as `terms check` would "
        "— give --trust BUNDLE or --config FILE"
    )
    assert work.read_text("utf-8") == EXAMPLE_TERMS.read_text("utf-8")
