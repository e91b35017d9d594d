from __future__ import annotations

import dataclasses
import hashlib
import html.parser
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from recoil.export import BeatCut, Edit, TakeMedia, write_contact_sheet
from recoil.export.pages import ROWS_PER_PAGE
from recoil.export.sheet import fit as _fit


@dataclass
class Cell:
    css: str
    take_id: str = ""
    text: str = ""
    src: str | None = None
    hrefs: list[str] = field(default_factory=list)


class Cells(html.parser.HTMLParser):
    """Collects each ``td``'s class, take id, text, and image/link targets."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[Cell] = []
        self.rows = 0
        self.in_take = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "tr":
            self.rows += 1
        elif tag == "td":
            self.cells.append(Cell(css=values["class"]))
        elif self.cells and values.get("class") == "take":
            self.in_take = True
        elif self.cells and tag == "img":
            self.cells[-1].src = values["src"]
        elif self.cells and tag == "a":
            self.cells[-1].hrefs.append(values["href"])

    def handle_data(self, data: str) -> None:
        if self.in_take:
            self.cells[-1].take_id = data
            self.in_take = False
        if self.cells:
            self.cells[-1].text += data + " "


def parse(path: Path) -> Cells:
    parser = Cells()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_writes_an_html_page_and_a_png_grid(edit: Edit, tmp_path: Path) -> None:
    page, grid = write_contact_sheet(edit, tmp_path / "sheet")

    assert (page.name, grid.name) == ("contact.html", "contact.png")
    assert sorted(p.name for p in page.parent.iterdir()) == ["contact.html", "contact.png"]
    with Image.open(grid) as image:
        image.load()
        assert image.format == "PNG"
        # Three beat rows, three take columns at most, 192 px thumbnails.
        assert image.width > 3 * 192 and image.height > 3 * 108


def test_every_take_has_a_cell_and_the_primary_is_marked(edit: Edit, tmp_path: Path) -> None:
    page, _ = write_contact_sheet(edit, tmp_path)
    parsed = parse(page)

    assert parsed.rows == 3
    texts = {cell.take_id: cell for cell in parsed.cells}
    every = [take.take_id for beat in edit.beats for take in beat.takes]
    assert sorted(texts) == sorted(every)
    primaries = sorted(k for k, cell in texts.items() if "primary" in cell.css)
    assert primaries == ["b01-t00", "b03-t02"]
    assert "PRIMARY" in texts["b01-t00"].text
    assert "PRIMARY" not in texts["b01-t01"].text
    assert "MISSING: no primary" in page.read_text()
    assert "score 0.800, cost 0.2500" in texts["b01-t00"].text
    assert "succeeded, review: retake" in texts["b01-t01"].text


def test_media_links_are_relative_and_text_is_escaped(edit: Edit, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "sheet"
    page, _ = write_contact_sheet(edit, out)
    text = page.read_text()
    cells = {cell.take_id: cell for cell in parse(page).cells}

    assert cells["b01-t00"].src == "../../b01-t00.png", "keyframe linked relatively"
    assert (out / "../../b01-t00.png").is_file()
    assert cells["b01-t00"].hrefs == [
        "../../b01-t00.mp4",
        "../../b01-t00.mp4",
        "../../b01-t00.wav",
        "../../b01-t00.png",
    ]
    assert str(cells["b01-t01"].src).startswith("data:image/jpeg;base64,"), "first frame"
    assert cells["b02-t00"].src is None and "no media" in cells["b02-t00"].text
    assert "Night &lt;shift&gt;" in text and "<shift>" not in text
    assert "Keep &lt;this&gt; &amp; that" in text
    assert "bo [frame 12]: too dark" in cells["b01-t01"].text


def test_the_primary_is_outlined_in_the_png(edit: Edit, tmp_path: Path) -> None:
    _, grid = write_contact_sheet(edit, tmp_path)
    with Image.open(grid) as image:
        pixels = np.asarray(image.convert("RGB"))

    green = np.all(pixels == (46, 204, 113), axis=2)
    assert green.sum() > 2 * 4 * 190, "two outlined primaries"
    red_thumb = np.all(np.abs(pixels.astype(int) - (200, 30, 30)) < 4, axis=2)
    assert red_thumb.sum() > 150 * 80, "b01-t00's keyframe is drawn"


def test_the_same_edit_gives_the_same_files(edit: Edit, tmp_path: Path) -> None:
    first = [p.read_bytes() for p in write_contact_sheet(edit, tmp_path / "a")]
    second = [p.read_bytes() for p in write_contact_sheet(edit, tmp_path / "b")]

    assert first == second


def test_long_ids_and_actions_render_quickly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 item 6: fitting text to a cell is linear, not quadratic, in its length.

    The work is counted, not timed: how many characters the sheet has measured.
    """
    measured: list[int] = []
    textlength = ImageDraw.ImageDraw.textlength

    def counting(draw: ImageDraw.ImageDraw, text: str, *args: Any, **kwargs: Any) -> float:
        measured.append(len(text))
        return textlength(draw, text, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "textlength", counting)
    take = TakeMedia(take_id="t" * 5000, take_index=0, status="failed")
    beat = BeatCut(
        scene_id="s" * 5000,
        beat_id="b" * 5000,
        title="a" * 30_000,
        duration_s=1.0,
        alternates=(take,),
    )
    edit = Edit(title="T" * 30_000, fps=24, width=160, height=90, beats=(beat,))

    page, grid = write_contact_sheet(edit, tmp_path)

    # Less than the whole of even the shortest long text: the cost grows with what fits.
    assert measured and sum(measured) < 5000, f"measured {sum(measured):,} characters"
    assert parse(page).cells[0].take_id == "t" * 5000, "the page keeps the whole id"
    with Image.open(grid) as image:
        image.load()
        assert image.width < 1000, "the grid does not grow with the text"


@pytest.mark.parametrize("text", ["", "short", "Ana opens the door " * 3, "W" * 400, "il" * 900])
@pytest.mark.parametrize("width", [0, 20, 170, 192, 500])
def test_fitted_text_is_the_longest_prefix_that_fits(text: str, width: int) -> None:
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    font = ImageFont.load_default(size=12)
    fitted = _fit(draw, text, width, font)
    if draw.textlength(text, font=font) <= width:
        assert fitted == text
        return
    prefix = fitted.removesuffix("...")
    assert fitted == prefix + "..." and text.startswith(prefix)
    assert prefix == "" or draw.textlength(fitted, font=font) <= width
    assert draw.textlength(text[: len(prefix) + 1] + "...", font=font) > width


def many_beats(count: int) -> Edit:
    beats = tuple(
        BeatCut(
            scene_id="s",
            beat_id=f"b{index:03d}",
            duration_s=0.5,
            alternates=(TakeMedia(take_id=f"t{index:03d}", take_index=0, status="failed"),),
        )
        for index in range(count)
    )
    return Edit(title="long", fps=12, width=160, height=90, beats=beats)


def test_a_long_sheet_is_paged_and_the_page_links_every_png(tmp_path: Path) -> None:
    out = tmp_path / "sheet"

    count = 2 * ROWS_PER_PAGE + 5
    written = write_contact_sheet(many_beats(count), out)

    names = [path.name for path in written]
    assert names == ["contact.html", "contact.png", "contact-2.png", "contact-3.png"]
    page = written[0].read_text()
    assert all(f'<a href="{name}">' in page for name in names[1:])
    assert parse(written[0]).rows == count, "the HTML page keeps every beat"
    heights = []
    for png in written[1:]:
        with Image.open(png) as image:
            heights.append(image.height)
    assert heights[0] == heights[1] > heights[2], "two full pages, then 5 rows"

    shorter = write_contact_sheet(many_beats(ROWS_PER_PAGE + 5), out)

    assert [path.name for path in shorter] == ["contact.html", "contact.png", "contact-2.png"]
    assert sorted(p.name for p in out.iterdir()) == ["contact-2.png", "contact.html", "contact.png"]


def test_only_the_pages_whose_beats_changed_are_drawn_again(tmp_path: Path) -> None:
    edit = many_beats(2 * ROWS_PER_PAGE + 5)
    first = write_contact_sheet(edit, tmp_path)
    drawn = {path.name: path.stat().st_ino for path in first[1:]}
    beats = list(edit.beats)
    last = 2 * ROWS_PER_PAGE + 3  # on the third page
    beats[last] = dataclasses.replace(beats[last], title="retitled")

    again = write_contact_sheet(
        Edit(title="long", fps=12, width=160, height=90, beats=tuple(beats)), tmp_path
    )

    now = {path.name: path.stat().st_ino for path in again[1:]}
    assert now["contact.png"] == drawn["contact.png"]
    assert now["contact-2.png"] == drawn["contact-2.png"]
    assert now["contact-3.png"] != drawn["contact-3.png"], "its page is redrawn"
    assert "retitled" in again[0].read_text()
    fresh = write_contact_sheet(
        Edit(title="long", fps=12, width=160, height=90, beats=tuple(beats)), tmp_path / "fresh"
    )
    assert [p.read_bytes() for p in again[1:]] == [p.read_bytes() for p in fresh[1:]]


def content_named(folder: Path, color: tuple[int, int, int]) -> Path:
    """A keyframe named by the sha256 of its bytes, as the artifact store names files."""
    buffer = io.BytesIO()
    Image.new("RGB", (160, 90), color).save(buffer, format="PNG")
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    path = folder / digest[:2] / f"{digest}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def keyframed(keyframes: list[Path], title: str = "kept") -> Edit:
    beats = tuple(
        BeatCut(
            scene_id="s",
            beat_id=f"b{index}",
            duration_s=1.0,
            title=title,
            primary=TakeMedia(take_id=f"t{index}", take_index=0, status="succeeded", keyframe=key),
        )
        for index, key in enumerate(keyframes)
    )
    return Edit(title="thumbs", fps=24, width=160, height=90, beats=beats)


def test_thumbnails_of_artifacts_are_kept_and_read_back_instead_of_the_keyframes(
    tmp_path: Path,
) -> None:
    red, blue = (content_named(tmp_path / "artifacts", c) for c in ((200, 0, 0), (0, 0, 200)))
    cache = tmp_path / "thumbs"

    kept_sheet = write_contact_sheet(keyframed([red, blue]), tmp_path / "a", thumbnails=cache)
    plain_sheet = write_contact_sheet(keyframed([red, blue]), tmp_path / "b")

    assert kept_sheet[1].read_bytes() == plain_sheet[1].read_bytes(), "kept or not, same page"
    kept = {path.name.split("-")[0]: path for path in cache.iterdir()}
    assert set(kept) == {red.stem, blue.stem}
    # The next drawing reads the kept thumbnail, not the keyframe: paint it green and see.
    with Image.open(kept[red.stem]) as thumbnail:
        size = thumbnail.size
    Image.new("RGB", size, (0, 200, 0)).save(kept[red.stem])
    kept[blue.stem].write_bytes(b"not a png")  # a damaged copy is made again

    again = write_contact_sheet(
        keyframed([red, blue], "retitled"), tmp_path / "a", thumbnails=cache
    )

    with Image.open(again[1]) as page:
        rgb = page.convert("RGB")
        left, top = 180 + size[0] // 2, 46 + size[1] // 2  # the middle of each row's first cell
        row = size[1] + 3 * 15 + 2 * 10  # a thumbnail, three lines of text, padding
        assert rgb.getpixel((left, top)) == (0, 200, 0)
        assert rgb.getpixel((left, top + row)) == (0, 0, 200)
    with Image.open(kept[blue.stem]) as remade:
        assert remade.size == size

    write_contact_sheet(keyframed([blue]), tmp_path / "a", thumbnails=cache)

    assert [path.name.split("-")[0] for path in cache.iterdir()] == [blue.stem]


def test_a_file_named_like_a_hash_outside_the_artifact_layout_is_not_taken_for_one(
    tmp_path: Path,
) -> None:
    stored = content_named(tmp_path / "artifacts", (200, 0, 0))
    loose = tmp_path / stored.name
    loose.write_bytes(stored.read_bytes())
    cache = tmp_path / "thumbs"

    write_contact_sheet(keyframed([loose]), tmp_path / "sheet", thumbnails=cache)

    assert not cache.exists() or not list(cache.iterdir()), "nothing kept for a loose file"
