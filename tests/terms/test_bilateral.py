"""Two parties only: `gateway terms new --parties PA,CO` and the example drafts between two real nodes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from gateway.cli import app
from gateway.server import bind
from gateway.terms.document import EXAMPLE_TERMS, load_terms
from tests.support.databases import DatabaseFactory
from tests.support.exchange import agency_client, start_node, stop_node
from tests.support.nodes import wait_for
from tests.support.pki import TestPKI

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"


def cli(*args: str | Path) -> Any:
    return CliRunner(env={"COLUMNS": "250"}).invoke(app, [str(a) for a in args])


def two_party_draft(name: str, recipients: list[str]) -> dict[str, Any]:
    """The example draft as deploy/README.md adapts it for a two-party setup."""
    draft: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text("utf-8"))
    draft["recipients"] = recipients
    draft.pop("terms", None)  # the node fills in the terms in force
    return draft


def signed_pa_co_terms(pki: TestPKI, out: Path) -> Path:
    made = cli("terms", "new", "--parties", "PA,CO", "--out", out)
    assert made.exit_code == 0, made.output
    for party in ("PA", "CO"):
        files = pki.parties[party]
        signed = cli(
            "terms", "sign", out, "--party", party, "--key", files.signing_key, "--cert", files.signing_cert,
            "--trust", pki.bundle_path,
        )  # fmt: skip
        assert signed.exit_code == 0, signed.output
    return out


def test_terms_new_keeps_only_the_two_parties(pki: TestPKI, tmp_path: Path) -> None:
    out = tmp_path / "pa-co.yaml"
    made = cli("terms", "new", "--parties", "pa, co", "--out", out)
    assert made.exit_code == 0, made.output
    terms = load_terms(out)
    shipped = load_terms(EXAMPLE_TERMS)
    assert terms.party_codes() == ["PA", "CO"]
    assert terms.terms_id.startswith("pa-co-mou-")
    assert terms.terms_id != shipped.terms_id
    assert terms.version == 1
    assert terms.signatures == []
    assert {f.id for f in terms.flows} == {
        "pa-removal-notices", "pa-flags-to-co", "co-flags", "co-acknowledgements",
        "pa-acknowledgements", "pa-lifecycle", "co-lifecycle",
    }  # fmt: skip
    for flow in terms.flows:
        assert {flow.from_party, *flow.to} <= {"PA", "CO"}
    assert terms.retention == shipped.retention
    assert out.read_text("utf-8").startswith("# Starting terms for PA, CO, written by `gateway terms new`")
    assert yaml.safe_load(out.read_text("utf-8"))["terms_id"] == terms.terms_id
    unsigned = cli("terms", "check", out, "--trust", pki.bundle_path)
    assert unsigned.exit_code == 1
    assert "no flow is live" in unsigned.stderr

    signed_pa_co_terms(pki, tmp_path / "signed.yaml")
    assert cli("terms", "check", tmp_path / "signed.yaml", "--trust", pki.bundle_path).exit_code == 0


@pytest.mark.parametrize(
    ("parties", "line"),
    [
        ("PA,MX", "error: Terms file invalid: MX not a party of pa-co-us-removal-mou (its parties: PA, CO, US)"),
        ("PA", "error: Terms file invalid: terms need at least two parties"),
    ],
)
def test_terms_new_refuses_bad_parties(parties: str, line: str, tmp_path: Path) -> None:
    result = cli("terms", "new", "--parties", parties, "--out", tmp_path / "t.yaml")
    assert result.exit_code == 1
    assert isinstance(result.exception, Exception)
    assert str(result.exception.cli_message()).startswith(line.removeprefix("error: "))  # type: ignore[attr-defined]
    assert not (tmp_path / "t.yaml").exists()


def test_terms_new_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "t.yaml"
    out.write_text("keep me\n", "utf-8")
    result = cli("terms", "new", "--parties", "PA,CO", "--out", out)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {out} exists — give another --out (terms files are never overwritten)"
    assert out.read_text("utf-8") == "keep me\n"


@pytest.mark.timeout(120)
def test_example_drafts_between_two_nodes(pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> None:
    terms = signed_pa_co_terms(pki, tmp_path / "pa-co.yaml")
    co_socket = bind("127.0.0.1", 0)
    co_url = f"https://127.0.0.1:{co_socket.getsockname()[1]}"
    co = start_node(pki, "CO", database_factory.fresh_url(), tmp_path, partner_socket=co_socket, terms_files=[terms])
    pa = start_node(
        pki, "PA", database_factory.fresh_url(), tmp_path, partners={"CO": co_url}, run_worker=True,
        terms_files=[terms],
    )  # fmt: skip
    try:
        with agency_client(pa) as client:
            ids = []
            for name in ("removal_manifest", "removal_confirmation", "criminal_network_flag"):
                answer = client.post("/v1/records", json=two_party_draft(name, ["CO"]))
                assert answer.status_code == 202, answer.text
                ids.append(answer.json()["record_id"])
            to_us = client.post("/v1/records", json=two_party_draft("removal_manifest", ["CO", "US"]))
            assert to_us.status_code == 422, to_us.text  # US is no party to these terms

            def delivered() -> bool:
                states = [client.get(f"/v1/records/{i}").json()["deliveries"] for i in ids]
                return all(d and d[0]["status"] == "delivered" for d in states)

            wait_for(delivered, timeout=60)
            record = client.get(f"/v1/records/{ids[0]}").json()
            assert record["deliveries"][0]["recipient"] == "CO"
            assert record["deliveries"][0]["receipt"]["verdict"] == "accepted"
    finally:
        stop_node(pa)
        stop_node(co)
