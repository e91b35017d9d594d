"""The loader: every broken shot list in ``broken/`` gives exactly the problems in its
``.expected`` file (one per line, without the file prefix), all at once.

To add a case, drop ``NN_name.yaml`` (or ``.json``) here with a ``NN_name.expected``
next to it, written by hand: these files are the contract for error messages.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recoil.errors import ConfigError, ShotListError
from recoil.shotlist import ShotList, load_shotlist, validate_shotlist

BROKEN = Path(__file__).parent / "broken"
CASES = sorted(p for p in BROKEN.iterdir() if p.suffix in (".yaml", ".yml", ".json"))

MINIMAL = {
    "project": {"title": "T"},
    "scenes": [{"id": "s", "beats": [{"id": "b", "action": "x"}]}],
}


def test_corpus_is_large_and_complete() -> None:
    assert len(CASES) >= 10
    expected = sorted(p.stem for p in BROKEN.glob("*.expected"))
    assert expected == [p.stem for p in CASES]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_broken_shotlist_reports_every_problem(path: Path) -> None:
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    with pytest.raises(ShotListError) as info:
        load_shotlist(path)
    error = info.value
    assert error.file == str(path)
    assert list(error.problems) == expected
    assert str(error) == "\n".join(f"{path}: {line}" for line in expected)
    assert isinstance(error, ConfigError)
    assert error.exit_code == 2


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ShotListError) as info:
        load_shotlist(path)
    assert str(info.value) == f"{path}: file not found"


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "shots.txt"
    path.write_text("project: {}\n")
    with pytest.raises(ShotListError) as info:
        load_shotlist(path)
    assert info.value.problems == ("unsupported file type '.txt'; use .yaml, .yml, .json",)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "shots.yaml"
    path.write_bytes(b"project: {title: \xff}\n")
    with pytest.raises(ShotListError) as info:
        load_shotlist(path)
    assert info.value.problems[0].startswith("cannot read file: ")


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_loads_each_format(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"shots{suffix}"
    path.write_text(json.dumps(MINIMAL), encoding="utf-8")  # JSON is valid YAML too
    shotlist = load_shotlist(path)
    assert shotlist == ShotList.model_validate(MINIMAL)
    assert shotlist.scenes[0].beats[0].duration == 4.0


def test_yaml_anchors_and_block_scalars(tmp_path: Path) -> None:
    path = tmp_path / "shots.yaml"
    path.write_text(
        "project: {title: T}\n"
        "scenes:\n"
        "  - id: s\n"
        "    beats:\n"
        "      - id: a\n"
        "        shot: &close {size: close_up, lens: 85}\n"
        "        action: >\n"
        "          She turns\n"
        "          away.\n"
        "      - {id: b, shot: *close, action: He follows.}\n",
        encoding="utf-8",
    )
    shotlist = load_shotlist(path)
    first, second = shotlist.scenes[0].beats
    assert first.action == "She turns away.\n"
    assert second.shot == first.shot


def test_validate_shotlist_reports_under_the_given_name() -> None:
    with pytest.raises(ShotListError) as info:
        validate_shotlist("<stdin>", {"project": {"title": "T"}})
    assert str(info.value) == "<stdin>: scenes: missing required field"
