"""``recoil run``: make the film of a project, with live progress."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from recoil.cli.app import app
from recoil.cli.export import print_export

if TYPE_CHECKING:
    from recoil.model.take import Take
    from recoil.model.workflow import WorkflowStep
    from recoil.production.run import RunOutcome

_SHOWN_FAILURES = 20


@app.command("run")
def run_command(
    path: Path = typer.Argument(..., help="The project folder."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the plan and check the providers; generate nothing."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Generate even identical requests."),
    budget: float | None = typer.Option(None, "--budget", min=0, help="Stop past this spend."),
    concurrency: int | None = typer.Option(None, "--concurrency", min=1, help="Steps in flight."),
    provider: str | None = typer.Option(None, "--provider", help="Use this provider for all."),
    ray: bool = typer.Option(
        False, "--ray", help="Run dispatches as Ray tasks (default: [run] executor)."
    ),
    no_eval: bool = typer.Option(False, "--no-eval", help="Do not score the new takes."),
) -> None:
    """Generate every pending take, choose primaries, export the cut and timeline."""
    import asyncio

    from recoil.execution.interrupt import interruptible
    from recoil.production.run import RunOptions, run_production

    options = RunOptions(
        dry_run=dry_run,
        use_cache=not no_cache,
        budget=budget,
        concurrency=concurrency,
        provider=provider,
        executor="ray" if ray else None,
        evaluate=not no_eval,
    )
    progress = _progress()

    async def main() -> RunOutcome:
        async with interruptible() as on_scheduler:
            return await run_production(path, options, progress=progress, on_scheduler=on_scheduler)

    outcome = asyncio.run(main())
    _print_outcome(outcome)
    raise typer.Exit(outcome.exit_code)


def _print_outcome(outcome: RunOutcome) -> None:
    if outcome.dry_run:
        for line in outcome.plan:
            typer.echo(
                f"{line.scene_id}/{line.beat_id}  {line.take_id}: {line.dispatches} dispatches, "
                f"~{line.estimate:.4f} {outcome.currency}"
            )
        dispatches = sum(line.dispatches for line in outcome.plan)
        beats = len({line.beat_id for line in outcome.plan})
        typer.echo(
            f"plan: {beats} beats, {len(outcome.plan)} takes, {dispatches} dispatches, "
            f"estimated cost {outcome.estimate:.4f} {outcome.currency} (dry run: nothing sent)"
        )
        return
    for note in outcome.notes:
        typer.echo(f"note: {note}")
    for stop in outcome.report.budget_stops[:5]:
        typer.echo(f"budget: {stop}")
    for failure in outcome.failures[:_SHOWN_FAILURES]:
        typer.echo(f"failed: {failure}", err=True)
    if len(outcome.failures) > _SHOWN_FAILURES:
        typer.echo(
            f"failed: ... and {len(outcome.failures) - _SHOWN_FAILURES} more "
            "(see: recoil receipts); `recoil run` tries them again",
            err=True,
        )
    elif outcome.failures:
        typer.echo("failed steps are tried again by the next `recoil run`", err=True)
    typer.echo(outcome.report.summary())
    if outcome.export is not None:
        print_export(outcome.export)


def _progress() -> _PlainProgress | _RichProgress:
    return _RichProgress() if sys.stderr.isatty() else _PlainProgress()


class _PlainProgress:
    """One line per finished step, for logs and pipes."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0

    def start(self, total: int) -> None:
        self.total = total
        typer.echo(f"running {total} steps", err=True)

    def step_done(self, step: WorkflowStep, take: Take | None) -> None:
        self.done += 1
        name = f"{take.take_id}/{step.step_id}" if take is not None else step.step_id
        cached = " (cached)" if step.receipt is not None and step.receipt.cached else ""
        reason = f": {step.error}" if step.error else ""
        typer.echo(
            f"[{self.done}/{self.total}] {name}: {step.status.value}{cached}{reason}", err=True
        )

    def finish(self) -> None:
        """Nothing to tear down."""


class _RichProgress:
    """A rich progress bar on a terminal."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=False,
        )
        self._task = self._bar.add_task("generating", total=0)

    def start(self, total: int) -> None:
        self._bar.update(self._task, total=total)
        self._bar.start()

    def step_done(self, step: WorkflowStep, take: Take | None) -> None:
        name = f"{take.take_id}/{step.step_id}" if take is not None else step.step_id
        self._bar.update(self._task, advance=1, description=f"{name} {step.status.value}")

    def finish(self) -> None:
        self._bar.stop()
