"""``recoil shootout``: one prompt across providers, models and seeds, side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from recoil.cli.app import app
from recoil.cli.dispatch import parse_params

if TYPE_CHECKING:
    from recoil.production.shootout import Shootout


@app.command("shootout")
def shootout_command(
    prompt: str = typer.Argument(..., help="The prompt every provider gets."),
    providers: str = typer.Option(
        ..., "--providers", help="Providers to compare, comma-separated (e.g. previz,fake)."
    ),
    seeds: str = typer.Option("1-4", "--seeds", help="Seeds: a range and/or list, e.g. 1-4,9."),
    models: str = typer.Option(
        "", "--models", help="Models to ask each provider for, comma-separated (default: its own)."
    ),
    modality: str = typer.Option("keyframe", "--modality", help="keyframe, video or audio."),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for the results (default: shootouts/<prompt> in --project)."
    ),
    project: Path = typer.Option(
        Path(), "--project", help="Folder whose recoil.toml configures providers and scorers."
    ),
    param: list[str] = typer.Option(
        [], "--param", help="Extra payload field as KEY=VALUE (e.g. --param width=640)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Generate and score one prompt per provider x model x seed; write a grid and a page.

    Run again, it generates nothing: every result is a cache hit.
    """
    from recoil.production.shootout import shootout, shootout_folder

    result = shootout(
        prompt,
        providers=_names(providers, "--providers"),
        seeds=parse_seeds(seeds),
        models=_names(models, "--models") if models.strip() else (None,),
        modality=modality,
        params=parse_params(param),
        out=out if out is not None else shootout_folder(project, prompt),
        project=project,
    )
    if as_json:
        typer.echo(json.dumps(_as_dict(result), indent=2))
    else:
        _print(result)
    raise typer.Exit(1 if result.failed else 0)


def _print(result: Shootout) -> None:
    for cell in result.cells:
        name = f"{cell.provider} / {cell.model} seed {cell.seed}"
        if not cell.succeeded:
            typer.echo(f"{name}: failed: {cell.error}")
            continue
        score = "unscored" if cell.score is None else f"score {cell.score:.3f}"
        reused = " (cached)" if cell.cached else ""
        typer.echo(f"{name}: {score}, cost {cell.cost:.4f}, {cell.seconds:.1f} s{reused}")
    for note in result.notes:
        typer.echo(f"note: {note}")
    if result.best is not None:
        best = result.best
        typer.echo(f"best: {best.provider} / {best.model} seed {best.seed} ({best.score or 0:.3f})")
    typer.echo(f"grid: {result.grid}")
    typer.echo(f"page: {result.page}")
    typer.echo(f"{result.generated} generated, {result.cached} cached, {result.failed} failed")


def _as_dict(result: Shootout) -> dict[str, object]:
    return {
        "prompt": result.prompt,
        "modality": result.modality,
        "grid": str(result.grid),
        "page": str(result.page),
        "best": None if result.best is None else result.best.receipt_id,
        "cells": [
            {
                "provider": c.provider,
                "model": c.model,
                "seed": c.seed,
                "receipt_id": c.receipt_id,
                "media": None if c.media is None else str(c.media),
                "error": c.error,
                "cost": c.cost,
                "seconds": c.seconds,
                "cached": c.cached,
                "score": c.score,
                "scores": dict(c.scores),
            }
            for c in result.cells
        ],
        "notes": list(result.notes),
    }


def _names(text: str, option: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise typer.BadParameter(
            f"expected names separated by commas (e.g. previz,fake), got {text!r}",
            param_hint=f"'{option}'",
        )
    return list(dict.fromkeys(names))


def parse_seeds(text: str) -> list[int]:
    """``"1-4,9"`` -> ``[1, 2, 3, 4, 9]``; a bad part is a usage error naming it."""
    seeds: list[int] = []
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            low = int(first)
            high = int(last) if dash else low
        except ValueError:
            low = high = -1
        if low < 0 or high < low or high - low >= 1000:
            raise typer.BadParameter(
                f"{part.strip()!r} is not a seed or a range of seeds (e.g. 1-4,9)",
                param_hint="'--seeds'",
            )
        seeds.extend(range(low, high + 1))
    return list(dict.fromkeys(seeds))
