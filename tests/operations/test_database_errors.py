"""A database that fails mid-request is a 503 problem the client can retry, never a 500 or a leak."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from gateway.app import create_agency_app
from gateway.errors import PROBLEM_BASE
from gateway.node import build_node
from gateway.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI

SECRET = "Quintero Salcedo"  # stands for record contents a driver error may quote


def assert_retryable_problem(response: object) -> dict[str, object]:
    assert getattr(response, "status_code", None) == 503, getattr(response, "text", "")
    headers = response.headers
    assert headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert headers["retry-after"] == "2"
    problem: dict[str, object] = response.json()
    assert problem["type"] == PROBLEM_BASE + "database-unavailable"
    assert problem["status"] == 503
    return problem


def test_operational_error_is_503_and_neither_answer_nor_log_quotes_the_statement(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise OperationalError(
            "INSERT INTO records (family_names) VALUES (%(name)s)", {"name": SECRET}, ConnectionError("server closed")
        )

    with caplog.at_level(logging.WARNING), TestClient(app) as client:
        response = client.get("/boom")

    problem = assert_retryable_problem(response)
    assert SECRET not in response.text
    assert "INSERT" not in response.text
    assert "retry" in str(problem["detail"])
    assert "ConnectionError" in caplog.text
    assert SECRET not in caplog.text
    assert "INSERT" not in caplog.text


def test_agency_api_with_its_database_down_answers_503(pki: TestPKI, tmp_path: Path) -> None:
    # Nothing listens on port 1: every connection attempt is refused at once.
    node = build_node(node_settings(pki, "PA", "postgresql+psycopg://postgres@127.0.0.1:1/absent", tmp_path, {}))
    try:
        with TestClient(create_agency_app(node), base_url="https://testserver") as client:
            response = client.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=("some-client", "some-secret")
            )
        assert_retryable_problem(response)
    finally:
        node.close()
