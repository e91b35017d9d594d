"""``recoil run`` says which chained beats wait on a person; ``recoil status`` shows stale takes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import beat, shotlist, write_project
from tests.unit.cli.running import Recoil


def _film(tmp_path: Path, strategy: str, takes: int) -> Path:
    text = shotlist(
        {"one": [beat("a", "a door opens"), beat("b", "it shuts", chain_from_previous=True)]},
        title="Doors",
        provider="fake",
        takes_per_beat=takes,
        seed=2,
        primary_strategy=strategy,
    )
    return write_project(tmp_path / "film", text, "[evals]\nenabled = false\n")


@pytest.fixture(autouse=True)
def _sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECOIL_DATABASE_URL", raising=False)


def test_run_says_a_chained_beat_waits_on_a_person(recoil: Recoil, tmp_path: Path) -> None:
    film = _film(tmp_path, "manual", 1)

    result = recoil("run", film)

    assert result.exit_code == 1, result.output  # the cut has a hole where b goes
    assert "note: b waits on a person: approve a take of a (recoil approve TAKE)" in result.stdout
    assert "2 not run" in result.stdout
    assert recoil("approve", film, "a-t01").exit_code == 0
    again = recoil("run", film)
    assert again.exit_code == 0, again.output
    assert "waits on a person" not in again.stdout


def test_status_shows_the_takes_a_new_approval_made_stale(recoil: Recoil, tmp_path: Path) -> None:
    film = _film(tmp_path, "first_success", 2)
    assert recoil("run", film).exit_code == 0

    assert recoil("approve", film, "a-t02").exit_code == 0

    rows = json.loads(recoil("status", film, "--json").stdout)
    takes = {t["take_id"]: t for row in rows for t in row["takes"]}
    assert takes["b-t01"]["stale"] == "chained from a-t01; a's primary is now a-t02"
    assert takes["b-t02"]["stale"] and not takes["a-t01"]["stale"]
    assert takes["b-t03"]["status"] == "pending" and not takes["b-t03"]["stale"]
    table = recoil("status", film).stdout
    assert "succeeded (stale)" in table
