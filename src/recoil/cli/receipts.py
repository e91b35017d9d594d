"""``recoil receipts``: list receipts, or sum spend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from recoil.cli.app import app
from recoil.records import codec

if TYPE_CHECKING:
    from recoil.store import ProjectStore


@app.command("receipts")
def receipts_command(
    path: Path = typer.Argument(..., help="The project folder."),
    summary: bool = typer.Option(
        False, "--summary", help="Spend by provider, modality, scene, run."
    ),
    run_id: str | None = typer.Option(None, "--run", help="Only this run's receipts."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the project's receipts, or (--summary) what was spent and where."""
    from recoil.production.folder import open_production, open_store
    from recoil.production.primaries import score_lookup

    with open_store(open_production(path)) as store:
        if summary:
            _print_spend(store, as_json=as_json)
            return
        receipts = store.receipts(run_id=run_id)
        scores = score_lookup(store)
    if as_json:
        # eval_scores as they stand: the receipt's own merged with later eval records.
        listed = [{**codec.encode(r), "eval_scores": dict(scores(r))} for r in receipts]
        typer.echo(json.dumps(listed, indent=2))
        return
    for r in receipts:
        flag = " cached" if r.cached else ""
        error = f"  {r.error.message}" if r.error is not None else ""
        scored = scores(r)
        mean = f"  score {sum(scored.values()) / len(scored):.3f}" if scored else ""
        typer.echo(
            f"{r.receipt_id}  {r.status.value:<9} {r.modality:<8} {r.provider:<10} "
            f"{r.cost.amount:8.4f} {r.cost.currency}{flag}{mean}{error}"
        )


def _print_spend(store: ProjectStore, *, as_json: bool) -> None:
    groups = {by: store.spend(by) for by in ("provider", "modality", "scene", "run")}
    if as_json:
        typer.echo(
            json.dumps(
                {
                    by: [
                        {"key": k, "dispatches": n, "cost": c, "currency": cur}
                        for k, n, c, cur in rows
                    ]
                    for by, rows in groups.items()
                },
                indent=2,
            )
        )
        return
    for by, rows in groups.items():
        typer.echo(f"by {by}:")
        for key, count, cost, currency in rows:
            typer.echo(f"  {key:<40} {count:>5} dispatches  {cost:10.4f} {currency}")
