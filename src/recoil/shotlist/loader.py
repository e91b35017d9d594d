"""Read a shot list from YAML or JSON and validate it, reporting every problem at once.

Any problem — a missing file, a YAML or JSON syntax error (with line and
column), a duplicate key, a wrong top-level type, every field error and every
broken cross-reference — becomes one :class:`~recoil.errors.ShotListError`
whose ``problems`` list all of them; a bad file never produces a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic
import yaml

from recoil.errors import ShotListError
from recoil.shotlist.problems import describe_error, format_loc
from recoil.shotlist.schema import ShotList, ShotListReferenceError, reference_problems

SUFFIXES = (".yaml", ".yml", ".json")


def load_shotlist(path: Path) -> ShotList:
    """Load and validate the shot list at ``path`` (``.yaml``, ``.yml`` or ``.json``).

    Raises :class:`ShotListError` listing every problem found.
    """
    file = str(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ShotListError(
            file, [f"unsupported file type {path.suffix!r}; use {', '.join(SUFFIXES)}"]
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ShotListError(file, ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ShotListError(file, [f"cannot read file: {exc}"]) from None
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
        for error in exc.errors():
            if isinstance((error.get("ctx") or {}).get("error"), ShotListReferenceError):
                continue  # already reported from the raw data above
            loc, message = describe_error(error, ShotList)
            field_problems.append(f"{format_loc(loc)}: {message}")
        raise ShotListError(file, field_problems + problems) from None


def _describe_type(value: Any) -> str:
    """``a string``, ``a number``... for a top-level value of the wrong type."""
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__}"


def _parse(file: str, text: str, *, json_syntax: bool) -> Any:
    if json_syntax:
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
        problem = exc.problem or exc.context or "invalid YAML"
        raise ShotListError(file, [f"{where}YAML syntax error: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ShotListError(file, [f"YAML syntax error: {exc}"]) from None


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicate keys instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)
