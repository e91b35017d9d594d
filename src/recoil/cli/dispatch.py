"""``recoil dispatch``: one generation, outside any project plan."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import typer

from recoil.cli.app import app
from recoil.records import codec


@app.command("dispatch")
def dispatch_command(
    modality: str = typer.Argument(..., help="keyframe, video, audio, upscale, or a plugin's."),
    prompt: str = typer.Option("", "--prompt", "-p", help="The prompt (for audio: the text)."),
    provider: str | None = typer.Option(None, "--provider", help="Provider name."),
    project: Path = typer.Option(
        Path(), "--project", help="Project folder for receipts (it must exist)."
    ),
    param: list[str] = typer.Option(
        [], "--param", help="Extra payload field as KEY=VALUE (VALUE parsed as JSON if it can)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the receipt as JSON."),
) -> None:
    """Run one generation and print where the artifact is and its receipt."""
    import asyncio

    from recoil.errors import DispatchError
    from recoil.production.folder import dispatch_in_project

    payload = _payload(prompt, provider, param)
    _check_project_folder(project)
    try:
        receipt = asyncio.run(dispatch_in_project(project, modality, payload))
    except DispatchError as exc:
        if as_json:
            typer.echo(json.dumps(codec.encode(exc.receipt), indent=2, sort_keys=True))
        raise
    if as_json:
        typer.echo(json.dumps(codec.encode(receipt), indent=2, sort_keys=True))
        return
    for artifact in receipt.artifacts.values():
        typer.echo(f"{artifact.name}: {project / artifact.path}")
    cached = " (cached)" if receipt.cached else ""
    typer.echo(
        f"receipt {receipt.receipt_id}: {receipt.modality} via {receipt.provider} "
        f"({receipt.model}) seed {receipt.seed}, cost {receipt.cost.amount:.4f} "
        f"{receipt.cost.currency}{cached}"
    )


def _payload(prompt: str, provider: str | None, params: list[str]) -> dict[str, object]:
    payload: dict[str, object] = {"prompt": prompt, **parse_params(params)}
    if provider:
        payload["provider"] = provider
    return payload


def parse_params(params: list[str]) -> dict[str, object]:
    """``--param KEY=VALUE`` options as payload fields (VALUE parsed as JSON if it can)."""
    payload: dict[str, object] = {}
    for item in params:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(
                f"expected KEY=VALUE (e.g. --param steps=30), got {item!r}", param_hint="'--param'"
            )
        try:
            payload[key] = json.loads(raw)
        except json.JSONDecodeError:
            payload[key] = raw
    return payload


def _check_project_folder(project: Path) -> None:
    # A typo in --project would otherwise start a new folder of receipts and artifacts.
    if project.is_dir():
        return
    if project.exists():
        reason = f"{str(project)!r} is a file, not a folder"
    else:
        folder = shlex.quote(str(project))
        reason = (
            f"folder {str(project)!r} does not exist; create it with: mkdir {folder} "
            f"(or recoil init {folder} for a project with an example shot list)"
        )
    raise typer.BadParameter(reason, param_hint="'--project'")
