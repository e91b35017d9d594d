"""``recoil score``: score every take that lacks a current score, generating nothing."""

from __future__ import annotations

from pathlib import Path

import typer

from recoil.cli.app import app


@app.command("score")
def score_command(
    path: Path = typer.Argument(..., help="The project folder."),
) -> None:
    """Score the succeeded takes that lack scores from the current scorers; choose primaries."""
    from recoil.production.scoring import score_project

    outcome = score_project(path)
    for note in outcome.notes:
        typer.echo(f"note: {note}")
    typer.echo(
        f"scored {outcome.scored} of {outcome.receipts} outputs "
        f"({outcome.records} new scores); nothing was generated"
    )
