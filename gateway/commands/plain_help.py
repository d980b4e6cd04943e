"""Option help in plain words: ``--days N`` and ``--config FILE``, not ``<int>`` and ``<path>``.

typer shows each option's Python type (``<list[str]>``, and ``<bool>`` for
flags, ``--help`` included); an operator needs the word for what to type.
:func:`install` swaps the method typer calls for that column, once, before
any command's help is drawn.
"""

from __future__ import annotations

from typing import Any

from typer import _click as click  # typer's bundled click, whose classes typer's commands use
from typer.core import TyperArgument, TyperOption


def plain_word(param: Any, ctx: click.Context) -> str | None:
    """Return the word shown for ``param``'s value, or None for a flag (which takes none)."""
    descriptor = getattr(param, "type_descriptor", None)
    if getattr(param, "is_flag", False) or descriptor is None:
        return None
    if descriptor.is_choice:
        shown = str(param.display_type(ctx)).strip("<>")
        return shown.removeprefix("list[").removesuffix("]")
    if descriptor.is_path:
        name = (param.name or "").lower()
        return "DIR" if "dir" in name or name in ("out", "workdir") else "FILE"
    if descriptor.is_datetime:
        return "TIME"
    annotation = descriptor.annotation
    element = getattr(annotation, "__args__", (annotation,))[0] if descriptor.is_list else annotation
    if element is int:
        return "N"
    if element is float:
        return "NUMBER"
    return "TEXT"


def _option_word(self: Any, ctx: click.Context) -> str | None:
    if self.metavar is not None:
        return str(self.metavar)
    word = plain_word(self, ctx)
    return f"{word}, repeatable" if word and self.multiple else word


def _argument_word(self: Any, ctx: click.Context) -> str | None:
    return plain_word(self, ctx)


def install() -> None:
    """Make typer show plain words for option and argument values (idempotent)."""
    TyperOption.display_type_rich = _option_word  # type: ignore[method-assign]
    TyperArgument.display_type_rich = _argument_word  # type: ignore[method-assign]
