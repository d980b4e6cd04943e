"""Party codes: which codes may name a party, and which parties this node knows.

A party code is shaped like an ISO 3166-1 alpha-2 country code (two capital
letters). Which parties exist is configuration, not code: a party is known
when the trust bundle holds its CA (it joins through a signed trust update,
gateway.trust.bundle_update, and a terms amendment every party signs).

``PartyCode`` is a plain ``Annotated[str, ...]`` that pydantic understands
(the pattern appears in JSON Schemas and OpenAPI) without this package
importing pydantic: trust/ stays free of frameworks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeGuard

from gateway.trust.errors import UnknownPartyError

if TYPE_CHECKING:
    from gateway.trust.bundle import TrustBundle

PARTY_CODE_PATTERN: Final = r"^[A-Z]{2}$"
_PARTY_CODE: Final = re.compile(r"[A-Z]{2}")


class _PartyCodeShape:
    """Pydantic hook: a string with the party-code pattern (duck-typed, no import of pydantic)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        return {**handler(source), "pattern": PARTY_CODE_PATTERN}

    def __repr__(self) -> str:
        return f"PartyCodeShape({PARTY_CODE_PATTERN!r})"


PartyCode = Annotated[str, _PartyCodeShape()]
"""A party code: two capital letters, as ISO 3166-1 alpha-2 (PA, CO, US, CR …)."""


def is_party_code(value: object) -> TypeGuard[str]:
    """Return True when ``value`` is shaped like a party code (not whether the party is known)."""
    return isinstance(value, str) and _PARTY_CODE.fullmatch(value) is not None


def require_known_party(bundle: TrustBundle, code: object, *, what: str = "party") -> str:
    """Return ``code`` when the trust bundle holds that party.

    Raises UnknownPartyError naming the parties the bundle holds otherwise.
    """
    if is_party_code(code) and bundle.party(str(code)) is not None:
        return str(code)
    shown = repr(code) if not isinstance(code, str) or len(code) <= 12 else repr(code[:12] + "…")
    raise UnknownPartyError(
        f"{what} {shown} is not a party of this federation; the trust bundle holds {_listed(bundle.parties)}",
        hint="a party joins through a signed trust update and a terms amendment every party signs",
    )


def require_known_parties(bundle: TrustBundle, codes: Iterable[object], *, what: str = "party") -> list[str]:
    """Return ``codes`` when the trust bundle holds every one; raises UnknownPartyError for the first it does not."""
    return [require_known_party(bundle, code, what=what) for code in codes]


def _listed(codes: Iterable[str]) -> str:
    return ", ".join(sorted(codes)) or "no party"
