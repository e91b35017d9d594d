"""The ``recoil`` command: one typer app, one module per command group.

Business logic lives in the library; commands parse arguments, call it and
print. Errors derived from :class:`~recoil.errors.RecoilError` are caught in
one place and printed as one line with their exit code (a traceback only with
``--debug``).
"""

from __future__ import annotations

import sys

import typer

from recoil.errors import RecoilError

app = typer.Typer(
    name="recoil",
    help="A production engine for AI film: shot list -> keyframes, clips, audio, cut.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: importing rich would double `recoil --help` time
)

_debug = False


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    global _debug  # noqa: PLW0603 - one flag for the one error handler below
    _debug = debug


def _register() -> None:
    # Command modules attach themselves to ``app`` on import.
    from recoil.cli import commands  # noqa: F401


def main() -> None:
    """Console entry point."""
    _register()
    try:
        code = app(standalone_mode=False)
    except RecoilError as exc:
        if _debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.Abort):
            typer.echo("aborted", err=True)
            sys.exit(130)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)
