"""``recoil export``: the cut, the timeline and the contact sheet from the primaries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from recoil.cli.app import app

if TYPE_CHECKING:
    from recoil.production.export import ExportResult


@app.command("export")
def export_command(
    path: Path = typer.Argument(..., help="The project folder."),
) -> None:
    """Write the cut, the timeline and the contact sheet from the current primaries.

    Exits 1 when the cut has holes (a beat without a usable primary), naming them.
    """
    import asyncio

    from recoil.execution.interrupt import interruptible
    from recoil.production.export import export_current

    async def main() -> ExportResult:
        async with interruptible():  # SIGTERM / Ctrl-C end the export at once
            return await export_current(path)

    result = asyncio.run(main())
    print_export(result)
    raise typer.Exit(1 if result.missing else 0)


def print_export(result: ExportResult) -> None:
    """``wrote ...`` (or ``up to date``) per output; the cut's holes on stderr."""
    for path in result.outputs:
        typer.echo(f"{'wrote' if result.written else 'up to date:'} {path}")
    if result.missing:
        typer.echo(
            f"error: the cut has {len(result.missing)} hole(s) shown as MISSING: "
            f"{', '.join(result.missing)}; run `recoil run` to make their takes, "
            "or `recoil status` to see why",
            err=True,
        )
