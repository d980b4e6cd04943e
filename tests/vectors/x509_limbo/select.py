"""Select the x509-limbo testcases that apply to the node's path validation.

Reads C2SP x509-limbo's ``limbo.json`` and writes a gzip'd JSON document with
the applicable testcases (``selected``), every other testcase id with the
reason it does not apply (``excluded``), and where the cases came from
(``source``). tests/trust/test_x509_limbo.py runs the selected ones against
``gateway.trust.path.validate_path``; see README.md beside this file.

Standard library only, so it runs anywhere limbo.json is::

    python tests/vectors/x509_limbo/select.py limbo.json \
        --commit <x509-limbo commit> --output limbo-subset.json.gz
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import json
import sys
from pathlib import Path
from typing import Any

SOURCE_REPOSITORY = "https://github.com/C2SP/x509-limbo"
LICENSE = "Apache-2.0"

# Why a testcase does not apply, first match wins. The node's TLS peer
# identity is the party whose bundle CA issued the certificate, never a DNS
# name or IP address, and it does no OCSP: a case whose verdict depends on
# matching ``expected_peer_name`` says nothing about our path validation.
_HOST_NAME = "verdict depends on matching the expected peer name (RFC 6125 / CABF host-name rules); the node identifies a TLS peer by its party's CA, not by a name"  # noqa: E501
EXCLUDED_BY_ID: dict[str, str] = {
    "webpki::san::*": _HOST_NAME,
    "webpki::cn::*": _HOST_NAME,
    "cve::cve-2025-61727": _HOST_NAME + " (wildcard SAN against an excluded name of the peer)",
    "cve::cve-2025-61727-nc-permits-variant": _HOST_NAME + " (wildcard SAN against a permitted name)",
    "rfc5280::nc::nc-forbids-dnsname-wildcard-san": _HOST_NAME + " (wildcard SAN against an excluded name)",
    "rfc5280::ca-as-leaf-wrong-san": _HOST_NAME,
    "rfc5280::san::underscore-dns": _HOST_NAME + " (the peer name itself is not a valid host name)",
    "rfc5280::san::ip-in-dns": _HOST_NAME + " (an IP address looked up among dNSNames)",
}
EXCLUDED_BY_FEATURE: dict[str, str] = {
    "max-chain-depth": "needs a caller-chosen maximum chain depth; validate_path has one fixed bound (MAX_PATH_LENGTH)",
    "has-policy-constraints": "certificate policies are not processed by the node (no policy OIDs in the MOU PKI)",
}
# Extended key usages validate_path can be asked for (as Purpose.TLS_SERVER /
# Purpose.TLS_CLIENT); a case constraining any other EKU has no mapping.
MAPPED_EKUS = frozenset({"serverAuth", "clientAuth"})
# Fields the test reads; the rest (private keys, markdown prose beyond the
# first paragraph) is left behind to keep the file small.
KEPT_FIELDS = (
    "id",
    "features",
    "importance",
    "validation_kind",
    "trusted_certs",
    "untrusted_intermediates",
    "peer_certificate",
    "validation_time",
    "key_usage",
    "extended_key_usage",
    "expected_result",
    "crls",
)


def exclusion_reason(case: dict[str, Any]) -> str | None:
    """Return why ``case`` does not apply to validate_path, or None when it does."""
    for pattern, reason in EXCLUDED_BY_ID.items():
        if fnmatch.fnmatchcase(case["id"], pattern):
            return reason
    for feature in case.get("features") or []:
        if feature in EXCLUDED_BY_FEATURE:
            return EXCLUDED_BY_FEATURE[feature]
    unmapped = set(case.get("extended_key_usage") or []) - MAPPED_EKUS
    if unmapped:
        return f"constrains extended key usage {sorted(unmapped)}, which no Purpose of the node maps"
    if case.get("signature_algorithms"):
        return "constrains the signature algorithms, a knob validate_path does not have"
    return None


def _summary(description: str) -> str:
    first = description.strip().split("\n\n", 1)[0]
    return " ".join(first.split())


def select(limbo: dict[str, Any], commit: str) -> dict[str, Any]:
    """Return the subset document for ``limbo`` (a parsed limbo.json) taken at ``commit``."""
    selected: list[dict[str, Any]] = []
    excluded: list[dict[str, str]] = []
    for case in limbo["testcases"]:
        reason = exclusion_reason(case)
        if reason is not None:
            excluded.append({"id": case["id"], "reason": reason})
            continue
        kept = {field: case.get(field) for field in KEPT_FIELDS}
        kept["summary"] = _summary(case.get("description", ""))
        selected.append(kept)
    return {
        "source": {
            "repository": SOURCE_REPOSITORY,
            "commit": commit,
            "license": LICENSE,
            "file": "limbo.json",
            "testcases": len(limbo["testcases"]),
        },
        "selected": selected,
        "excluded": excluded,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("limbo", type=Path, help="path of x509-limbo's limbo.json")
    parser.add_argument("--commit", required=True, help="x509-limbo commit limbo.json was taken at")
    parser.add_argument("--output", type=Path, required=True, help="where to write the gzip'd subset")
    args = parser.parse_args(argv)
    subset = select(json.loads(args.limbo.read_text("utf-8")), args.commit)
    # mtime=0: the same input gives the same bytes.
    with args.output.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(json.dumps(subset, indent=1, sort_keys=True).encode("utf-8"))
    print(
        f"{subset['source']['testcases']} testcases, {len(subset['selected'])} selected, "
        f"{len(subset['excluded'])} excluded -> {args.output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
