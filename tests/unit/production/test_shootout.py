"""The shootout: one prompt across providers and seeds, scored, gridded, and free to run again."""

from __future__ import annotations

import html.parser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recoil import UnknownProviderError, shootout
from recoil.errors import PayloadError
from recoil.production.shootout import shootout_folder
from tests.helpers import records


class _Cells(html.parser.HTMLParser):
    """The class of every result cell of the page, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.classes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs).get("class") or ""
        if tag == "td" and found.startswith("cell"):
            self.classes.append(found)


def _page_cells(page: Path) -> list[str]:
    parser = _Cells()
    parser.feed(page.read_text())
    return parser.classes


def _config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recoil.toml").write_text(text)
    return folder


def test_a_black_result_is_not_best_and_a_rerun_generates_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path / "p", "[providers.fake]\nblack = 1\ncost = 0.25\n")
    out = tmp_path / "shoot"
    small = {"width": 160, "height": 96}
    first = shootout(
        "a lighthouse at dusk",
        providers=["previz", "fake"],
        seeds=[1, 2, 3],
        out=out,
        params=small,
        project=config,
    )
    assert [(c.provider, c.seed) for c in first.cells] == [
        (p, s) for p in ("previz", "fake") for s in (1, 2, 3)
    ]
    assert first.generated == 6 and first.failed == 0
    assert all(c.media is not None and c.media.is_file() for c in first.cells)
    black = [
        c for c in first.cells if c.media is not None and not np.asarray(Image.open(c.media)).any()
    ]
    assert len(black) == 1 and black[0].provider == "fake"
    assert black[0].scores["exposure"] == min(c.scores["exposure"] for c in first.cells)
    assert first.best is not None and first.best is not black[0]
    assert first.best.score == max(c.score or 0.0 for c in first.cells)
    assert sum(c.cost for c in first.cells) == pytest.approx(0.75)

    with Image.open(first.grid) as grid:
        assert grid.format == "PNG" and grid.size == (12 + 170 + 3 * 268 + 12, 40 + 2 * 228 + 12)
    classes = _page_cells(first.page)
    assert len(classes) == 6
    assert classes.count("cell best") == 1
    assert classes.index("cell best") == first.cells.index(first.best)
    scored_once = len(records(out, "eval"))
    assert scored_once == sum(len(c.scores) for c in first.cells)

    again = shootout(
        "a lighthouse at dusk",
        providers=["previz", "fake"],
        seeds=[1, 2, 3],
        out=out,
        params=small,
        project=config,
    )
    assert again.generated == 0 and all(c.cached for c in again.cells)
    assert sum(c.cost for c in again.cells) == 0.0
    assert [c.scores for c in again.cells] == [c.scores for c in first.cells]
    assert [c.seconds for c in again.cells] == [c.seconds for c in first.cells]
    assert len(records(out, "eval")) == scored_once  # nothing scored again
    assert again.best is not None and again.best.seed == first.best.seed
    assert (again.best.provider, again.best.model) == (first.best.provider, first.best.model)


def test_a_failed_result_is_a_cell_that_says_why(tmp_path: Path) -> None:
    result = shootout(
        "rain",
        providers=["fake"],
        seeds=[1, 2],
        models=["m1", "m2"],
        out=tmp_path / "shoot",
        params={"params": {"fake_fail": "permanent"}},
    )
    assert result.failed == 4 and result.best is None
    assert {c.model for c in result.cells} == {"m1", "m2"}
    assert all(c.error and "\n" not in c.error for c in result.cells)
    assert result.grid.is_file() and "no result" in result.page.read_text()
    assert len(records(tmp_path / "shoot", "receipt")) == 4


def test_bad_input_sends_nothing_and_leaves_no_folder(tmp_path: Path) -> None:
    out = tmp_path / "shoot"
    with pytest.raises(UnknownProviderError, match="nope"):
        shootout("x", providers=["previz", "nope"], seeds=[1], out=out)
    with pytest.raises(PayloadError, match="width"):
        shootout("x", providers=["previz"], seeds=[1], out=out, params={"width": 3})
    assert not out.exists()


def test_the_default_folder_is_stable_per_prompt(tmp_path: Path) -> None:
    first = shootout_folder(tmp_path, "A lighthouse, at dusk!")
    assert first == shootout_folder(tmp_path, "A lighthouse, at dusk!")
    assert first.parent == tmp_path / "shootouts"
    assert first.name.startswith("a-lighthouse-at-dusk-")
    assert first != shootout_folder(tmp_path, "a lighthouse at dusk")
