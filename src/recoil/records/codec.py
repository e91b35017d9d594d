"""The one codec: every persisted recoil object to a JSON-safe dict and back.

Tag convention: a persisted object is a JSON object whose ``"kind"`` is a
lowercase name and whose ``"schema"`` is the int version of its shape. Kinds,
with their current schema::

    kind         schema  class                                  where it is written
    receipt      2       recoil.model.receipt.Receipt           receipts.jsonl, store bodies
    submitted    2       recoil.model.receipt.Submitted         receipts.jsonl
    sending      2       recoil.model.receipt.Sending           receipts.jsonl
    eval         2       recoil.model.receipt.EvalRecord        receipts.jsonl
    take_record  2       recoil.model.receipt.TakeRecord        receipts.jsonl
    review       2       recoil.model.receipt.ReviewRecord      receipts.jsonl
    sidecar      2       recoil.model.receipt.Sidecar           <artifact>.json
    workflow     2       recoil.model.workflow.Workflow
    take         2       recoil.model.take.Take                 take records, store bodies
    beat         2       recoil.model.take.Beat
    scene        2       recoil.model.take.Scene
    project      2       recoil.model.take.Project
    edit         3       recoil.export.edit.Edit (registered)   saved edits, export manifest

Only the top-level object carries tags; a kind nested in another (a take's
workflow, a step's receipt) is written without them and upgraded by its
container's upgrade function.

Older tags are read and upgraded (OpenTimelineIO style: one function per kind
and schema, each lifting a dict one schema up):

- schema 1 log records and sidecars: ``"kind"`` + ``"schema_version": 1``; a
  line without a kind was a receipt, and a ``"take"`` record is now a
  ``take_record``;
- schema 1 model objects: ``"Workflow"``, ``"Take"``, ``"Beat"``, ``"Scene"``,
  ``"Project"`` + ``"schema": 1``;
- schema 1 edits: ``"recoil.edit"`` + ``"schema": 1``.

Fields are read and written by pydantic from the dataclass fields themselves
(no field is listed here). Bad data raises :class:`~recoil.errors.ValidationError`
with the path to the bad field; a newer schema than this recoil knows says so.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pydantic

from recoil.errors import RecoilError, ValidationError
from recoil.model.receipt import (
    EvalRecord,
    Receipt,
    Record,
    ReviewRecord,
    Sending,
    Sidecar,
    Submitted,
    TakeRecord,
)
from recoil.model.take import Beat, Project, Scene, Take
from recoil.model.workflow import Workflow

T = TypeVar("T")
Upgrade = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Kind:
    """One row of the table: a kind, its class, its current schema and its upgrades."""

    name: str
    cls: type
    schema: int
    upgrades: Mapping[int, Upgrade]
    """Schema ``n`` -> the function lifting a dict of schema ``n`` to ``n + 1``."""


# ---- upgrades from schema 1 -------------------------------------------------------------


def _untagged(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("kind", "schema", "schema_version")}


def retag(data: dict[str, Any]) -> dict[str, Any]:
    """The upgrade of a kind whose schema changed only in its tags."""
    return _untagged(data)


def _receipt_1(data: dict[str, Any]) -> dict[str, Any]:
    # Schema 1 readers defaulted these; schema 2 receipts always carry them.
    return {"model": "", "prompt": "", "prompt_sha256": "", "seed": None, **_untagged(data)}


def _take_record_1(data: dict[str, Any]) -> dict[str, Any]:
    out = _untagged(data)
    take = out.get("take")
    if isinstance(take, Mapping):
        out["take"] = upgrade(take)
    return out


def _workflow_1(data: dict[str, Any]) -> dict[str, Any]:
    out = _untagged(data)
    steps = out.get("steps")
    if isinstance(steps, list):
        out["steps"] = [_step_1(s) for s in steps]
    return out


def _step_1(step: Any) -> Any:
    if isinstance(step, Mapping) and isinstance(step.get("receipt"), Mapping):
        return {**step, "receipt": _receipt_1(dict(step["receipt"]))}
    return step


def _nested_1(field: str, inner: Upgrade) -> Upgrade:
    def lift(data: dict[str, Any]) -> dict[str, Any]:
        out = _untagged(data)
        value = out.get(field)
        if isinstance(value, Mapping):
            out[field] = inner(dict(value))
        elif isinstance(value, list):
            out[field] = [inner(dict(v)) if isinstance(v, Mapping) else v for v in value]
        return out

    return lift


_take_1 = _nested_1("workflow", _workflow_1)
_beat_1 = _nested_1("takes", _take_1)
_scene_1 = _nested_1("beats", _beat_1)
_project_1 = _nested_1("scenes", _scene_1)


KINDS: tuple[Kind, ...] = (
    Kind("receipt", Receipt, 2, {1: _receipt_1}),
    Kind("submitted", Submitted, 2, {1: retag}),
    Kind("sending", Sending, 2, {1: retag}),
    Kind("eval", EvalRecord, 2, {1: retag}),
    Kind("take_record", TakeRecord, 2, {1: _take_record_1}),
    Kind("review", ReviewRecord, 2, {1: retag}),
    Kind("sidecar", Sidecar, 2, {1: retag}),
    Kind("workflow", Workflow, 2, {1: _workflow_1}),
    Kind("take", Take, 2, {1: _take_1}),
    Kind("beat", Beat, 2, {1: _beat_1}),
    Kind("scene", Scene, 2, {1: _scene_1}),
    Kind("project", Project, 2, {1: _project_1}),
)
"""The table of the kinds of ``model``; an upper layer's kinds join it by :func:`register`."""

RECORD_KINDS = ("receipt", "submitted", "sending", "eval", "take_record", "review")
"""The kinds of ``receipts.jsonl``."""

_OLD_RECORD_KINDS = {"take": "take_record"}
_V1_RECORDS = frozenset(("receipt", "submitted", "sending", "eval", "take", "review", "sidecar"))
_OLD_OBJECT_KINDS = {
    "Workflow": "workflow",
    "Take": "take",
    "Beat": "beat",
    "Scene": "scene",
    "Project": "project",
    "recoil.edit": "edit",
}


_BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
_BY_CLASS: dict[type, Kind] = {k.cls: k for k in KINDS}


def register(kind: Kind) -> Kind:
    """Add a kind whose class lives above ``records`` (``export``'s edit), from its module.

    As OpenTimelineIO's schema definitions do: ``records`` cannot import ``export``.
    """
    if _BY_NAME.get(kind.name, kind) != kind or _BY_CLASS.get(kind.cls, kind) != kind:
        raise ValueError(f"kind {kind.name!r} or class {kind.cls.__name__} is already taken")
    _BY_NAME[kind.name] = _BY_CLASS[kind.cls] = kind
    return kind


def kind_of(name: str) -> Kind:
    """The table row of kind ``name``."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValidationError(f"unknown kind {name!r}; known: {', '.join(_BY_NAME)}") from None


def _row(cls: type) -> Kind:
    try:
        return _BY_CLASS[cls]
    except KeyError:
        raise TypeError(f"{cls.__name__} is not a persisted kind") from None


_ADAPTERS: dict[type, pydantic.TypeAdapter[Any]] = {}
_SHAPES: dict[type, Shape] = {}


def _adapter(cls: type) -> pydantic.TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = pydantic.TypeAdapter(cls)
    return adapter


# ---- encode -------------------------------------------------------------------------------


def encode(value: object) -> dict[str, Any]:
    """A persisted object as a JSON-safe dict, tagged with its kind and current schema."""
    row = _row(type(value))
    body: dict[str, Any] = _adapter(row.cls).dump_python(value, mode="json")
    return {"kind": row.name, "schema": row.schema, **body}


def plain(value: object) -> Any:
    """A value that is part of a persisted object (a note, an artifact) as JSON-safe data."""
    return _adapter(type(value)).dump_python(value, mode="json")


# ---- decode -------------------------------------------------------------------------------


def tags(data: Mapping[str, Any]) -> tuple[str, Any]:
    """The ``(kind, schema)`` of a dict, old tag conventions mapped to today's names."""
    kind = data.get("kind")
    if kind is not None and type(kind) is not str:
        raise ValidationError(f"kind must be a string, got {kind!r}")
    if kind is None or "schema_version" in data or ("schema" not in data and kind in _V1_RECORDS):
        # A schema 1 record: a bare line was a receipt, the oldest lines had no version.
        kind = "receipt" if kind is None else kind
        return _OLD_RECORD_KINDS.get(kind, kind), data.get("schema_version", 1)
    if kind in _OLD_OBJECT_KINDS:
        return _OLD_OBJECT_KINDS[kind], data.get("schema", 1)
    return kind, data.get("schema")


def upgrade(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` lifted to its kind's current schema, with today's tags."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"expected a JSON object, got {type(data).__name__}")
    name, schema = tags(data)
    row = kind_of(str(name))
    return _upgrade(row, schema, data)


def _upgrade(row: Kind, schema: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    if type(schema) is not int or schema < 1:
        raise ValidationError(f"{row.name}: schema must be an int >= 1, got {schema!r}")
    if schema > row.schema:
        raise ValidationError(
            f"{row.name}: schema {schema} is newer than this recoil reads (up to "
            f"{row.schema}); upgrade recoil to read it"
        )
    out = dict(data)
    while schema < row.schema:
        out = row.upgrades[schema](out)
        schema += 1
    out["kind"], out["schema"] = row.name, row.schema
    return out


def decode(data: Mapping[str, Any]) -> Any:
    """The value a tagged dict encodes, upgraded from an older schema if need be."""
    current = upgrade(data)
    return _validate(kind_of(current["kind"]), current)


def decode_as(cls: type[T], data: Mapping[str, Any]) -> T:
    """:func:`decode`, refusing a dict of another kind than ``cls``'s."""
    value = decode(data)
    if not isinstance(value, cls):
        raise ValidationError(
            f"expected a {_row(cls).name}, got a {_row(type(value)).name}: {tags(data)[0]!r}"
        )
    return value


def decode_record(data: Mapping[str, Any]) -> Record | None:
    """One receipt-log line's object; ``None`` for a kind this version does not know."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"expected a JSON object, got {type(data).__name__}")
    name = tags(data)[0]
    if name not in RECORD_KINDS:
        return None  # a newer writer's kind
    record: Record = decode(data)
    return record


def _validate(row: Kind, data: dict[str, Any]) -> Any:
    try:
        return _adapter(row.cls).validate_python(data)
    except pydantic.ValidationError as exc:
        raise _error(row.name, exc) from exc


def _error(name: str, exc: pydantic.ValidationError) -> RecoilError:
    first = exc.errors()[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, RecoilError):
        return cause  # a value rule of the class itself (``__post_init__``)
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    problems = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return ValidationError(f"{name}: {where}: {first['msg']}{problems}")


# ---- the shape of a plainly well-formed line, for fast paths --------------------------------

Check = Callable[[Any], bool]


class _Compiler:
    """Writes one function checking a dict against a dataclass's field annotations.

    Generated, as attrs and msgspec generate their methods: a fast path that
    checks each field by calling a closure is no faster than decoding.
    """

    def __init__(self) -> None:
        self.names: dict[str, Any] = {"_MISSING": _MISSING}

    def bind(self, value: Any) -> str:
        name = f"_n{len(self.names)}"
        self.names[name] = value
        return name

    def expr(self, tp: Any, var: str, depth: int) -> str:  # noqa: PLR0911
        """A Python expression true when ``var`` is exactly the JSON form of ``tp``."""
        if tp is Any:
            return "True"
        if tp is float:
            return f"(type({var}) is float or type({var}) is int)"
        if tp in (str, int, bool):
            return f"type({var}) is {tp.__name__}"
        if tp is Path:
            return f"type({var}) is str"
        if tp is type(None):
            return f"{var} is None"
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (types.UnionType, typing.Union):
            return "(" + " or ".join(self.expr(a, var, depth) for a in args) + ")"
        if origin is typing.Literal or (isinstance(tp, type) and issubclass(tp, enum.StrEnum)):
            values = frozenset(str(a) for a in args) if args else frozenset(m.value for m in tp)
            return f"(type({var}) is str and {var} in {self.bind(values)})"
        if origin in (dict, Mapping) or tp in (dict, Mapping):
            return self._each(args[1] if args else Any, var, depth, "dict", ".values()")
        if origin in (list, tuple) or tp in (list, tuple):
            return self._each(args[0] if args else Any, var, depth, "list", "")
        if dataclasses.is_dataclass(tp):
            return f"{self.bind(shape(typing.cast(type, tp)).check_value)}({var})"
        raise TypeError(f"no line check for {tp!r}")

    def _each(self, item: Any, var: str, depth: int, container: str, suffix: str) -> str:
        if item is Any:
            return f"type({var}) is {container}"
        inner = f"_v{depth}"
        each = self.expr(item, inner, depth + 1)
        return f"(type({var}) is {container} and all({each} for {inner} in {var}{suffix}))"

    def function(self, cls: type, required: frozenset[str]) -> Check:
        hints = typing.get_type_hints(cls)
        lines = ["def check(d):", "    if type(d) is not dict: return False", "    get = d.get"]
        for f in dataclasses.fields(cls):
            lines.append(f"    v = get({f.name!r}, _MISSING)")
            ok = self.expr(hints[f.name], "v", 0)
            if f.name in required:
                lines.append(f"    if v is _MISSING or not ({ok}): return False")
            elif ok != "True":
                lines.append(f"    if v is not _MISSING and not ({ok}): return False")
        lines.append("    return True")
        namespace = dict(self.names)
        exec("\n".join(lines), namespace)  # noqa: S102 - code written above from annotations
        check: Check = namespace["check"]
        return check


_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Shape:
    """What a plainly well-formed dict of one class holds, derived from its fields.

    ``check_value`` accepts a dict only if every field without a default is
    there and every field there has exactly the JSON type its annotation gives
    (an int for a float too), nested values included. A dict it accepts decodes
    to the same values without conversion; the class's own value rules (its
    ``__post_init__``) are not checked here.
    """

    cls: type
    required: frozenset[str]
    check_value: Check


def shape(cls: type) -> Shape:
    """The :class:`Shape` of a dataclass's dicts."""
    known = _SHAPES.get(cls)
    if known is not None:
        return known
    required = frozenset(
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    made = _SHAPES[cls] = Shape(cls, required, _Compiler().function(cls, required))
    return made


@dataclass(frozen=True, slots=True)
class LineShape:
    """A current-schema line of one kind: its tags and its :class:`Shape`."""

    kind: str
    schema: int
    shape: Shape

    def check(self, data: dict[str, Any]) -> bool:
        """True for a line of this kind and current schema whose fields have the plain shape."""
        return (
            data.get("schema") == self.schema
            and type(data.get("schema")) is int
            and "schema_version" not in data
            and self.shape.check_value(data)
        )


@functools.cache
def line_shape(name: str) -> LineShape:
    """The :class:`LineShape` of kind ``name``."""
    row = kind_of(name)
    return LineShape(row.name, row.schema, shape(row.cls))


def parse(cls: type[T], data: Any) -> T:
    """A part of a persisted object (a note, an artifact) from its :func:`plain` form."""
    try:
        value: T = _adapter(cls).validate_python(data)
    except pydantic.ValidationError as exc:
        raise _error(cls.__name__, exc) from exc
    return value
