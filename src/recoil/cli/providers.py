"""``recoil providers``: list a project's providers and check each is ready."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from recoil.cli.app import app


@app.command("providers")
def providers_command(
    path: Path = typer.Argument(..., help="The project folder."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check every provider the project uses: credentials, servers, templates."""
    from recoil.production.providers import check_providers_sync

    checks = check_providers_sync(path)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "name": c.name,
                        "modalities": list(c.modalities),
                        "used": c.used,
                        "ok": c.ok,
                        "problems": list(c.problems),
                    }
                    for c in checks
                ],
                indent=2,
            )
        )
    else:
        for check in checks:
            role = "used" if check.used else "configured"
            serves = ", ".join(check.modalities) or "-"
            typer.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name} ({role}; {serves})")
            for problem in check.problems:
                typer.echo(f"     fix: {problem}")
    raise typer.Exit(0 if all(c.ok for c in checks) else 1)
