"""``recoil status``: scenes, beats and takes with their run and review status."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer

from recoil.cli.app import app


@app.command("status")
def status_command(
    path: Path = typer.Argument(..., help="The project folder."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Scenes, beats and takes: run and review status, the primary, the score and the cost."""
    from recoil.production.review import status

    rows = status(path)
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("scene", "beat", "take", "run", "review", "primary", "score", "cost", "notes")
    for row in rows:
        if not row.takes:
            table.add_row(row.scene_id, row.beat_id, "-", "-", "-", "", "", "", "")
        for take in row.takes:
            table.add_row(
                row.scene_id,
                row.beat_id + ("" if row.enabled else " (disabled)"),
                take.take_id,
                take.status + (" (stale)" if take.stale else ""),
                take.review,
                "*" if take.primary else "",
                "-" if take.score is None else f"{take.score:.3f}",
                f"{take.cost:.4f}",
                "; ".join([*take.notes, *([f"stale: {take.stale}"] if take.stale else [])]),
            )
    Console(width=160).print(table)
