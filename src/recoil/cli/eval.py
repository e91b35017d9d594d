"""``recoil eval``: score files outside any project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from recoil.cli.app import app

if TYPE_CHECKING:
    from recoil.evals.evaluate import Evaluation


@app.command("eval")
def eval_command(
    files: list[Path] = typer.Argument(..., help="Images, clips or sounds to score."),
    modality: str | None = typer.Option(
        None, "--modality", help="keyframe, video, audio or upscale (default: from the file)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Score files with the built-in scorers (and plugins); every score is in [0, 1]."""
    from recoil.errors import ValidationError
    from recoil.evals.evaluate import evaluate
    from recoil.evals.subject import MODALITIES, Subject, infer_modality

    if modality is not None and modality not in MODALITIES:
        raise ValidationError(
            f"--modality must be one of {', '.join(MODALITIES)}, got {modality!r}"
        )
    results = []
    for file in files:
        kind = modality or infer_modality(file)
        results.append((file, kind, evaluate(Subject(path=file, modality=kind))))
    if as_json:
        typer.echo(json.dumps([_as_dict(f, k, e) for f, k, e in results], indent=2))
        return
    for file, kind, evaluation in results:
        typer.echo(f"{file} ({kind})")
        for result in evaluation.results:
            figures = ", ".join(f"{k} {v:.4g}" for k, v in result.score.measurements.items())
            typer.echo(f"  {result.scorer:<18} {result.score.value:.3f}  {figures}")
        for skipped in evaluation.skipped:
            typer.echo(f"  {skipped}")


def _as_dict(file: Path, modality: str, evaluation: Evaluation) -> dict[str, Any]:
    return {
        "file": str(file),
        "modality": modality,
        "scores": {
            r.scorer: {
                "value": r.score.value,
                "version": r.version,
                "measurements": dict(r.score.measurements),
            }
            for r in evaluation.results
        },
        "skipped": [{"scorer": s.scorer, "reason": s.reason} for s in evaluation.skipped],
    }
