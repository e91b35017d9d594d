"""Per-model bindings for hosted models (fal, Replicate): request fields -> model inputs.

Like a ComfyUI template binding, a binding says which request field goes to
which input of one model, in what form, and which part of the model's output
is the result. recoil ships bindings for widely used models
(:mod:`recoil.providers.fal_models`, :mod:`recoil.providers.replicate_models`);
``recoil.toml`` adds bindings, or changes a shipped one (its keys replace the
shipped ones, its ``inputs`` and ``defaults`` are merged over the shipped, and
an input set to ``false`` is dropped)::

    [providers.fal.bindings."fal-ai/kling-video/v2.1/standard/image-to-video"]
    modality = "video"
    output = "video"                       # where the file is in the model's output
    defaults = { cfg_scale = 0.5 }         # always sent (a beat's params win)
    [providers.fal.bindings."fal-ai/kling-video/v2.1/standard/image-to-video".inputs]
    prompt = "prompt"
    negative_prompt = "negative_prompt"
    image = "image_url"
    duration_s = { to = "duration", choices = ["5", "10"] }

An input is ``"model_input"`` or a table: ``to`` (the model's input name),
``type`` (``integer``, ``number``, ``string``, ``boolean``: the value's form),
``choices`` (the values the model accepts) and ``map`` (request value -> model
value, e.g. a shot-list voice to the model's voice id). The request side names:

- the request's own fields: ``prompt`` (the text to speak, for audio),
  ``negative_prompt``, ``seed``, ``steps``, ``guidance``, ``strength``,
  ``scale``, ``fps``, ``duration_s``, ``voice``, ``sample_rate``, ``width``,
  ``height``;
- derived values: ``size`` (``{"width", "height"}``), ``aspect_ratio``
  (``"16:9"`` from the resolution: the nearest of ``choices`` within 10 %),
  ``resolution`` (``"720p"`` from the short side: the smallest of ``choices``
  at least as large, else the largest), ``frames`` (duration times fps);
- input files, sent as the provider documents (data URIs or uploaded URLs):
  ``image``, ``end_image``, ``video``, ``reference_audio``,
  ``reference_images`` (a list) and ``reference_image`` (the first of them).

A duration with ``choices`` becomes the shortest clip the model makes that
covers the beat (a 4 s beat asks kling for ``"5"``; the cut trims it); a beat
longer than the longest is an error, not a shorter clip. ``type = "integer"``
rounds a duration up and anything else to the nearest. A field the request
leaves unset (no seed, no negative prompt) is not sent, so the model's default
holds. Then the request's ``params`` are merged over the input (a ``null``
removes a key). An input file the request carries and the binding has nowhere
to put is an error; reference images a model cannot take are left out.

``output`` is a path into the model's output: ``"images[0]"``, ``"video"``,
``"[0]"``; ``""`` is the whole output. A file object there is ``{"url": ...}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recoil.errors import ConfigError, PayloadError, describe, did_you_mean
from recoil.model.requests import Request

FILE_FIELDS = ("image", "end_image", "video", "reference_audio")
"""Request fields holding one input file."""
MEDIA_SOURCES = (*FILE_FIELDS, "reference_images", "reference_image")
DERIVED_SOURCES = ("size", "aspect_ratio", "resolution", "frames")
FIELD_SOURCES = (
    "prompt",
    "negative_prompt",
    "seed",
    "steps",
    "guidance",
    "strength",
    "scale",
    "fps",
    "duration_s",
    "voice",
    "sample_rate",
    "width",
    "height",
)
SOURCES = (*FIELD_SOURCES, *DERIVED_SOURCES, *MEDIA_SOURCES)
TYPES = ("integer", "number", "string", "boolean")
_RATIO_TOLERANCE = 0.10
_PATH_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")
_PATH = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_-]*|\[\d+\])(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\])*")

FileUrls = Mapping[str, str | Sequence[str]]
"""Media source -> the URL (or URLs, for ``reference_images``) the model gets."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Input:
    """One request value and the model input it goes to."""

    source: str
    to: str
    type: str | None = None
    choices: tuple[Any, ...] = ()
    map: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """How one hosted model is called (see the module docstring)."""

    model: str
    modality: str
    inputs: tuple[Input, ...]
    provider: str = ""
    output: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    origin: str = "recoil.toml"
    """Where the binding comes from, for messages: ``recoil.toml`` or its source URL."""
    generic: bool = False
    """A fallback for a model without a binding: sends only inputs its schema names."""

    @property
    def media(self) -> frozenset[str]:
        """The media sources this binding sends somewhere."""
        return frozenset(i.source for i in self.inputs if i.source in MEDIA_SOURCES)

    def names(self) -> set[str]:
        """Every model input this binding may send."""
        return {i.to for i in self.inputs} | set(self.defaults)

    def without(self, names: set[str]) -> Binding:
        """This binding minus the inputs and defaults going to ``names``."""
        return Binding(
            model=self.model,
            modality=self.modality,
            provider=self.provider,
            inputs=tuple(i for i in self.inputs if i.to not in names),
            output=self.output,
            defaults={k: v for k, v in self.defaults.items() if k not in names},
            origin=self.origin,
            generic=self.generic,
        )

    def check_media(self, request: Request) -> None:
        """Refuse a request whose input files this model has no input for."""
        for name in FILE_FIELDS:
            if getattr(request, name, None) is not None and name not in self.media:
                raise PayloadError(
                    request.modality,
                    name,
                    f"{self.model} takes no {name!r} input ({self.where}); use a model that "
                    f"does, or bind {name} in "
                    f"[providers.{self.provider}.bindings.{self.model!r}.inputs]",
                )

    @property
    def where(self) -> str:
        """``binding from <origin>``, for messages."""
        return f"binding from {self.origin}"

    def body(self, request: Request, urls: FileUrls) -> dict[str, Any]:
        """The model's input for ``request``: defaults, bound values, then params."""
        body: dict[str, Any] = dict(self.defaults)
        for spec in self.inputs:
            value = _source_value(request, spec.source, urls)
            if value is None:
                continue
            body[spec.to] = _form(self.model, request, spec, value)
        for key, value in request.params.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        return body

    def result(self, output: Any) -> Any:
        """The part of the model's output that is the result (``None`` if it is absent)."""
        return output_at(output, self.output)


def output_at(output: Any, path: str) -> Any:
    """The part of ``output`` at ``path`` (``"images[0]"``, ``""``: all), or ``None``."""
    value = output
    for name, index in _PATH_PART.findall(path):
        if name:
            value = value.get(name) if isinstance(value, Mapping) else None
        else:
            i = int(index)
            value = value[i] if isinstance(value, list) and i < len(value) else None
        if value is None:
            return None
    return value


def load_bindings(
    provider: str, shipped: Mapping[str, Mapping[str, Any]], options: Mapping[str, Any]
) -> dict[str, Binding]:
    """The shipped bindings with ``options["bindings"]`` (recoil.toml) over them, by model.

    Raises :class:`ConfigError` naming the bad key.
    """
    found = {model: parse_binding(provider, model, table) for model, table in shipped.items()}
    tables = options.get("bindings", {})
    if not isinstance(tables, Mapping):
        raise ConfigError(f"[providers.{provider}] bindings must be a table of model bindings")
    for model, table in tables.items():
        base = shipped.get(str(model))
        merged = _over(base, table) if base is not None and isinstance(table, Mapping) else table
        found[str(model)] = parse_binding(provider, str(model), merged)
    return found


def _over(shipped: Mapping[str, Any], table: Mapping[str, Any]) -> dict[str, Any]:
    """A recoil.toml table over a shipped binding: keys replace, inputs and defaults merge.

    An input set to ``false`` is removed (the model is not sent that field).
    """
    merged = {**shipped, **table, "source": table.get("source", "recoil.toml")}
    for key in ("inputs", "defaults"):
        mine, theirs = shipped.get(key, {}), table.get(key, {})
        if isinstance(theirs, Mapping):
            joined = {**mine, **theirs}
            merged[key] = {k: v for k, v in joined.items() if v is not False}
    return merged


def parse_binding(provider: str, model: str, table: Any, *, generic: bool = False) -> Binding:
    """One binding from its table (see the module docstring)."""
    key = f"[providers.{provider}.bindings.{model!r}]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{key} must be a table with modality, output and inputs")
    known = {"modality", "output", "inputs", "defaults", "source"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(
            f"{key}: unknown key {unknown[0]!r}{did_you_mean(unknown[0], sorted(known))}; "
            "known: modality, output, inputs, defaults"
        )
    modality, output = table.get("modality"), table.get("output", "")
    if not isinstance(modality, str) or not modality:
        raise ConfigError(f'{key} needs modality = "keyframe", "video", "audio" or "upscale"')
    if not isinstance(output, str) or (output and not _PATH.fullmatch(output)):
        raise ConfigError(f'{key}: output must be a path like "video" or "images[0]"')
    inputs_table = table.get("inputs", {})
    defaults = table.get("defaults", {})
    if not isinstance(inputs_table, Mapping) or not isinstance(defaults, Mapping):
        raise ConfigError(f"{key}: inputs and defaults must be tables")
    inputs = tuple(
        _input(f"{key}.inputs.{name}", str(name), spec) for name, spec in inputs_table.items()
    )
    origin = str(table.get("source") or "recoil.toml")
    return Binding(
        model=model,
        modality=modality,
        provider=provider,
        inputs=inputs,
        output=output,
        defaults=dict(defaults),
        origin=origin,
        generic=generic,
    )


def _input(key: str, source: str, spec: Any) -> Input:
    if source not in SOURCES:
        raise ConfigError(
            f"{key}: {source!r} is not a request field{did_you_mean(source, SOURCES)}; "
            f"bindable: {', '.join(SOURCES)}"
        )
    if isinstance(spec, str) and spec:
        return Input(source=source, to=spec)
    if not isinstance(spec, Mapping) or not isinstance(spec.get("to"), str) or not spec["to"]:
        raise ConfigError(f'{key}: expected "model_input" or {{ to = "model_input", ... }}')
    unknown = sorted(set(spec) - {"to", "type", "choices", "map"})
    if unknown:
        raise ConfigError(f"{key}: unknown key {unknown[0]!r}; known: to, type, choices, map")
    kind, choices, mapping = spec.get("type"), spec.get("choices", []), spec.get("map", {})
    if kind is not None and kind not in TYPES:
        raise ConfigError(f"{key}: type must be one of {', '.join(TYPES)}, got {describe(kind)}")
    if not isinstance(choices, list) or not isinstance(mapping, Mapping):
        raise ConfigError(f"{key}: choices must be a list and map a table")
    return Input(source=source, to=spec["to"], type=kind, choices=tuple(choices), map=mapping)


def _source_value(request: Request, source: str, urls: FileUrls) -> Any:
    """The request's value for ``source`` (``None``: unset, so not sent)."""
    if source in MEDIA_SOURCES:
        return _media_value(source, urls)
    if source in ("size", "aspect_ratio", "resolution"):
        width, height = getattr(request, "width", None), getattr(request, "height", None)
        if width is None or height is None:
            return None
        if source == "size":
            return {"width": width, "height": height}
        return (width, height) if source == "aspect_ratio" else min(width, height)
    value = getattr(request, source, None)
    if source in ("prompt", "negative_prompt") and not value:
        return None
    return value


def _media_value(source: str, urls: FileUrls) -> Any:
    if source == "reference_image":
        refs = urls.get("reference_images") or ()
        return refs[0] if refs else None
    value = urls.get(source)
    if isinstance(value, list | tuple):
        return list(value) or None
    return value or None


def _form(model: str, request: Request, spec: Input, value: Any) -> Any:
    """``value`` in the form the model takes (see the module docstring)."""
    if spec.map and isinstance(value, str | int | float) and str(value) in spec.map:
        value = spec.map[str(value)]
    if spec.source == "aspect_ratio":
        return _aspect_ratio(model, request, spec, value)
    if spec.source == "resolution":
        return _resolution(spec, value)
    if spec.choices and isinstance(value, int | float) and not isinstance(value, bool):
        return _at_least(model, request, spec, float(value))
    return _typed(spec, value)


def _typed(spec: Input, value: Any) -> Any:
    if spec.type is None or not isinstance(value, int | float) or isinstance(value, bool):
        return value
    if spec.type == "integer":
        # A clip must cover its beat: durations round up, other numbers to the nearest.
        return math.ceil(value - 1e-9) if spec.source == "duration_s" else round(value)
    if spec.type == "number":
        return float(value)
    if spec.type == "string":
        return _number_text(value)
    return bool(value)


def _at_least(model: str, request: Request, spec: Input, value: float) -> Any:
    """The smallest choice at least ``value``; none is an error naming them."""
    numeric = [(c, _number(c)) for c in spec.choices]
    fitting = sorted((n, c) for c, n in numeric if n is not None and n >= value - 1e-9)
    if fitting:
        return fitting[0][1]
    shown = ", ".join(str(c) for c in spec.choices)
    unit = " s" if spec.source == "duration_s" else ""
    raise PayloadError(
        request.modality,
        spec.source,
        f"{model} takes {spec.to} {shown} only, and {_number_text(value)}{unit} is more than "
        f"the largest; {_fix(spec.source)}",
    )


def _aspect_ratio(model: str, request: Request, spec: Input, size: tuple[int, int]) -> str:
    width, height = size
    if not spec.choices:
        divisor = math.gcd(width, height)
        return f"{width // divisor}:{height // divisor}"
    wanted = width / height
    ratios = [(abs(math.log(r / wanted)), c) for c in spec.choices if (r := _ratio(c))]
    best = min(ratios, default=None)
    if best is None or best[0] > math.log(1 + _RATIO_TOLERANCE):
        shown = ", ".join(str(c) for c in spec.choices)
        raise PayloadError(
            request.modality,
            "aspect_ratio",
            f"{model} makes aspect ratios {shown}, none within 10 % of {width}x{height}; "
            "change project.resolution or use another model",
        )
    return str(best[1])


def _resolution(spec: Input, short_side: int) -> Any:
    if not spec.choices:
        return f"{short_side}p"
    sized = sorted((n, c) for c in spec.choices if (n := _leading_number(c)) is not None)
    if not sized:
        return spec.choices[0]
    fitting = [c for n, c in sized if n >= short_side]
    return fitting[0] if fitting else sized[-1][1]


def _fix(source: str) -> str:
    if source == "duration_s":
        return "shorten the beat (or split it), or use a model that makes longer clips"
    return f"change the request's {source} or use another model"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _leading_number(value: Any) -> int | None:
    match = re.match(r"\s*(\d+)", str(value))
    return int(match[1]) if match else None


def _ratio(value: Any) -> float | None:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*", str(value))
    if match is None or float(match[2]) == 0:
        return None
    return float(match[1]) / float(match[2])


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
