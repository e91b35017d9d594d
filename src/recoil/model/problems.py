"""Turn pydantic validation errors into one readable line each.

A line reads ``path: what came, what is allowed``, for example
``scenes[1].beats[0].shot.size: got 'big', allowed: wide, medium`` or
``project.fps: got -3, must be > 0``. Paths use ``a.b[1].c`` form. Shared by
the shot-list loader and the project settings.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

import pydantic
from pydantic import BaseModel

from recoil.errors import describe, did_you_mean

Loc = tuple[str | int, ...]

_EXPECTED = {
    "int": "an integer",
    "float": "a number",
    "string": "a string",
    "bool": "true or false",
    "list": "a list",
    "dict": "a mapping",
    "model": "a mapping",
    "model_attributes": "a mapping",
}
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
"""Ids in shot lists: scene, beat and character ids."""
_SLUG_RULE = "lowercase letters, digits, '-' and '_', starting with a letter or digit"
_PLAIN_KEY_LENGTH = 60


def format_loc(loc: Sequence[str | int]) -> str:
    """``('scenes', 1, 'beats', 0, 'id')`` -> ``scenes[1].beats[0].id``.

    Keys that are not plain names (spaces, dots) are quoted: ``characters['Anna B']``,
    and long keys are cut short, as a key may be any text from the file.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif len(part) <= _PLAIN_KEY_LENGTH and re.fullmatch(r"[A-Za-z0-9_-]+", part):
            out += f".{part}" if out else part
        else:
            out += f"[{describe(part)}]"
    return out or "top level"


def format_errors(exc: pydantic.ValidationError, model: type[BaseModel]) -> list[str]:
    """One ``path: problem`` line per error of ``exc``, raised validating ``model``."""
    lines = []
    for error in exc.errors():
        loc, message = describe_error(error, model)
        lines.append(f"{format_loc(loc)}: {message}")
    return lines


def describe_error(error: Any, model: type[BaseModel]) -> tuple[Loc, str]:
    """The location and a readable message for one pydantic error dict."""
    loc: Loc = tuple(error["loc"])
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    got = describe(error.get("input"))
    if kind == "string_too_long":
        ctx = {**ctx, "actual_length": len(error["input"])}
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
        key_message = _describe_kind(kind, ctx, got, error)
        return loc, f"invalid key: {key_message}"
    if kind == "extra_forbidden":
        return loc, _unknown_field(loc, model)
    return loc, _describe_kind(kind, ctx, got, error)


def _describe_kind(kind: str, ctx: dict[str, Any], got: str, error: Any) -> str:
    describe_kind = _KINDS.get(kind)
    if describe_kind is not None:
        return describe_kind(got, ctx)
    for prefix, expected in _EXPECTED.items():
        if kind in (f"{prefix}_type", f"{prefix}_parsing") or kind.startswith(f"{prefix}_from"):
            return f"got {got}, expected {expected}"
    message: str = error["msg"]
    return f"got {got}, {message[:1].lower()}{message[1:]}"


def _allowed(got: str, ctx: dict[str, Any]) -> str:
    allowed = re.findall(r"'([^']*)'|(\d+)", str(ctx.get("expected", "")))
    return f"got {got}, allowed: {', '.join(text or number for text, number in allowed)}"


def _pattern(got: str, ctx: dict[str, Any]) -> str:
    if ctx.get("pattern") == SLUG_PATTERN:
        return f"got {got}, must be a slug: {_SLUG_RULE}"
    return f"got {got}, must match {ctx.get('pattern')}"


def _too_short(got: str, ctx: dict[str, Any]) -> str:
    if ctx["min_length"] == 1:
        return "must not be empty"
    return f"needs at least {ctx['min_length']} items, got {ctx['actual_length']}"


def _too_long(got: str, ctx: dict[str, Any]) -> str:
    unit = "entries" if ctx.get("field_type") == "Dictionary" else "items"
    # pydantic stops counting a mapping at the limit, so its length is unknown.
    actual = ctx.get("actual_length")
    got_count = "more" if actual is None else f"{actual:,}"
    return f"allows at most {ctx['max_length']:,} {unit}, got {got_count}"


def _string_too_long(got: str, ctx: dict[str, Any]) -> str:
    limit, actual = ctx["max_length"], ctx["actual_length"]
    return f"got {got} ({actual:,} characters), must be at most {limit:,} characters"


_KINDS: dict[str, Callable[[str, dict[str, Any]], str]] = {
    "missing": lambda got, ctx: "missing required field",
    "literal_error": _allowed,
    "greater_than": lambda got, ctx: f"got {got}, must be > {_number(ctx['gt'])}",
    "greater_than_equal": lambda got, ctx: f"got {got}, must be >= {_number(ctx['ge'])}",
    "less_than": lambda got, ctx: f"got {got}, must be < {_number(ctx['lt'])}",
    "less_than_equal": lambda got, ctx: f"got {got}, must be <= {_number(ctx['le'])}",
    "multiple_of": lambda got, ctx: f"got {got}, must be a multiple of {ctx['multiple_of']}",
    "string_pattern_mismatch": _pattern,
    "string_too_short": lambda got, ctx: "must not be empty",
    "too_short": _too_short,
    "string_too_long": _string_too_long,
    "too_long": _too_long,
    "finite_number": lambda got, ctx: f"got {got}, expected a finite number",
    "value_error": lambda got, ctx: str(ctx["error"]),
}


def _number(value: Any) -> str:
    """``0.0`` -> ``0``: bounds read as the user wrote them."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _unknown_field(loc: Loc, model: type[BaseModel]) -> str:
    known = _fields_at(model, loc[:-1])
    if not known:
        return "unknown field"
    hint = did_you_mean(str(loc[-1]), known)
    if hint:
        return f"unknown field{hint}"
    return f"unknown field; allowed: {', '.join(known)}"


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the model found by following ``loc`` from ``model``."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) is list:
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to ``X``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation
            annotation = rest[0]
        else:
            return annotation
