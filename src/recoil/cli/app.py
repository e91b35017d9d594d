"""The ``recoil`` command: one typer app, one module per command group.

Business logic lives in the library; commands parse arguments, call it and
print. Every error is caught in one place, :class:`RecoilGroup`, and printed as
one line on stderr with its exit code: usage errors (unknown command or option,
missing or malformed argument) exit 2, a :class:`~recoil.errors.RecoilError`
its own ``exit_code``, an ``OSError`` (a path that cannot be read or written)
2. A traceback is shown only with ``--debug``, or for a bug.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Sequence
from typing import Any, cast

import typer
import typer.core

from recoil.errors import RecoilError, did_you_mean
from recoil.records.redact import redact_text


def _click_exception(name: str) -> type[Exception]:
    # typer < 0.27 raises the exceptions of the ``click`` package, later versions those of
    # their vendored copy (typer._click), and ``click`` may not be installed at all: take
    # the class from the ancestry of the public typer.BadParameter, whichever click it is.
    return next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == name)


_CLICK_EXCEPTION = _click_exception("ClickException")

_OS_PROBLEMS: dict[int, tuple[str, str]] = {
    errno.EACCES: ("permission denied", "make it and its folder writable by you"),
    errno.EPERM: ("operation not permitted", "make it and its folder writable by you"),
    errno.EROFS: ("read-only file system", "choose a folder on a writable disk"),
    errno.ENOSPC: ("no space left on the disk", "free some space or choose another disk"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or choose another disk"),
    errno.ENOENT: ("no such file or folder", "check the path"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "check the path"),
    errno.EISDIR: ("is a folder, not a file", "give the path of a file"),
    errno.EEXIST: ("already exists", "remove it or choose another name"),
    errno.ENAMETOOLONG: ("name too long", "choose a shorter path"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) and run again"),
}


class RecoilGroup(typer.core.TyperGroup):
    """The root command: every error becomes one line on stderr and an exit code.

    Both the console entry point and typer's ``CliRunner`` go through :meth:`main`.
    """

    debug = False
    """Set by ``--debug``: re-raise recoil's and the OS's errors to show a traceback."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; exit with its code (``standalone_mode``) or return it."""
        if not standalone_mode:
            # A caller embedding the app asked for click's exceptions; give them unchanged.
            return super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        try:
            code = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except _CLICK_EXCEPTION as exc:
            line, status = _click_error(exc)
            typer.echo(line, err=True)
            sys.exit(status)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(130)
        except RecoilError as exc:
            if self.debug:
                raise
            typer.echo(f"error: {redact_text(str(exc))}", err=True)
            sys.exit(exc.exit_code)
        except OSError as exc:
            if self.debug:
                raise
            typer.echo(f"error: {redact_text(_os_error_line(exc))}", err=True)
            sys.exit(2)
        sys.exit(code if isinstance(code, int) else 0)

    # The click classes in these signatures live in ``click`` or in ``typer._click``
    # depending on typer's version, so they are typed loosely.
    def invoke(self, ctx: Any) -> Any:
        """Run the command; Ctrl-C ends it with one line and exit code 130."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """The command named by ``args[0]``; an unknown name is a usage error with a hint."""
        name = args[0]
        unknown = self.get_command(ctx, name) is None and not name.startswith("-")
        if unknown and not ctx.resilient_parsing:
            known = self.list_commands(ctx)
            hint = did_you_mean(name, known) or f"; one of: {', '.join(known)}"
            ctx.fail(f"unknown command {name!r}{hint}")
        return super().resolve_command(ctx, args)


def _click_error(exc: Any) -> tuple[str, int]:
    """``error: recoil run: missing argument 'PATH' (see: recoil run --help)`` and the exit
    code (2 for a usage error)."""
    possibilities = getattr(exc, "possibilities", None)
    if possibilities is not None:
        # click suggests as "(Possible options: ...)"; say it as recoil does elsewhere.
        message = f"no such option {exc.option_name}{did_you_mean(exc.option_name, possibilities)}"
    else:
        # A parameter's message may span lines; the contract is one line.
        lines = (line.strip() for line in exc.format_message().splitlines())
        text = " ".join(line for line in lines if line).rstrip(".")
        message = text[:1].lower() + text[1:]
    status: int = exc.exit_code
    ctx = getattr(exc, "ctx", None)  # only usage errors know their command
    if ctx is None:
        return f"error: {message}", status
    path = ctx.command_path
    help_option = ctx.help_option_names[0] if ctx.help_option_names else "--help"
    if ctx.parent is None:
        return f"error: {message}; see {path} {help_option}", status
    return f"error: {path}: {message} (see: {path} {help_option})", status


def _os_error_line(exc: OSError) -> str:
    """``cannot use /x/cut.mp4: permission denied; make it and its folder writable by you``."""
    reason, fix = _OS_PROBLEMS.get(
        exc.errno or 0, ((exc.strerror or str(exc)).lower(), "check the path and its permissions")
    )
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    if not paths:
        return f"{reason}; run again with --debug for details"
    return f"cannot use {' -> '.join(paths)}: {reason}; {fix}"


app = typer.Typer(
    name="recoil",
    cls=RecoilGroup,
    help="A production engine for AI film: shot list -> keyframes, clips, audio, cut.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: importing rich would double `recoil --help` time
)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    group = cast(RecoilGroup, ctx.command)  # the app is built with cls=RecoilGroup
    group.debug = debug
    if ctx.invoked_subcommand is None:
        # A bare `recoil` is a usage error (exit 2), not a help page with exit 0.
        ctx.fail(f"missing command; one of: {', '.join(group.list_commands(ctx))}")


def _register() -> None:
    # Command modules attach themselves to ``app`` on import.
    from recoil.cli import commands  # noqa: F401


def main() -> None:
    """Console entry point."""
    _register()
    app()
