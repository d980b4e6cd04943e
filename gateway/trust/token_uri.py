"""RFC 7512 PKCS#11 URIs: which token and which key (``pkcs11:token=PA%20gateway;object=signing``).

A PIN in the URI (``pin-value``) is refused: it comes from a file or the
environment (gateway/trust/token_keys.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import quote, unquote_to_bytes

from gateway.trust.errors import PKIError

_PATH_ATTRIBUTES: Final = frozenset(
    {
        "token",
        "object",
        "id",
        "serial",
        "manufacturer",
        "model",
        "type",
        "library-manufacturer",
        "library-description",
        "library-version",
        "slot-manufacturer",
        "slot-description",
        "slot-id",
    }
)
_QUERY_ATTRIBUTES: Final = frozenset({"module-path", "module-name", "pin-source"})


@dataclass(frozen=True, slots=True)
class TokenURI:
    """The parts of an RFC 7512 PKCS#11 URI that select a token and a key."""

    text: str
    token: str | None = None
    object: str | None = None
    id: bytes | None = None
    serial: str | None = None
    module_path: Path | None = None
    pin_source: Path | None = None

    def with_object(self, label: str) -> TokenURI:
        """Return this URI naming the key ``label`` in the same token (for rotation)."""
        parts = [p for p in self.text.removeprefix("pkcs11:").split("?")[0].split(";") if p]
        kept = [p for p in parts if not p.startswith(("object=", "id="))]
        query = self.text.split("?", 1)[1] if "?" in self.text else ""
        text = "pkcs11:" + ";".join([*kept, f"object={_quote(label)}"]) + (f"?{query}" if query else "")
        return parse_pkcs11_uri(text)


def _quote(value: str) -> str:
    return quote(value, safe="")


def _pairs(section: str, separator: str, where: str, text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in section.split(separator):
        if not item:
            continue
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise PKIError(f"PKCS#11 URI {text!r}: {where} attribute {item!r} is not name=value")
        if name in pairs:
            raise PKIError(f"PKCS#11 URI {text!r}: {where} attribute {name!r} is repeated")
        pairs[name] = value
    return pairs


def _decode(value: str, name: str, text: str) -> bytes:
    try:
        return unquote_to_bytes(value)
    except ValueError as exc:  # pragma: no cover - unquote_to_bytes tolerates bad escapes
        raise PKIError(f"PKCS#11 URI {text!r}: {name} is not percent-encoded correctly") from exc


def parse_pkcs11_uri(text: str) -> TokenURI:
    """Return the token and key selectors of an RFC 7512 URI; raises PKIError naming the fault.

    A PIN inside the URI (``pin-value``) is refused: the PIN comes from a file
    or the environment, never from configuration text.
    """
    if not text.startswith("pkcs11:"):
        raise PKIError(f"{text!r} is not a PKCS#11 URI", hint="write it as pkcs11:token=LABEL;object=KEY-LABEL")
    body = text.removeprefix("pkcs11:")
    path, _, query = body.partition("?")
    attributes = _pairs(path, ";", "path", text)
    options = _pairs(query, "&", "query", text)
    if "pin-value" in options:
        raise PKIError(
            "a PKCS#11 URI must not carry the PIN (pin-value)",
            hint="put the PIN in GATEWAY_PKCS11_PIN or a file named by GATEWAY_PKCS11_PIN_FILE",
        )
    for name in attributes:
        if name not in _PATH_ATTRIBUTES and not name.startswith("x-"):
            raise PKIError(f"PKCS#11 URI {text!r}: unknown attribute {name!r}")
    for name in options:
        if name not in _QUERY_ATTRIBUTES and not name.startswith("x-"):
            raise PKIError(f"PKCS#11 URI {text!r}: unknown query attribute {name!r}")
    kind = attributes.get("type")
    if kind is not None and kind != "private":
        raise PKIError(f"PKCS#11 URI {text!r}: type={kind} does not name a private key")
    decoded = {name: _decode(value, name, text) for name, value in {**attributes, **options}.items()}

    def text_of(name: str) -> str | None:
        raw = decoded.get(name)
        if raw is None:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PKIError(f"PKCS#11 URI {text!r}: {name} is not UTF-8") from exc

    module = text_of("module-path")
    pin_source = text_of("pin-source")
    if "token" not in decoded and "serial" not in decoded:
        raise PKIError(f"PKCS#11 URI {text!r} names no token", hint="add token=LABEL (or serial=…)")
    if "object" not in decoded and "id" not in decoded:
        raise PKIError(f"PKCS#11 URI {text!r} names no key", hint="add object=KEY-LABEL (or id=…)")
    return TokenURI(
        text=text,
        token=text_of("token"),
        object=text_of("object"),
        id=decoded.get("id"),
        serial=text_of("serial"),
        module_path=Path(module) if module else None,
        pin_source=Path(pin_source.removeprefix("file:")) if pin_source else None,
    )
