"""ComfyUI workflow templates and the bindings that fill them from a request.

A *template* is a workflow a user exported from ComfyUI with "Save (API)": a
JSON object ``{node_id: {"class_type", "inputs", "_meta"?}}``. A *binding*
says which request field goes into which node input, and which node's files
are the result::

    [providers.comfyui.templates.keyframe]
    workflow = "workflows/txt2img.json"   # relative to the project folder
    output = "9"                           # the node whose files are the artifact
    modality = "keyframe"                  # optional; defaults to the template's name
    [providers.comfyui.templates.keyframe.inputs]
    prompt = "6.text"
    negative_prompt = "7.text"
    seed = ["3.seed"]                      # one target or a list of targets
    width = "5.width"
    height = "5.height"
    checkpoint = "4.ckpt_name"             # any payload parameter can be bound too

Bindable names are the request's fields (``prompt``, ``negative_prompt``,
``seed``, ``width``, ``height``, ``frames``, ``fps``, ``duration_s``,
``steps``, ``guidance``, ``strength``, ``scale``, ``voice``...), input media
(``image``, ``end_image``, ``reference_audio``: uploaded first, the uploaded
name goes into the target, e.g. a LoadImage node's ``image``) and any key of
the payload's ``params``. A bound field the request leaves unset keeps the
template's value (a request's defaults, such as 1280x720, are not sent: see
:func:`request_values`); payload parameters no binding names are ignored.

Checked against a server's ``/object_info`` (:meth:`Template.server_problems`):
every node class is installed, every bound input exists on its node, and the
output node is one that saves files (``output_node`` in ComfyUI's terms).

A modality may have several templates, told apart by the input files they
bind: with ``keyframe`` (text-to-image) and ``keyframe_from_image``
(image-to-image, ``modality = "keyframe"``, binding ``image``), a keyframe
chained from the previous beat's last frame runs the second and every other
keyframe the first (see :func:`select_template`).

Without a ``templates`` table the built-in ``keyframe`` template (a stock SD
1.5 text-to-image graph, ``comfyui/templates/txt2img.json``) is used.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from recoil.errors import ConfigError, PayloadError
from recoil.model.requests import Request, VideoRequest

MEDIA_FIELDS = ("image", "end_image", "reference_audio", "video")
"""Request fields holding input files: uploaded, then bound by uploaded name."""

_BUILTIN_DIR = Path(__file__).with_name("templates")
BUILTIN_TEMPLATES: Mapping[str, Mapping[str, Any]] = {
    "keyframe": {
        "workflow": str(_BUILTIN_DIR / "txt2img.json"),
        "output": "9",
        "inputs": {
            "prompt": "6.text",
            "negative_prompt": "7.text",
            "seed": "3.seed",
            "steps": "3.steps",
            "guidance": "3.cfg",
            "width": "5.width",
            "height": "5.height",
            "checkpoint": "4.ckpt_name",
        },
    }
}


@dataclass(frozen=True, slots=True)
class Target:
    """One node input a bound value goes into."""

    node: str
    input: str

    def __str__(self) -> str:
        return f"{self.node}.{self.input}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Template:
    """A workflow in ComfyUI's API format plus its binding."""

    name: str
    modality: str
    workflow: Mapping[str, Any]
    output: str
    inputs: Mapping[str, tuple[Target, ...]] = field(default_factory=dict)
    source: str = ""
    """Where the workflow came from, for messages."""

    def class_type(self, node: str) -> str:
        """The class of node ``node`` (``"?"`` if the node does not exist)."""
        spec = self.workflow.get(node)
        return str(spec.get("class_type", "?")) if isinstance(spec, Mapping) else "?"

    @property
    def where(self) -> str:
        """The template as messages name it."""
        return f"comfyui template {self.name!r} ({self.source})"

    @property
    def workflow_sha256(self) -> str:
        """The sha256 of the workflow's canonical JSON (keys sorted, no spaces, UTF-8)."""
        return _sha256(self.workflow)

    def value(self, name: str) -> Any:
        """The workflow's own value at binding ``name``'s first target (None if unbound)."""
        targets = self.inputs.get(name)
        if not targets or targets[0].node not in self.workflow:
            return None
        return self.workflow[targets[0].node]["inputs"].get(targets[0].input)

    def fill(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of the workflow with every bound value written into its targets."""
        prompt = copy.deepcopy(dict(self.workflow))
        for name, value in values.items():
            for target in self.inputs.get(name, ()):
                prompt[target.node]["inputs"][target.input] = value
        return prompt

    def problems(self, object_info: Mapping[str, Any] | None = None) -> list[str]:
        """What keeps this template from running: missing nodes, classes, inputs.

        ``object_info`` is the server's ``GET /object_info``; without it only
        the template's own consistency is checked.
        """
        found: list[str] = []
        if self.output not in self.workflow:
            found.append(f"{self.where}: output node {self.output!r} is not in the workflow")
        for name, targets in self.inputs.items():
            found.extend(
                f"{self.where}: binding {name} -> {target}: node {target.node!r} "
                "is not in the workflow"
                for target in targets
                if target.node not in self.workflow
            )
        if object_info is not None:
            found += self.server_problems(object_info)
        return found

    def server_problems(self, object_info: Mapping[str, Any]) -> list[str]:
        """What a server (its ``GET /object_info``) lacks to run this template.

        Bound inputs its nodes do not have, an output node that saves nothing,
        and node classes it does not have installed.
        """
        found = self.binding_problems(object_info)
        missing = sorted({self.class_type(n) for n in self.workflow} - set(object_info), key=str)
        found.extend(
            f"{self.where}: node class {class_type!r} is not installed on the server "
            "(install the custom node pack that provides it)"
            for class_type in missing
        )
        return found

    def binding_problems(self, object_info: Mapping[str, Any]) -> list[str]:
        """Bound inputs the server's nodes do not have; an output node that saves nothing.

        ComfyUI ignores an input a node does not have, so a misspelled binding
        would run the workflow's own value without a word; and an output node
        that is not a save node runs the whole graph and returns no file.
        """
        found: list[str] = []
        for name, targets in self.inputs.items():
            for target in targets:
                if target.node not in self.workflow:
                    continue
                class_type = self.class_type(target.node)
                known = _input_names(object_info.get(class_type))
                if known is not None and target.input not in known:
                    found.append(
                        f"{self.where}: binding {name} -> {target}: node {target.node} "
                        f"({class_type}) has no input {target.input!r}; it has "
                        f"{', '.join(sorted(known))}"
                    )
        output_class = self.class_type(self.output)
        info = object_info.get(output_class)
        if (
            self.output in self.workflow
            and isinstance(info, Mapping)
            and not info.get("output_node")
        ):
            found.append(
                f"{self.where}: output node {self.output!r} ({output_class}) is not a save node, "
                "so it writes no files; point output at the node that saves the result "
                "(SaveImage, SaveAnimatedWEBP, SaveVideo, SaveAudio...)"
            )
        return found


def load_templates(options: Mapping[str, Any]) -> dict[str, Template]:
    """The templates configured in ``options`` (the built-in ones when none are).

    Relative workflow paths are read relative to ``options["project_dir"]``.
    Raises :class:`ConfigError` naming the bad key.
    """
    tables = options.get("templates") or BUILTIN_TEMPLATES
    if not isinstance(tables, Mapping):
        raise ConfigError("[providers.comfyui] templates must be a table of templates")
    project_dir = Path(str(options.get("project_dir", ".")))
    return {str(name): _template(str(name), table, project_dir) for name, table in tables.items()}


def _template(name: str, table: Any, project_dir: Path) -> Template:
    key = f"[providers.comfyui.templates.{name}]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{key} must be a table with workflow, output and inputs")
    unknown = set(table) - {"workflow", "output", "inputs", "modality"}
    if unknown:
        raise ConfigError(f"{key}: unknown keys {sorted(unknown)}; known: workflow, output, inputs")
    if not isinstance(table.get("workflow"), str) or not table.get("output"):
        raise ConfigError(
            f'{key} needs workflow = "path/to/workflow_api.json" and output = "<node id>"'
        )
    path = Path(table["workflow"])
    if not path.is_absolute():
        path = project_dir / path
    workflow = _read_workflow(path, key)
    inputs_table = table.get("inputs", {})
    if not isinstance(inputs_table, Mapping):
        raise ConfigError(f'{key}.inputs must map request fields to "node.input" targets')
    inputs: dict[str, tuple[Target, ...]] = {}
    for field_name, spec in inputs_table.items():
        targets = [spec] if isinstance(spec, str) else spec
        if not isinstance(targets, list) or not targets:
            raise ConfigError(f'{key}.inputs.{field_name}: expected "node.input" or a list of them')
        inputs[str(field_name)] = tuple(_target(t, f"{key}.inputs.{field_name}") for t in targets)
    return Template(
        name=name,
        modality=str(table.get("modality", name)),
        workflow=workflow,
        output=str(table["output"]),
        inputs=inputs,
        source=str(path),
    )


def _read_workflow(path: Path, key: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{key}: workflow file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{key}: cannot read workflow {path}: {exc}") from None
    if not isinstance(data, dict) or "nodes" in data:
        raise ConfigError(
            f"{key}: {path} is not an API-format workflow; in ComfyUI use "
            "Workflow > Export (API) (or 'Save (API)') and point to that file"
        )
    for node_id, spec in data.items():
        if not isinstance(spec, dict) or "class_type" not in spec:
            raise ConfigError(f"{key}: {path}: node {node_id!r} has no class_type")
        spec.setdefault("inputs", {})
    return data


def _target(spec: Any, key: str) -> Target:
    if not isinstance(spec, str) or "." not in spec:
        raise ConfigError(f'{key}: expected "node_id.input_name", got {spec!r}')
    node, _, name = spec.partition(".")
    if not node or not name:
        raise ConfigError(f'{key}: expected "node_id.input_name", got {spec!r}')
    return Target(node, name)


def select_template(templates: Mapping[str, Template], request: Request) -> Template:
    """The template for a request: ``model`` names one, else the modality's.

    A modality may have several templates (e.g. text-to-image as ``keyframe``
    and image-to-image as ``keyframe_from_image`` with ``modality =
    "keyframe"``): the one whose media bindings match the request's input
    files wins, so a beat chained from the previous beat's last frame gets
    the image-to-image graph and the others the text-to-image one. The
    candidates are the template named after the modality, then the others of
    that modality in table order; the first that binds exactly the request's
    input files is chosen, else the first that binds them all, else the first
    (and :func:`check_media_bindings` says what it lacks).

    Raises :class:`PayloadError` when none fits.
    """
    modality = request.modality
    if request.model:
        template = templates.get(request.model)
        if template is None:
            raise PayloadError(
                modality,
                "model",
                f"no comfyui template {request.model!r}; configured: {', '.join(templates)}",
            )
        return template
    candidates = [templates[modality]] if modality in templates else []
    candidates += [t for n, t in templates.items() if n != modality and t.modality == modality]
    if not candidates:
        raise PayloadError(
            modality,
            "provider",
            f"no comfyui template for {modality!r}; add [providers.comfyui.templates.{modality}] "
            "with workflow, output and inputs to recoil.toml",
        )
    present = {name for name in MEDIA_FIELDS if getattr(request, name, None) is not None}
    bound = [{name for name in MEDIA_FIELDS if name in t.inputs} for t in candidates]
    for fits in (present.__eq__, present.issubset):
        for template, media in zip(candidates, bound, strict=True):
            if fits(media):
                return template
    return candidates[0]


_NOT_BOUND = frozenset({"shot", "params", "provider", "model", *MEDIA_FIELDS})
"""Request fields that are never values of a node input (media fields are uploaded first)."""


def request_values(request: Request, template: Template) -> dict[str, Any]:
    """The values a request gives its template's bindings (media fields excluded).

    Only the fields the request was given (:attr:`Request.fields_set`) and its
    ``params``: a field left unset holds a default of recoil's, not the
    user's, so the workflow keeps its own value (its size, its frame rate).
    An empty negative prompt keeps the workflow's too. A video's ``frames``
    is its duration, when given, times its frame rate: the request's if it
    gives one, else the one the workflow's ``fps`` target holds.
    """
    values: dict[str, Any] = {k: v for k, v in request.params.items() if v is not None}
    given = request.fields_set - _NOT_BOUND
    if given:
        data = request.to_dict()
        values.update(
            (name, data[name])
            for name in given
            if data.get(name) is not None and not isinstance(data[name], list)
        )
    if not request.negative_prompt:
        values.pop("negative_prompt", None)
    if isinstance(request, VideoRequest) and "duration_s" in given and "frames" not in values:
        fps = request.fps
        if "fps" not in given:
            own = template.value("fps")
            if isinstance(own, int | float) and not isinstance(own, bool) and own > 0:
                fps = float(own)
        values["frames"] = max(1, round(request.duration_s * fps))
    return values


def check_media_bindings(template: Template, request: Request) -> None:
    """Refuse a request whose input media the template has nowhere to put."""
    for name in MEDIA_FIELDS:
        if getattr(request, name, None) is not None and name not in template.inputs:
            raise PayloadError(
                request.modality,
                name,
                f"comfyui template {template.name!r} binds no {name!r} input; add "
                f'{name} = "<LoadImage node id>.image" to its inputs table',
            )


def format_node_errors(body: Mapping[str, Any], template: Template | None = None) -> str:
    """One message naming each failing node, its class, the input and the reason."""
    parts: list[str] = []
    node_errors = body.get("node_errors") or {}
    if isinstance(node_errors, Mapping):
        for node_id, entry in node_errors.items():
            class_type = entry.get("class_type") or (
                template.class_type(str(node_id)) if template else "?"
            )
            for err in entry.get("errors", []):
                extra = err.get("extra_info") or {}
                input_name = extra.get("input_name")
                where = f" input {input_name!r}" if input_name else ""
                reason = str(err.get("message") or "invalid")
                details = str(err.get("details") or "")
                if input_name:
                    details = details.removeprefix(f"{input_name}: ").removeprefix(input_name)
                if details.strip(" ,"):
                    reason = f"{reason}: {details.strip(' ,')}"
                parts.append(
                    f"node {node_id} ({class_type}){where}: {reason} ({err.get('type', '?')})"
                )
    if not parts:
        error = body.get("error") or {}
        if isinstance(error, Mapping):
            text = error.get("message") or "the server rejected the workflow"
            hint = error.get("details")
            parts.append(f"{text}{f' ({hint})' if hint else ''} ({error.get('type', 'error')})")
        else:
            parts.append(str(error))
    return "; ".join(parts)


def format_execution_error(data: Mapping[str, Any]) -> str:
    """The message of a WS/history ``execution_error`` event."""
    exc_type = data.get("exception_type") or "error"
    message = str(data.get("exception_message") or "").strip() or "no message"
    return (
        f"node {data.get('node_id', '?')} ({data.get('node_type', '?')}) failed while "
        f"running: {exc_type}: {message}"
    )


def _sha256(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def graph_sha256(graph: Mapping[str, Any]) -> str:
    """The sha256 of a filled workflow's canonical JSON (as :attr:`Template.workflow_sha256`)."""
    return _sha256(graph)


def _input_names(info: Any) -> set[str] | None:
    if not isinstance(info, Mapping) or not isinstance(info.get("input"), Mapping):
        return None
    names: set[str] = set()
    for group in ("required", "optional"):
        section = info["input"].get(group)
        if isinstance(section, Mapping):
            names.update(section)
    return names
