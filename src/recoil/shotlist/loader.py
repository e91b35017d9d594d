"""Read a shot list from YAML or JSON and validate it, reporting every problem at once.

Any problem — a missing file, a YAML or JSON syntax error (with line and
column), a duplicate key, a wrong top-level type, every field error and every
broken cross-reference — becomes one :class:`~recoil.errors.ShotListError`
whose ``problems`` list all of them; a bad file never produces a traceback.

Small files must not cost large amounts of time or memory, so the loader
refuses, each with a message naming the limit: files over
:data:`MAX_FILE_BYTES`, lists and mappings nested more than :data:`MAX_DEPTH`
deep, documents of more than :data:`MAX_VALUES` values once YAML anchors and
aliases are expanded (a "billion laughs" block is a few hundred bytes), and
integers too long for Python to convert. At most :data:`MAX_PROBLEMS` problems
are listed.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import pydantic
import yaml

from recoil.errors import ShotListError, describe
from recoil.model.problems import describe_error, format_loc
from recoil.shotlist.schema import ShotList, ShotListReferenceError, reference_problems

SUFFIXES = (".yaml", ".yml", ".json")
MAX_FILE_BYTES = 4 * 1024 * 1024
"""The largest shot-list file read. The pure-Python YAML parser (the only one that
lets the limits below be enforced while parsing) needs seconds and hundreds of MB
per MB of YAML; a feature film's shot list is well under 1 MB."""
MAX_DEPTH = 64
"""How deeply lists and mappings may nest; a shot list needs fewer than ten levels."""
MAX_VALUES = 200_000
"""How many values (keys, items and scalars, counting an alias as a copy of what it
names) a document may hold: about 30 a beat, so room for several thousand beats."""
MAX_PROBLEMS = 100
"""How many problems one error lists; the rest are counted on a last line."""

_MOST = "the most a shot list may have"
_JSON_TOKEN = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null',
    re.DOTALL,
)


def load_shotlist(path: Path) -> ShotList:
    """Load and validate the shot list at ``path`` (``.yaml``, ``.yml`` or ``.json``).

    Raises :class:`ShotListError` listing every problem found.
    """
    file = str(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ShotListError(
            file, [f"unsupported file type {path.suffix!r}; use {', '.join(SUFFIXES)}"]
        )
    text = _read(file, path)
    data = _parse(file, text, json_syntax=path.suffix.lower() == ".json")
    return validate_shotlist(file, data)


def validate_shotlist(file: str, data: Any) -> ShotList:
    """Validate already-parsed shot-list data; ``file`` names it in errors."""
    if data is None:
        raise ShotListError(file, ["file is empty; expected a mapping with 'project' and 'scenes'"])
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else _describe_type(data)
        raise ShotListError(
            file, [f"top level: expected a mapping with 'project' and 'scenes', got {kind}"]
        )
    problems = [f"{format_loc(loc)}: {msg}" for loc, msg in reference_problems(data)]
    try:
        return ShotList.model_validate(data)
    except pydantic.ValidationError as exc:
        field_problems = []
        for error in exc.errors(include_url=False):
            if isinstance((error.get("ctx") or {}).get("error"), ShotListReferenceError):
                continue  # already reported from the raw data above
            loc, message = describe_error(error, ShotList)
            field_problems.append(f"{format_loc(loc)}: {message}")
        raise ShotListError(file, _capped(field_problems + problems)) from None


def _capped(problems: list[str]) -> list[str]:
    """The first :data:`MAX_PROBLEMS` problems, and a line counting the rest."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - MAX_PROBLEMS
    return [*problems[:MAX_PROBLEMS], f"... and {rest:,} more problems (fix these first)"]


def _describe_type(value: Any) -> str:
    """``a string``, ``a number``... for a top-level value of the wrong type."""
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__}"


def _read(file: str, path: Path) -> str:
    # Read one byte past the limit rather than trusting the size on disk, which
    # devices and pipes do not report.
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
            info = os.fstat(handle.fileno())
    except FileNotFoundError:
        raise ShotListError(file, ["file not found"]) from None
    except OSError as exc:
        raise ShotListError(file, [f"cannot read file: {exc}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        size = f" ({info.st_size:,} bytes)" if stat.S_ISREG(info.st_mode) else ""
        limit = f"{MAX_FILE_BYTES:,} bytes ({MAX_FILE_BYTES / 2**20:g} MiB)"
        raise ShotListError(file, [f"file is too large{size}: a shot list may be at most {limit}"])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ShotListError(file, [f"cannot read file: {exc}"]) from None


def _parse(file: str, text: str, *, json_syntax: bool) -> Any:
    if json_syntax:
        _check_json_limits(file, text)
        try:
            return json.loads(text) if text.strip() else None
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise ShotListError(file, [f"{where}: JSON syntax error: {exc.msg}"]) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        if isinstance(exc, _LimitError):
            raise ShotListError(file, [f"{where}{exc.problem}"]) from None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ShotListError(file, [f"{where}YAML syntax error: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ShotListError(file, [f"YAML syntax error: {exc}"]) from None


def _too_deep() -> str:
    return f"nested too deeply: more than {MAX_DEPTH} levels of lists and mappings, {_MOST}"


def _too_many(*, aliased: bool) -> str:
    if aliased:
        return f"anchors and aliases expand the document past {MAX_VALUES:,} values, {_MOST}"
    return f"the document has more than {MAX_VALUES:,} values, {_MOST}"


def _int_too_long(digits: str) -> str | None:
    """The problem with a decimal integer of ``digits``, which Python refuses to convert
    past ``sys.get_int_max_str_digits()``; ``None`` if it converts."""
    limit = sys.get_int_max_str_digits()
    if limit == 0 or len(digits) <= limit:
        return None
    return f"integer too long: {len(digits):,} digits, more than the {limit:,} allowed"


def _check_json_limits(file: str, text: str) -> None:
    """Apply the YAML limits to JSON before :func:`json.loads`, which would recurse
    into RecursionError and refuse a long integer with a bare ValueError."""
    depth = values = 0
    for token in _JSON_TOKEN.finditer(text):
        value = token[0]
        if value in ("]", "}"):
            depth -= 1
            if depth < 0:
                return  # unbalanced: json.loads reports where
            continue
        values += 1
        if value in ("[", "{"):
            depth += 1
        digits = value.removeprefix("-")
        problem = None
        if depth > MAX_DEPTH:
            problem = _too_deep()
        elif values > MAX_VALUES:
            problem = _too_many(aliased=False)
        elif digits.isdigit():
            problem = _int_too_long(digits)
        if problem is None:
            continue
        line = text.count("\n", 0, token.start()) + 1
        column = token.start() - text.rfind("\n", 0, token.start())
        raise ShotListError(file, [f"line {line}, column {column}: {problem}"])


class _LimitError(yaml.MarkedYAMLError):
    """A document over one of the loader's limits; its ``problem`` is the whole message."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicate keys instead of keeping the last one, and
    documents over the loader's limits while composing them, before any value is built."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        # Values composed so far, each alias counting every value of what it names,
        # and the same count for each anchored node (by id) that an alias may name.
        self._values = 0
        self._sizes: dict[int, int] = {}
        self._aliased = False

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Compose one node, refusing it when it nests or expands the document too far."""
        alias = self.check_event(yaml.AliasEvent)
        event = self.current_event  # what check_event peeked at
        if alias:
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:
                # The anchor is still open: the alias is inside what it names.
                problem = f"alias *{event.anchor} is inside the value it names (a recursive alias)"
                raise _LimitError(problem, event.start_mark)
            self._aliased = True
            self._count(size, event.start_mark)
            return node
        if self._depth >= MAX_DEPTH and self.check_event(yaml.CollectionStartEvent):
            raise _LimitError(_too_deep(), event.start_mark)
        before = self._values
        self._count(1, event.start_mark)
        self._depth += 1
        node = super().compose_node(parent, index)
        self._depth -= 1
        if event.anchor is not None:
            self._sizes[id(node)] = self._values - before
        return node

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 -- PyYAML's name
        """Scan ``[`` or ``{``, refusing it past :data:`MAX_DEPTH` open ones.

        The scanner looks up to 1024 characters ahead of the composer for each
        open bracket (it may start a key), so a run of brackets is refused here,
        before that lookahead costs more than the check in :meth:`compose_node`.
        """
        super().fetch_flow_collection_start(TokenClass)
        if self.flow_level > MAX_DEPTH:
            raise _LimitError(_too_deep(), self.tokens[-1].start_mark)

    def _count(self, values: int, mark: yaml.Mark | None) -> None:
        self._values += values
        if self._values > MAX_VALUES:
            raise _LimitError(_too_many(aliased=self._aliased), mark)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """An integer; one too long for Python to convert is a marked error, not a ValueError."""
        digits = str(node.value).replace("_", "").lstrip("+-")
        # A leading 0 is octal in YAML 1.1; only decimal conversion is limited.
        decimal = digits.isdigit() and not digits.startswith("0")
        if decimal and (problem := _int_too_long(digits)) is not None:
            raise _LimitError(problem, node.start_mark)
        value: int = super().construct_yaml_int(node)
        return value

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            # Only plain keys can repeat a name; merge keys (<<) and collections are
            # left to SafeLoader, which merges the one and refuses the other.
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node)
            if not isinstance(key, str):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key {describe(key)}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_MERGE_TAG = "tag:yaml.org,2002:merge"
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)
