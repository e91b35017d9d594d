"""``recoil init``: create a project with an example shot list."""

from __future__ import annotations

from pathlib import Path

import typer

from recoil.cli.app import app


@app.command("init")
def init_command(
    path: Path = typer.Argument(..., help="Folder to create the example project in."),
) -> None:
    """Create a project with an example shot list (2 scenes, 5 beats) and settings."""
    from recoil.shotlist import write_example

    write_example(path)
    typer.echo(f"created {path}/shotlist.yaml and {path}/recoil.toml")
    typer.echo(f"next: recoil run {path}")
