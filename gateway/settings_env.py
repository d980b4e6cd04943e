"""Environment settings in the forms operators type, and settings errors that name the variable.

pydantic-settings reads a list or map setting from the environment only as
JSON; an operator writes ``GATEWAY_TERMS_FILES=/etc/mou/terms.yaml`` or
``GATEWAY_PARTNERS=CO=https://co.example:8443,US=https://us.example:8443``.
Both forms are accepted here: a value starting with ``[`` or ``{`` is JSON,
anything else is a comma-separated list (``KEY=VALUE`` items for a map).
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource

from gateway.errors import ConfigurationError

ENV_PREFIX = "GATEWAY_"


def env_name(field_name: str) -> str:
    return f"{ENV_PREFIX}{field_name.upper()}"


def _container(annotation: Any) -> type | None:
    """Return list or dict when ``annotation`` is one (possibly inside ``X | None``), else None."""
    origin = typing.get_origin(annotation)
    if origin in (list, dict):
        return typing.cast(type, origin)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _container(arg)
            if found is not None:
                return found
    return None


def parse_plain(name: str, kind: type, text: str) -> list[str] | dict[str, str]:
    """Return the comma-separated ``text`` as a list, or as a map of ``KEY=VALUE`` items.

    Raises ConfigurationError naming the variable ``name`` for a map item without ``=``.
    """
    items = [item.strip() for item in text.split(",") if item.strip()]
    if kind is list:
        return items
    mapping: dict[str, str] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise ConfigurationError(
                f"{name}: {item!r} is not KEY=VALUE",
                hint=f"write {name}=KEY=VALUE,KEY=VALUE (e.g. CO=https://co.example:8443) or a JSON object",
            )
        mapping[key.strip()] = value.strip()
    return mapping


class PlainEnvSettingsSource(EnvSettingsSource):
    """The environment source, reading list and map settings as JSON or in plain comma form."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        kind = _container(field.annotation) if field is not None else None
        if not isinstance(value, str) or kind is None:
            return super().decode_complex_value(field_name, field, value)
        name = env_name(field_name)
        text = value.strip()
        if text[:1] in ("[", "{"):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigurationError(
                    f"{name} is not valid JSON ({exc.msg} at character {exc.pos + 1})",
                    hint="write a comma-separated list instead, or correct the JSON",
                ) from exc
        return parse_plain(name, kind, text)


def describe_settings_error(exc: ValidationError, config: Path | None, from_file: set[str]) -> str:
    """Return one line naming each invalid setting as the operator wrote it: variable or file key."""
    parts = []
    for error in exc.errors(include_url=False)[:3]:
        field = str(error["loc"][0]) if error["loc"] else ""
        rest = ".".join(str(item) for item in error["loc"][1:])
        where = f"{field} in {config}" if config is not None and field in from_file else env_name(field)
        if error["type"] == "missing":
            parts.append(f"{where} is not set")
            continue
        parts.append(f"{where}{'.' + rest if rest else ''}: {error['msg']}")
    more = exc.error_count() - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
