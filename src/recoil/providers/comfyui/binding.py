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
template's value; payload parameters no binding names are ignored.

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
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recoil.errors import ConfigError, PayloadError
from recoil.model.requests import Request

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

    def fill(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of the workflow with every bound value written into its targets."""
        prompt = copy.deepcopy(dict(self.workflow))
        for name, value in values.items():
            for target in self.inputs.get(name, ()):
                prompt[target.node]["inputs"][target.input] = value
        return prompt

    def problems(self, object_info: Mapping[str, Any] | None) -> list[str]:
        """What keeps this template from running: missing nodes, classes, inputs.

        ``object_info`` is the server's ``GET /object_info``; without it only
        the template's own consistency is checked.
        """
        where = f"comfyui template {self.name!r} ({self.source})"
        found: list[str] = []
        if self.output not in self.workflow:
            found.append(f"{where}: output node {self.output!r} is not in the workflow")
        for name, targets in self.inputs.items():
            for target in targets:
                if target.node not in self.workflow:
                    found.append(
                        f"{where}: binding {name} -> {target}: node {target.node!r} "
                        "is not in the workflow"
                    )
                elif object_info is not None:
                    known = _input_names(object_info.get(self.class_type(target.node)))
                    if known is not None and target.input not in known:
                        found.append(
                            f"{where}: binding {name} -> {target}: node {target.node} "
                            f"({self.class_type(target.node)}) has no input "
                            f"{target.input!r}; it has {', '.join(sorted(known))}"
                        )
        if object_info is not None:
            missing = sorted(
                {self.class_type(n) for n in self.workflow} - set(object_info), key=str
            )
            for class_type in missing:
                found.append(
                    f"{where}: node class {class_type!r} is not installed on the server "
                    "(install the custom node pack that provides it)"
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


def request_values(request: Request) -> dict[str, Any]:
    """The request's bindable values (media fields excluded), unset ones left out."""
    values: dict[str, Any] = {k: v for k, v in request.params.items() if v is not None}
    data = request.to_dict()
    for name in ("shot", "params", "provider", "model", *MEDIA_FIELDS):
        data.pop(name, None)
    values.update({k: v for k, v in data.items() if v is not None and not isinstance(v, list)})
    if not request.negative_prompt:
        values.pop("negative_prompt", None)
    frames = getattr(request, "frames", None)
    if isinstance(frames, int):
        values["frames"] = frames
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


def _input_names(info: Any) -> set[str] | None:
    if not isinstance(info, Mapping) or not isinstance(info.get("input"), Mapping):
        return None
    names: set[str] = set()
    for group in ("required", "optional"):
        section = info["input"].get(group)
        if isinstance(section, Mapping):
            names.update(section)
    return names
