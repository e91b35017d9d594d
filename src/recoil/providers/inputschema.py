"""A hosted model's published input schema, kept in the project, and requests checked on it.

fal publishes an OpenAPI document per endpoint (``GET
https://fal.ai/api/openapi/queue/openapi.json?endpoint_id=<model>``: the input is
the ``$ref`` of ``paths["/<model>"].post.requestBody``); Replicate one per model
version (``openapi_schema`` of ``GET /v1/models/{owner}/{name}``'s
``latest_version`` or of ``GET .../versions/{id}``: the input is
``components.schemas.Input``). An adapter fetches a model's document once and
keeps it in the project as ``schemas/<provider>/<model>.json`` (a ``/`` in the
name becomes ``--``, a ``:`` ``@``), so a run checks every request before any
paid call and a later run fetches nothing. Delete the file to fetch it anew
(schemas change: a model gains an input, a range widens).

The check (:meth:`InputSchema.problems`) covers the OpenAPI 3.0 the two publish:
``$ref`` into ``components.schemas``, ``allOf``, ``anyOf``/``oneOf``,
``nullable``, ``type``, ``enum``, ``minimum``/``maximum`` (and exclusive),
``minLength``/``maxLength``, ``items``, ``minItems``/``maxItems``,
``required`` and ``properties``. An input the schema does not name is a
problem too: Replicate rejects it, and fal ignores it, which would silently
drop a parameter someone meant.
"""

from __future__ import annotations

import hashlib
import json
import operator
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recoil.errors import describe, did_you_mean

SCHEMAS_DIR = "schemas"
"""Where in the project folder the fetched schemas are kept."""
DOCUMENT_KIND = "model_schema"
DOCUMENT_SCHEMA = 1
_MAX_DEPTH = 32
_NUMERIC = {"integer", "number"}


@dataclass(frozen=True, slots=True, kw_only=True)
class InputSchema:
    """The input schema of one model (see the module docstring)."""

    model: str
    input: Mapping[str, Any]
    components: Mapping[str, Any] = field(default_factory=dict)
    version: str = ""
    """The version the provider publishes the schema for (Replicate's version id)."""
    sha256: str = ""
    """Of what requests are checked against (input, components, version): it changes
    when the model's inputs do, not when a counter in the document does."""

    @property
    def properties(self) -> Mapping[str, Any]:
        """Input name -> its schema."""
        props = _resolve(self.input, self.components).get("properties")
        return props if isinstance(props, Mapping) else {}

    @property
    def required(self) -> list[str]:
        """The inputs the model requires."""
        required = _resolve(self.input, self.components).get("required")
        return [str(r) for r in required] if isinstance(required, list) else []

    def problems(
        self, body: Mapping[str, Any], *, unchecked: frozenset[str] = frozenset()
    ) -> list[str]:
        """What in ``body`` breaks the schema, one ``input.<name>: ...`` line each.

        Inputs in ``unchecked`` may be missing (files an earlier step will make).
        """
        found: list[str] = []
        names = sorted(self.properties)
        for key in body:
            if key not in self.properties:
                found.append(
                    f"input.{key}: {self.model} has no input {key!r}"
                    f"{did_you_mean(key, names)}; its inputs: {', '.join(names)}"
                )
        for key in self.required:
            if key not in body and key not in unchecked:
                found.append(f"input.{key}: {self.model} requires it")
        for key, value in body.items():
            if key in self.properties:
                found += _check(value, self.properties[key], self.components, f"input.{key}", 0)
        return found


def _resolve(schema: Any, components: Mapping[str, Any]) -> Mapping[str, Any]:
    """``schema`` with a ``$ref`` into ``#/components/schemas/`` followed (once per level)."""
    for _ in range(_MAX_DEPTH):
        if not isinstance(schema, Mapping):
            return {}
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            return schema
        target = components.get(ref.rsplit("/", 1)[-1])
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **siblings} if isinstance(target, Mapping) else siblings
    return {}


def _check(
    value: Any, schema: Any, components: Mapping[str, Any], where: str, depth: int
) -> list[str]:
    """Problems of one value against one schema."""
    node = _resolve(schema, components)
    if depth > _MAX_DEPTH or not node:
        return []
    if value is None and (node.get("nullable") is True or _allows_null(node, components)):
        return []
    found: list[str] = []
    for part in node.get("allOf") or []:
        found += _check(value, part, components, where, depth + 1)
    options = node.get("anyOf") or node.get("oneOf")
    if isinstance(options, list) and options:
        results = [_check(value, o, components, where, depth + 1) for o in options]
        if all(results):
            kinds = " or ".join(_summary(o, components) for o in options)
            found.append(f"{where}: got {describe(value)}, expected {kinds}")
    return found + _check_node(value, node, components, where, depth)


def _check_node(
    value: Any, node: Mapping[str, Any], components: Mapping[str, Any], where: str, depth: int
) -> list[str]:
    kind = node.get("type")
    if isinstance(kind, str) and not _is_type(value, kind):
        return [f"{where}: got {describe(value)}, expected {_article(kind)}"]
    enum = node.get("enum")
    if isinstance(enum, list) and value not in enum:
        allowed = ", ".join(describe(e) for e in enum)
        return [f"{where}: got {describe(value)}, allowed: {allowed}"]
    return _contents(value, node, components, where, depth)


def _contents(
    value: Any, node: Mapping[str, Any], components: Mapping[str, Any], where: str, depth: int
) -> list[str]:
    """Problems inside a value of the right type: bounds, lengths, items, properties."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _bounds(value, node, where)
    if isinstance(value, str):
        return _lengths(value, node, where)
    if isinstance(value, list):
        return _items(value, node, components, where, depth)
    if isinstance(value, Mapping) and isinstance(node.get("properties"), Mapping):
        return _object(value, node, components, where, depth)
    return []


def _bounds(value: float, node: Mapping[str, Any], where: str) -> list[str]:
    checks = (
        ("minimum", operator.ge, ">="),
        ("maximum", operator.le, "<="),
        ("exclusiveMinimum", operator.gt, ">"),
        ("exclusiveMaximum", operator.lt, "<"),
    )
    found = []
    for key, test, sign in checks:
        limit = node.get(key)
        if (
            isinstance(limit, int | float)
            and not isinstance(limit, bool)
            and not test(value, limit)
        ):
            found.append(f"{where}: got {describe(value)}, must be {sign} {limit:g}")
    return found


def _lengths(value: str, node: Mapping[str, Any], where: str) -> list[str]:
    found = []
    low, high = node.get("minLength"), node.get("maxLength")
    if isinstance(low, int) and len(value) < low:
        found.append(f"{where}: {len(value)} characters, must be at least {low}")
    if isinstance(high, int) and len(value) > high:
        found.append(f"{where}: {len(value)} characters, must be at most {high}")
    return found


def _items(
    value: list[Any], node: Mapping[str, Any], components: Mapping[str, Any], where: str, depth: int
) -> list[str]:
    found = []
    low, high = node.get("minItems"), node.get("maxItems")
    if isinstance(low, int) and len(value) < low:
        found.append(f"{where}: {len(value)} items, must be at least {low}")
    if isinstance(high, int) and len(value) > high:
        found.append(f"{where}: {len(value)} items, must be at most {high}")
    items = node.get("items")
    if items is not None:
        for i, item in enumerate(value):
            found += _check(item, items, components, f"{where}[{i}]", depth + 1)
    return found


def _object(
    value: Mapping[str, Any],
    node: Mapping[str, Any],
    components: Mapping[str, Any],
    where: str,
    depth: int,
) -> list[str]:
    props = node["properties"]
    found = [f"{where}.{key}: required" for key in node.get("required") or [] if key not in value]
    for key, item in value.items():
        if key in props:
            found += _check(item, props[key], components, f"{where}.{key}", depth + 1)
        elif node.get("additionalProperties") is False:
            found.append(f"{where}.{key}: not allowed; allowed: {', '.join(sorted(props))}")
    return found


def _allows_null(node: Mapping[str, Any], components: Mapping[str, Any]) -> bool:
    options = node.get("anyOf") or node.get("oneOf") or []
    return node.get("type") == "null" or any(
        _resolve(o, components).get("type") == "null" for o in options
    )


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    types: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "boolean": bool,
        "array": list,
        "object": dict,
        "null": type(None),
    }
    expected = types.get(kind)
    return expected is None or isinstance(value, expected)


def _summary(schema: Any, components: Mapping[str, Any]) -> str:
    node = _resolve(schema, components)
    if isinstance(node.get("enum"), list):
        return "one of " + ", ".join(describe(e) for e in node["enum"])
    kind = node.get("type")
    return _article(kind) if isinstance(kind, str) else "a value of another form"


def _article(kind: str) -> str:
    words = {
        "integer": "an integer",
        "number": "a number",
        "string": "a string",
        "boolean": "true or false",
        "array": "a list",
        "object": "an object",
        "null": "null",
    }
    return words.get(kind, kind)


Parser = Callable[[str, Mapping[str, Any]], InputSchema]
"""Reads a provider's published document into the model's input schema (ValueError if not)."""


def fal_input_schema(model: str, document: Mapping[str, Any]) -> InputSchema:
    """The input of a fal endpoint's queue OpenAPI document."""
    components = _get(document, "components", "schemas")
    try:
        body = document["paths"][f"/{model}"]["post"]["requestBody"]
        schema = body["content"]["application/json"]["schema"]
    except (KeyError, TypeError):
        raise ValueError(f"the OpenAPI document has no POST /{model} request body") from None
    return InputSchema(model=model, input=schema, components=components)


def replicate_input_schema(model: str, document: Mapping[str, Any]) -> InputSchema:
    """The input of a Replicate model (``latest_version``) or version document."""
    version = document.get("latest_version", document)
    if not isinstance(version, Mapping):
        raise ValueError(f"{model} has no published version")
    components = _get(version, "openapi_schema", "components", "schemas")
    if not isinstance(components.get("Input"), Mapping):
        raise ValueError("the version's openapi_schema has no components.schemas.Input")
    return InputSchema(
        model=model,
        input=components["Input"],
        components=components,
        version=str(version.get("id") or ""),
    )


def _get(document: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    value: Any = document
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, Mapping) else {}


class SchemaStore:
    """Schemas of one provider's models: in memory, then in the project folder."""

    def __init__(self, provider: str, parse: Parser, folder: Path | None) -> None:
        self.provider = provider
        self.parse = parse
        self.folder = folder
        self._loaded: dict[str, InputSchema] = {}

    def path(self, model: str) -> Path | None:
        """Where ``model``'s document is kept (``None`` outside a project)."""
        if self.folder is None:
            return None
        return self.folder / f"{model.replace('/', '--').replace(':', '@')}.json"

    def get(self, model: str) -> InputSchema | None:
        """The kept schema of ``model``, or ``None`` if it was never fetched."""
        schema = self._loaded.get(model)
        path = self.path(model)
        if schema is None and path is not None and path.is_file():
            try:
                kept = json.loads(path.read_text(encoding="utf-8"))
                schema = self._parsed(model, kept["document"])
            except (OSError, ValueError, KeyError, TypeError):
                return None  # unreadable: fetched again
            self._loaded[model] = schema
        return schema

    def put(self, model: str, document: Mapping[str, Any], url: str) -> InputSchema:
        """Keep a freshly fetched document; raises ValueError if it holds no input schema."""
        schema = self._parsed(model, document)
        path = self.path(model)
        if path is not None:
            kept = {
                "kind": DOCUMENT_KIND,
                "schema": DOCUMENT_SCHEMA,
                "provider": self.provider,
                "model": model,
                "url": url,
                "document": document,
            }
            path.parent.mkdir(parents=True, exist_ok=True)
            scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            scratch.write_text(json.dumps(kept, indent=1, sort_keys=True), encoding="utf-8")
            scratch.replace(path)
        self._loaded[model] = schema
        return schema

    def _parsed(self, model: str, document: Mapping[str, Any]) -> InputSchema:
        schema = self.parse(model, document)
        checked = {
            "input": schema.input,
            "components": schema.components,
            "version": schema.version,
        }
        text = json.dumps(checked, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()
        return InputSchema(
            model=schema.model,
            input=schema.input,
            components=schema.components,
            version=schema.version,
            sha256=digest,
        )
