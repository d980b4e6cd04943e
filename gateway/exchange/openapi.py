"""The OpenAPI document of the partner listener, for partners that build their own side.

The partner listener serves no OpenAPI document itself (it answers partners
only); the agency listener serves this one at ``/openapi-partner.json`` and
``gateway schemas export`` writes it to ``schemas/openapi-partner.json``. The
routes come from the partner routers; what FastAPI cannot see (problem answers
raised by the shared edge, the replay status, media types, mutual TLS) is
declared here from docs/protocol.md, which a test keeps in step with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from gateway import __version__
from gateway.problems import Problem

JOSE: Final = "application/jose"
PROBLEM: Final = "application/problem+json"
FILE_NAME: Final = "openapi-partner.json"

# (method, path) → success statuses and problem statuses, as docs/protocol.md section 3 lists them.
RESPONSES: Final[dict[tuple[str, str], tuple[dict[int, str], tuple[int, ...]]]] = {
    ("post", "/v1/exchange/records"): (
        {201: "signed receipt (accepted or rejected)", 200: "the same receipt again: a replay of the same bytes"},
        (403, 409, 413, 415, 422, 429),
    ),
    ("post", "/v1/exchange/records:batch"): ({200: "one result per item, in item order"}, (400, 403, 413, 415, 429)),
    ("post", "/v1/exchange/records:onward"): (
        {201: "signed receipt (accepted or rejected)", 200: "the same receipt again: a replay of the same bytes"},
        (400, 403, 409, 413, 415, 422, 429),
    ),
    ("get", "/v1/exchange/checkpoint"): ({200: "the newest signed checkpoint"}, (403, 404, 429)),
    ("get", "/v1/exchange/proofs/inclusion"): ({200: "RFC 9162 inclusion proof"}, (400, 403, 429)),
    ("get", "/v1/exchange/proofs/consistency"): ({200: "RFC 9162 consistency proof"}, (400, 403, 429)),
    ("get", "/v1/exchange/trust-update"): ({200: "this party's trust-bundle entry, signed"}, (403, 429)),
    ("get", "/v1/exchange/terms"): ({200: "the terms versions this node holds"}, (403, 429)),
}

_JOSE_BODIES: Final = {
    ("post", "/v1/exchange/records"): "one record, compact JWS (typ mou-record+jws)",
}
_JSON_BODIES: Final[dict[tuple[str, str], dict[str, Any]]] = {
    ("post", "/v1/exchange/records:batch"): {
        "type": "object",
        "required": ["records"],
        "additionalProperties": False,
        "properties": {"records": {"type": "array", "maxItems": 500, "items": {"type": "string"}}},
    },
    ("post", "/v1/exchange/records:onward"): {
        "type": "object",
        "required": ["record", "consent"],
        "additionalProperties": False,
        "properties": {"record": {"type": "string"}, "consent": {"type": "string"}},
    },
}
_BATCH_RESULTS: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["results"],
    "properties": {
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "status"],
                "properties": {
                    "index": {"type": "integer", "minimum": 0},
                    "status": {"type": "integer", "enum": [200, 201, 409, 413, 422]},
                    "verdict": {"type": "string", "enum": ["accepted", "rejected"]},
                    "receipt": {"type": "string", "description": "receipt, compact JWS (typ mou-receipt+jws)"},
                    "problem": {
                        "type": "object",
                        "properties": {
                            "type": {"type": "string"},
                            "title": {"type": "string"},
                            "detail": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}
_JOSE_ANSWERS: Final = {
    ("post", "/v1/exchange/records"),
    ("post", "/v1/exchange/records:onward"),
    ("get", "/v1/exchange/checkpoint"),
    ("get", "/v1/exchange/trust-update"),
}


def partner_routes() -> list[APIRoute]:
    """The routes of the partner listener (the routers create_partner_app includes)."""
    from gateway.exchange.api import router as exchange_router
    from gateway.exchange.trust_api import router as trust_router
    from gateway.ledger.api import router as ledger_router
    from gateway.terms.api import router as terms_router

    routers = (exchange_router, terms_router, trust_router, ledger_router)
    return [route for router in routers for route in router.routes if isinstance(route, APIRoute)]


def _responses(method: str, path: str, generated: dict[str, Any]) -> dict[str, Any]:
    successes, problems = RESPONSES[(method, path)]
    answers: dict[str, Any] = {}
    for status, description in successes.items():
        if (method, path) in _JOSE_ANSWERS:
            content: dict[str, Any] = {JOSE: {"schema": {"type": "string"}}}
        elif path.endswith(":batch"):
            content = {"application/json": {"schema": _BATCH_RESULTS}}
        else:
            content = generated.get("200", {}).get("content") or {"application/json": {"schema": {}}}
        answers[str(status)] = {"description": description, "content": content}
    for status in problems:
        answers[str(status)] = {
            "description": "Problem details (RFC 9457)",
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return answers


def partner_openapi() -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of the partner listener."""
    document = get_openapi(
        title="MOU Gateway — partner exchange API",
        version=__version__,
        description="The partner listener of the MOU partner protocol, version 1 (docs/protocol.md). "
        "Every operation requires mutual TLS with a client certificate issued by a partner CA.",
        routes=partner_routes(),
    )
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if (method, path) not in RESPONSES:
                raise ValueError(f"{method.upper()} {path} is not described in docs/protocol.md section 3")
            operation["responses"] = _responses(method, path, operation.get("responses", {}))
            operation["security"] = [{"partnerCertificate": []}]
            if (method, path) in _JOSE_BODIES:
                schema = {"type": "string", "description": _JOSE_BODIES[(method, path)]}
                operation["requestBody"] = {"required": True, "content": {JOSE: {"schema": schema}}}
            elif (method, path) in _JSON_BODIES:
                json_schema = _JSON_BODIES[(method, path)]
                operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": json_schema}}}
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422, replaced by problem answers
        schemas.pop(unused, None)
    schemas["Problem"] = Problem.model_json_schema()
    components["securitySchemes"] = {
        "partnerCertificate": {
            "type": "mutualTLS",
            "description": "A TLS client certificate (clientAuth) issued by a partner CA of the trust bundle.",
        }
    }
    return document


def partner_openapi_text() -> str:
    """The document as committed in ``schemas/`` (sorted keys, two-space indent, final newline)."""
    return json.dumps(partner_openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_partner_openapi(out: Path) -> Path:
    """Write the document to ``out/openapi-partner.json``; returns its path."""
    path = out / FILE_NAME
    path.write_text(partner_openapi_text(), "utf-8")
    return path
