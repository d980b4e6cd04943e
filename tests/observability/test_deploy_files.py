"""deploy/: manifests parse, carry no key material, and keep the hardening they promise.

No container engine or cluster runs here; these checks read the files. Where
``systemd-analyze`` exists, the units are also verified by systemd itself.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.settings import Settings, load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
YAML_FILES = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
KEY_MATERIAL = re.compile(r"-----BEGIN|PRIVATE KEY|MII[A-Za-z0-9+/]{40}|eyJ[A-Za-z0-9_-]{20}")
SECRET_WORDS = re.compile(r"(?i)password|secret|passwd|token")


def _documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text("utf-8")) if doc is not None]


def _kubernetes_objects() -> list[dict[str, Any]]:
    objects = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        objects += [doc for doc in _documents(path) if doc.get("kind") != "Kustomization"]
    return objects


def _walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [item for key, child in value.items() for item in _walk(child, f"{path}.{key}")]
    if isinstance(value, list):
        return [item for index, child in enumerate(value) for item in _walk(child, f"{path}[{index}]")]
    return [(path, value)]


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def test_there_is_something_to_check() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in DEPLOY.rglob("*") if p.is_file()}
    assert {
        "Dockerfile",
        "compose.yaml",
        "README.md",
        "gateway.production.toml.example",
        "systemd/mou-gateway.service",
        "systemd/mou-gateway-worker.service",
        "kubernetes/kustomization.yaml",
        "kubernetes/deployment-serve.yaml",
        "kubernetes/deployment-worker.yaml",
        "kubernetes/service-agency.yaml",
        "kubernetes/service-partner.yaml",
        "kubernetes/configmap.yaml",
    } <= names


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_yaml_file_parses(path: Path) -> None:
    assert _documents(path), f"{path} holds no YAML document"


def test_kubernetes_manifests_hold_no_key_material_and_no_secret_objects() -> None:
    objects = _kubernetes_objects()
    assert {o["kind"] for o in objects} >= {"Deployment", "Service", "ConfigMap"}
    assert "Secret" not in {o["kind"] for o in objects}
    for obj in objects:
        for path, value in _walk(obj):
            assert not (isinstance(value, str) and KEY_MATERIAL.search(value)), f"{obj['kind']}{path}"
        if "data" in obj or "stringData" in obj or "binaryData" in obj:
            assert obj["kind"] == "ConfigMap", obj["metadata"]["name"]
            assert "binaryData" not in obj
            for key, value in obj["data"].items():
                assert key.startswith("GATEWAY_"), key
                assert not SECRET_WORDS.search(key), key
                assert "@" not in value, f"{key} looks like a URL with credentials"
    text = "\n".join(p.read_text("utf-8") for p in sorted(KUBERNETES.glob("*.yaml")))
    assert "DATABASE_URL" not in text.replace("GATEWAY_DATABASE_URL\n", "")  # only as a secretKeyRef name


def test_kubernetes_workloads_take_keys_from_secret_references_only() -> None:
    for obj in _kubernetes_objects():
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        spec = _pod_spec(obj)
        for container in spec["containers"]:
            for env in container.get("env", []):
                if env["name"] == "GATEWAY_DATABASE_URL":
                    assert env["valueFrom"]["secretKeyRef"] == {"name": "mou-gateway-db", "key": "database-url"}
                elif env["name"] in ("GATEWAY_OPERATIONS_TOKEN", "GATEWAY_TOTP_ENCRYPTION_KEY"):
                    assert "value" not in env, env["name"]
                    assert env["valueFrom"]["secretKeyRef"]["name"] == "mou-gateway-operations", env["name"]
                else:
                    assert not SECRET_WORDS.search(env["name"]), env["name"]
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] == "mou-gateway-pki"
                assert volume["secret"]["defaultMode"] <= 0o440


def test_kubernetes_deployments_have_probes_and_run_as_non_root_read_only() -> None:
    deployments = {o["metadata"]["name"]: o for o in _kubernetes_objects() if o["kind"] == "Deployment"}
    assert set(deployments) == {"mou-gateway", "mou-gateway-worker"}
    for name, deployment in deployments.items():
        spec = _pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert "livenessProbe" in container, name
            assert "readinessProbe" in container, name
    serve = _pod_spec(deployments["mou-gateway"])["containers"][0]
    assert serve["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "agency"}
    assert serve["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "agency"}
    assert {p["name"]: p["containerPort"] for p in serve["ports"]} == {"agency": 8080, "partner": 8443}
    assert "--no-worker" in serve["args"]


def test_kubernetes_services_expose_the_two_listeners_separately() -> None:
    services = {o["metadata"]["name"]: o["spec"] for o in _kubernetes_objects() if o["kind"] == "Service"}
    assert [p["targetPort"] for p in services["mou-gateway-agency"]["ports"]] == ["agency"]
    assert services["mou-gateway-agency"]["type"] == "ClusterIP"
    assert [p["targetPort"] for p in services["mou-gateway-partner"]["ports"]] == ["partner"]


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = _documents(KUBERNETES / "kustomization.yaml")
    manifests = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests


class _UnitParser(configparser.ConfigParser):
    def optionxform(self, optionstr: str) -> str:
        return optionstr  # systemd keys are case-sensitive


def _unit(path: Path) -> configparser.ConfigParser:
    # strict=False: systemd allows a key twice (SystemCallFilter=), the parser keeps the last.
    parser = _UnitParser(strict=False, interpolation=None)
    parser.read_string(path.read_text("utf-8"))
    return parser


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_units_are_hardened(path: Path) -> None:
    service = _unit(path)["Service"]
    assert service["User"] == "mou-gateway"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/mou-gateway"
    assert service["EnvironmentFile"] == "/etc/mou-gateway/gateway.env"
    assert service["CapabilityBoundingSet"] == ""
    assert service["PrivateTmp"] == "yes"
    assert service["ProtectHome"] == "yes"
    assert "--config /etc/mou-gateway/gateway.toml" in service["ExecStart"]


def test_systemd_units_run_serve_and_worker() -> None:
    assert " serve --no-worker" in _unit(DEPLOY / "systemd" / "mou-gateway.service")["Service"]["ExecStart"]
    assert " worker " in _unit(DEPLOY / "systemd" / "mou-gateway-worker.service")["Service"]["ExecStart"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_verify(path: Path, tmp_path: Path) -> None:
    # verify needs the executables to exist: point them at this environment's gateway.
    gateway = Path(sys.executable).parent / "gateway"
    text = path.read_text("utf-8").replace("/opt/mou-gateway/bin/gateway", str(gateway))
    text = text.replace("EnvironmentFile=/", "EnvironmentFile=-/")  # the file is on the target host
    unit = tmp_path / path.name
    unit.write_text(text, "utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys are only warnings


def _dockerfile() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text("utf-8").replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile_runs_as_a_non_root_user_from_a_pinned_slim_image() -> None:
    instructions = _dockerfile()
    args = dict(rest.split("=", 1) for keyword, rest in instructions if keyword == "ARG" and "=" in rest)
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", args["PYTHON_IMAGE"])
    final_stage = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM") :]
    users = [rest for keyword, rest in final_stage if keyword == "USER"]
    assert users, "the runtime stage sets no USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert ("ENTRYPOINT", '["gateway"]') in final_stage
    healthcheck = " ".join(rest for keyword, rest in final_stage if keyword == "HEALTHCHECK")
    assert "healthcheck.py" in healthcheck
    assert "/healthz" in (DEPLOY / "healthcheck.py").read_text("utf-8")
    copied = " ".join(rest for keyword, rest in instructions if keyword == "COPY")
    for needed in ("migrations", "deploy/terms", "gateway"):
        assert needed in copied, needed
    assert any(keyword == "RUN" and "pip install" in rest for keyword, rest in instructions)


def test_compose_holds_no_secret_values() -> None:
    (compose,) = _documents(DEPLOY / "compose.yaml")
    assert set(compose["services"]) == {"postgres", "migrate", "gateway", "worker"}
    assert compose["services"]["postgres"]["image"].startswith("postgres:16")
    assert "volumes" in compose["services"]["postgres"]
    for path, value in _walk(compose):
        if isinstance(value, str):
            assert not KEY_MATERIAL.search(value), path
            assert not re.search(r"://[^/\s:@]+:[^@\s]+@", value), f"credentials in a URL at {path}"
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_WORDS.search(key):
                assert key.endswith("_FILE"), f"{name}: {key} must point to a secret file"
                assert str(value).startswith("/run/secrets/"), f"{name}: {key}"
    for secret in compose["secrets"].values():
        assert set(secret) == {"file"}  # a reference to a file, never an inline value
    assert compose["services"]["gateway"]["command"][:1] == ["serve"]
    assert compose["services"]["worker"]["command"][:1] == ["worker"]


def test_production_settings_example_loads_and_explains_every_setting() -> None:
    example = DEPLOY / "gateway.production.toml.example"
    settings = load_settings(example)  # unknown names would be refused
    assert settings.party == "PA"
    assert settings.database_url is None  # the secret stays out of the file
    text = example.read_text("utf-8")
    document = tomllib.loads(text)["gateway"]
    for name in Settings.model_fields:
        mentioned = re.search(rf"^#? ?{name} = ", text, re.MULTILINE)
        assert mentioned, f"{name} is missing from {example.name}"
        # Its paragraph (the lines up to the previous blank one) holds a comment explaining it.
        paragraph = text[: mentioned.start()].rstrip("\n").split("\n\n")[-1].splitlines()
        assert any(line.startswith("# ") for line in paragraph), f"{name} has no explanation above it"
    assert set(document) <= set(Settings.model_fields)
