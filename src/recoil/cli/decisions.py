"""``recoil approve``, ``reject`` and ``retake``: review decisions from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from recoil.cli.app import app


@app.command("approve")
def approve_command(
    path: Path = typer.Argument(..., help="The project folder."),
    take_id: str = typer.Argument(..., help="The take to approve."),
    note: str | None = typer.Option(None, "--note", help="A note to keep with the approval."),
    author: str | None = typer.Option(None, "--author", help="Who approves (default: you)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Approve a take: it becomes its beat's primary."""
    from recoil.production.review import approve

    take = approve(path, take_id, note=note, author=author)
    _done(
        as_json,
        {"take_id": take.take_id, "review": "approved", "primary": True},
        f"approved {take.take_id}; it is now the primary (recoil export {path} to re-cut)",
    )


@app.command("reject")
def reject_command(
    path: Path = typer.Argument(..., help="The project folder."),
    take_id: str = typer.Argument(..., help="The take to send back."),
    note: str = typer.Option(..., "--note", help="What to change."),
    frame: int | None = typer.Option(None, "--frame", min=0, help="Frame the note is about."),
    author: str | None = typer.Option(None, "--author", help="Who rejects (default: you)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Mark a take for retake with a note; a new take of its beat is queued."""
    from recoil.production.review import reject

    new = reject(path, take_id, note=note, author=author, frame=frame)
    _done(
        as_json,
        {"take_id": take_id, "review": "retake", "queued": new.take_id},
        f"{take_id} marked retake; queued {new.take_id} (recoil run {path})",
    )


@app.command("retake")
def retake_command(
    path: Path = typer.Argument(..., help="The project folder."),
    beat_id: str = typer.Argument(..., help="The beat to shoot again."),
    note: str | None = typer.Option(None, "--note", help="What the new take should change."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Queue a new take of a beat (a new seed); it runs on the next ``recoil run``."""
    from recoil.production.review import retake

    take = retake(path, beat_id, note=note)
    _done(
        as_json,
        {"beat_id": beat_id, "queued": take.take_id, "seed": take.seed},
        f"queued {take.take_id} (seed {take.seed}); run it with: recoil run {path}",
    )


def _done(as_json: bool, data: dict[str, object], text: str) -> None:
    typer.echo(json.dumps(data) if as_json else text)
