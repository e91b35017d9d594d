"""SPEC 12: every usage error of every command is one line on stderr and exit code 2.

The commands are read from the app, so a new command is covered without a new test.
"""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from typer.testing import Result

from recoil.cli.app import app
from tests.unit.cli.running import Recoil, error_line

COMMANDS = typer.main.get_group(app).commands
NAMES = sorted(COMMANDS)


def usage_error(result: Result) -> str:
    """The one ``error:`` line of a usage error, which exits 2."""
    line = error_line(result)
    assert result.exit_code == 2, line
    return line


def arguments(name: str) -> list[Any]:
    return [p for p in COMMANDS[name].params if p.param_type_name == "argument"]


def options(name: str) -> list[Any]:
    return [p for p in COMMANDS[name].params if p.param_type_name == "option"]


def test_bare_recoil_names_the_commands(recoil: Recoil) -> None:
    for args in [(), ("--debug",)]:
        line = usage_error(recoil(*args))
        assert line == f"error: missing command; one of: {', '.join(COMMANDS)}; see recoil --help"


def test_unknown_command(recoil: Recoil) -> None:
    # The tests below are for every command the app has: make sure they are found.
    assert {"init", "run", "dispatch", "status", "approve", "reject", "retake"} <= set(NAMES)
    line = usage_error(recoil("nosuch"))
    assert (
        line == f"error: unknown command 'nosuch'; one of: {', '.join(COMMANDS)}; see recoil --help"
    )
    assert usage_error(recoil("ru", "x")) == (
        "error: unknown command 'ru' (did you mean 'run'?); see recoil --help"
    )


def test_unknown_option_of_recoil(recoil: Recoil) -> None:
    assert usage_error(recoil("--verbose", "run")) == (
        "error: no such option --verbose; see recoil --help"
    )


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option(recoil: Recoil, name: str) -> None:
    line = usage_error(recoil(name, "--no-such-option"))
    assert line == (
        f"error: recoil {name}: no such option --no-such-option (see: recoil {name} --help)"
    )
    # A near miss of a real option is suggested.
    long = [opt for p in options(name) for opt in p.opts if opt.startswith("--")]
    option = [*long, "--help"][0]
    assert f"(did you mean {option!r}?)" in usage_error(recoil(name, option + "x"))
    # Help is still help: stdout, exit 0.
    helped = recoil(name, "--help")
    assert (helped.exit_code, helped.stderr) == (0, "")
    assert f"recoil {name}" in helped.stdout


@pytest.mark.parametrize("name", [name for name in NAMES if arguments(name)])
def test_missing_argument(recoil: Recoil, name: str) -> None:
    """Each required argument in turn, the ones before it given."""
    required = [p for p in arguments(name) if p.required]
    for given, missing in enumerate(required):
        line = usage_error(recoil(name, *["x"] * given))
        assert line.lower() == (
            f"error: recoil {name}: missing argument '{missing.name}' (see: recoil {name} --help)"
        )


def valued_options(name: str) -> list[Any]:
    return [p for p in options(name) if not p.is_flag]


@pytest.mark.parametrize("name", [name for name in NAMES if valued_options(name)])
def test_option_without_its_value(recoil: Recoil, name: str) -> None:
    given = ["x"] * len(arguments(name))
    for param in valued_options(name):
        option = param.opts[0]
        line = usage_error(recoil(name, *given, option))
        assert f"option {option!r} requires an argument" in line


@pytest.mark.parametrize("name", [name for name in NAMES if any(p.required for p in options(name))])
def test_missing_option(recoil: Recoil, name: str) -> None:
    given = ["x"] * len(arguments(name))
    line = usage_error(recoil(name, *given))
    assert line.startswith(f"error: recoil {name}: missing option '--")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "x", "--concurrency", "0"], "invalid value for '--concurrency'"),
        (["run", "x", "--budget", "abc"], "invalid value for '--budget'"),
        (["run", "x", "--budget", "-1"], "invalid value for '--budget'"),
        (["reject", "x", "t", "--note", "n", "--frame", "-1"], "invalid value for '--frame'"),
        (
            ["dispatch", "keyframe", "--param", "oops"],
            "invalid value for '--param': expected KEY=VALUE (e.g. --param steps=30), got 'oops'",
        ),
        (["dispatch", "keyframe", "--param", "=1"], "invalid value for '--param'"),
    ],
)
def test_malformed_values(recoil: Recoil, args: list[str], message: str) -> None:
    """Values typer rejects (its wording varies by version) and values recoil rejects."""
    line = usage_error(recoil(*args))
    command = args[0]
    assert line.startswith(f"error: recoil {command}: {message}")
    assert line.endswith(f" (see: recoil {command} --help)")
