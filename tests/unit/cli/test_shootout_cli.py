"""``recoil shootout``: its output, its exit codes and its usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.cli.running import Recoil, error_line

SMALL = ("--param", "width=64", "--param", "height=48")


def test_shootout_prints_each_result_the_best_and_the_files(recoil: Recoil) -> None:
    result = recoil(
        "shootout", "a red door", "--providers", "previz,fake", "--seeds", "1-2", *SMALL
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("previz / previz-storyboard-1 seed 1: score 0.")
    assert lines[3].startswith("fake / fake-keyframe seed 2: score 0.")
    assert any(line.startswith("best: ") for line in lines)
    assert lines[-1] == "4 generated, 0 cached, 0 failed"
    folder = next(Path("shootouts").iterdir())
    assert f"grid: {folder / 'shootout.png'}" in lines
    assert f"page: {folder / 'shootout.html'}" in lines

    again = recoil(
        "shootout", "a red door", "--providers", "previz,fake", "--seeds", "1-2", *SMALL, "--json"
    )
    assert again.exit_code == 0, again.output
    listed = json.loads(again.stdout)
    assert [c["cached"] for c in listed["cells"]] == [True] * 4
    assert listed["best"] in {c["receipt_id"] for c in listed["cells"]}
    assert all(0.0 <= c["score"] <= 1.0 for c in listed["cells"])


def test_a_failed_result_exits_1(recoil: Recoil) -> None:
    result = recoil(
        "shootout",
        "rain",
        "--providers",
        "fake",
        "--seeds",
        "3",
        "--models",
        "a,b",
        "--out",
        "here",
        "--param",
        'params={"fake_fail": "permanent"}',
    )
    assert result.exit_code == 1, result.output
    assert "fake / a seed 3: failed: " in result.stdout
    assert result.stdout.splitlines()[-1] == "0 generated, 0 cached, 2 failed"
    assert Path("here/shootout.png").is_file()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--providers", "previz", "--seeds", "4-1"], "'--seeds': '4-1' is not a seed"),
        (["--providers", "previz", "--seeds", "one"], "'--seeds': 'one' is not a seed"),
        (["--providers", "previz,,fake"], "'--providers': expected names separated by commas"),
        (["--providers", "previz", "--models", "a,"], "'--models': expected names"),
        (["--providers", "previz", "--param", "width"], "'--param': expected KEY=VALUE"),
        (["--providers", "nope"], "no provider 'nope' for modality 'keyframe'"),
        (["--providers", "previz", "--modality", "smell"], "unknown modality 'smell'"),
        (["--providers", "previz", "--param", "width=3"], "field 'width'"),
        ([], "missing option '--providers'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(recoil: Recoil, args: list[str], expected: str) -> None:
    result = recoil("shootout", "a door", *args)
    assert result.exit_code == 2
    assert expected in error_line(result)
    assert not Path("shootouts").exists() or not any(Path("shootouts").iterdir())
