"""Running the ``recoil`` app in-process, and reading what it printed."""

from __future__ import annotations

import os
from collections.abc import Callable

from typer.testing import CliRunner, Result

from recoil.cli import commands  # noqa: F401 - registers every command on the app
from recoil.cli.app import app

Recoil = Callable[..., Result]
"""``recoil(*args)``: run the CLI with these arguments."""


def runner() -> Recoil:
    """A :data:`Recoil` on typer's CliRunner (stdout and stderr kept apart)."""
    cli = CliRunner()

    def run(*args: str | os.PathLike[str]) -> Result:
        return cli.invoke(app, [os.fspath(arg) for arg in args])

    return run


def error_line(result: Result) -> str:
    """The one line a failed command printed on stderr (fails the test if it printed more)."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    # Exited on purpose: an exception that escaped would be a traceback outside the runner.
    assert isinstance(result.exception, SystemExit), result.exception
    return lines[0]
