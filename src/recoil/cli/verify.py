"""``recoil verify``: hash every output file a project's receipts promise."""

from __future__ import annotations

from pathlib import Path

import typer

from recoil.cli.app import app


@app.command("verify")
def verify_command(
    path: Path = typer.Argument(..., help="The project folder."),
) -> None:
    """Hash every output file the project's receipts promise; exit 1 if any is missing or
    damaged (the next `recoil run` regenerates those)."""
    from recoil.production.repair import verify_project

    checked = verify_project(path)
    for damage in checked.damage:
        typer.echo(f"damaged: {damage.line()}", err=True)
    if checked.damage:
        typer.echo(
            f"error: {len(checked.damage)} of {checked.files} output files are missing or "
            f"damaged; `recoil run {path}` regenerates them",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"ok: {checked.files} output files intact")
