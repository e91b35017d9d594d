"""The contact sheet: every beat's takes side by side, as a static HTML page and PNG pages.

One row per beat (scene order), one cell per take (take order) with a
thumbnail, the take id, its run and review status, its score and its cost; the
primary take is outlined and labelled ``PRIMARY``.

The PNG grid is paged, ``ROWS_PER_PAGE`` beats a page: ``contact.png``, then
``contact-2.png``, ``contact-3.png``... (:mod:`recoil.export.pages`); the HTML page links
every PNG page. The sheet is written a page at a time, so its memory does not
grow with the number of beats, and a page whose beats and thumbnails are as
they were (its key, kept in the PNG, says) is not drawn again.

The thumbnail is the take's keyframe, else the first frame of its video, else
a grey ``no media`` tile. In ``contact.html`` a keyframe is linked relatively
(so the page keeps working when the project folder moves) while a video-frame
thumbnail is embedded as a JPEG data URI; every take links its video, audio
and keyframe relatively. All text is HTML-escaped. Both files are
deterministic (no timestamps) and written atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import BinaryIO

import PIL
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from recoil.export.edit import BeatCut, Edit, TakeMedia
from recoil.export.pages import HTML_NAME, ROWS_PER_PAGE, page_names
from recoil.export.segment import library_versions
from recoil.export.sheet import (
    BACKGROUND,
    CHOSEN,
    DIM,
    LINE_HEIGHT,
    PLACEHOLDER,
    TEXT,
    WARN,
    Font,
    Links,
    data_uri,
    escape,
    first_frame,
    fit,
    named_sha256,
    open_atomic,
    png_bytes,
    read_image,
    write_atomic,
)

_LATER_PAGE = re.compile(r"contact-([0-9]+)\.png")
_PAGE_KEY = "recoil-page-sha256"
_LAYOUT = 1  # bumped when the drawing changes, so that pages drawn before are drawn again
_THUMB_LAYOUT = 1  # bumped when a thumbnail is made otherwise, so that kept ones are made again

_THUMB_WIDTH = 192
_LABEL_WIDTH = 170
_PAD = 10
_TEXT_LINES = 3
_HEADER = 36


@dataclass(frozen=True, slots=True, kw_only=True)
class _Cell:
    """One take with its thumbnail (``None`` when it has no media)."""

    take: TakeMedia
    primary: bool
    thumbnail: Image.Image | None


def write_contact_sheet(
    edit: Edit, out_dir: Path, *, thumbnails: Path | None = None
) -> tuple[Path, ...]:
    """Write ``contact.html`` and the PNG pages into ``out_dir``; return the page, then the PNGs.

    ``thumbnails`` is a folder that keeps the thumbnails of content-addressed
    keyframes and videos between calls (a keyframe is decoded once, not on
    every page drawn again); once the sheet is written it keeps only this
    sheet's. PNG pages of an earlier, longer sheet are removed. Raises
    :class:`~recoil.errors.StoreError` when a keyframe or video exists but
    cannot be read.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    thumbs = _Thumbnails(_thumb_size(edit), thumbnails)
    links = Links(out_dir)
    names = page_names(len(edit.beats))
    pngs: list[Path] = []
    with open_atomic(out_dir / HTML_NAME) as page:
        _write(page, _html_head(edit, names))
        for number, name in enumerate(names):
            beats = edit.beats[number * ROWS_PER_PAGE : (number + 1) * ROWS_PER_PAGE]
            heading = _page_title(edit, number, len(names))
            key = _page_key(edit, beats, heading)
            png = out_dir / name
            redraw = not _drawn(png, key)
            rows = [
                (beat, [_cell(beat, take, thumbs, redraw) for take in beat.takes]) for beat in beats
            ]
            _write(page, "".join(_html_row(beat, cells, links) for beat, cells in rows))
            if redraw:
                write_atomic(
                    png, png_bytes(_grid(edit, rows, thumbs.size, heading), {_PAGE_KEY: key})
                )
            pngs.append(png)
        _write(page, _HTML_TAIL)
    _remove_later_pages(out_dir, len(names))
    thumbs.keep_only(edit)
    return (out_dir / HTML_NAME, *pngs)


def _write(handle: BinaryIO, text: str) -> None:
    handle.write(text.encode("utf-8"))


def _page_title(edit: Edit, number: int, pages: int) -> str:
    return edit.title if pages == 1 else f"{edit.title} - page {number + 1} of {pages}"


def _page_key(edit: Edit, beats: Sequence[BeatCut], heading: str) -> str:
    """The sha256 of all a PNG page shows: its beats, the files of their thumbnails, its layout."""
    files = sorted(
        {
            str(path)
            for beat in beats
            for take in beat.takes
            for path in (take.keyframe, take.video)
            if path is not None
        }
    )
    # Artifacts are named by their content: a file's name says what it shows, wherever the
    # project folder is (the key is in the page, whose bytes must not depend on that).
    shown = [
        repr(
            dataclasses.replace(
                beat,
                primary=None if beat.primary is None else _portable(beat.primary),
                alternates=tuple(_portable(take) for take in beat.alternates),
            )
        )
        for beat in beats
    ]
    decides = {
        "layout": _LAYOUT,
        "heading": heading,
        "columns": _columns(edit),
        "size": _thumb_size(edit),
        "beats": shown,
        "files": [[_content_name(Path(name)), Path(name).is_file()] for name in files],
    }
    return hashlib.sha256(json.dumps(decides, sort_keys=True).encode()).hexdigest()


def _portable(take: TakeMedia) -> TakeMedia:
    """``take`` with each file named as :func:`_content_name` says."""

    def named(path: Path | None) -> Path | None:
        return None if path is None else Path(_content_name(path))

    return dataclasses.replace(
        take, video=named(take.video), audio=named(take.audio), keyframe=named(take.keyframe)
    )


def _content_name(path: Path) -> str:
    """A content-addressed artifact's name; any other file's path, size and time."""
    if named_sha256(path) is not None:
        return path.name
    try:
        info = path.stat()
    except OSError:
        return str(path)
    return f"{path}:{info.st_size}:{info.st_mtime_ns}"


def _drawn(png: Path, key: str) -> bool:
    """Whether ``png`` is already the page of ``key`` (its key is kept in a PNG text chunk)."""
    try:
        with Image.open(png) as image:
            # ``info`` holds the text chunks before the pixels, where the key is written;
            # ``text`` would decode the whole page to look for more.
            return bool(image.info.get(_PAGE_KEY) == key)
    except (OSError, UnidentifiedImageError):
        return False


def _remove_later_pages(out_dir: Path, pages: int) -> None:
    for entry in out_dir.glob("contact-*.png"):
        match = _LATER_PAGE.fullmatch(entry.name)
        if match is not None and int(match.group(1)) > pages:
            entry.unlink(missing_ok=True)


def _columns(edit: Edit) -> int:
    """Every page as wide as the widest beat of the edit, so that the pages line up."""
    return max((len(beat.takes) for beat in edit.beats), default=0) or 1


def _thumb_size(edit: Edit) -> tuple[int, int]:
    return _THUMB_WIDTH, max(2, round(_THUMB_WIDTH * edit.height / edit.width))


def _cell(beat: BeatCut, take: TakeMedia, thumbs: _Thumbnails, drawn: bool) -> _Cell:
    """The take's cell; its thumbnail only where a page is ``drawn`` or the HTML embeds it."""
    primary = beat.primary is not None and beat.primary.take_id == take.take_id
    linked = take.keyframe is not None and take.keyframe.is_file()
    thumbnail = thumbs.of(take) if drawn or not linked else None
    return _Cell(take=take, primary=primary, thumbnail=thumbnail)


class _Thumbnails:
    """Takes' thumbnails: the keyframe, else the video's first frame, padded to ``size``.

    With a ``folder``, the thumbnail of a content-addressed file is kept there as
    a PNG named by that file and the size, and read back instead of made again.
    """

    def __init__(self, size: tuple[int, int], folder: Path | None) -> None:
        self.size = size
        self._folder = folder

    def of(self, take: TakeMedia) -> Image.Image | None:
        source = _thumbnail_source(take)
        if source is None:
            return None
        kept = self._kept(source)
        if kept is not None and kept.is_file():
            try:
                with Image.open(kept) as stored:
                    if stored.size == self.size:
                        return stored.convert("RGB")
            except (OSError, SyntaxError, UnidentifiedImageError):
                pass  # a damaged copy (Pillow raises SyntaxError on a bad chunk) is made again
        owner = f"take {take.take_id}"
        image = read_image(source, owner) if source == take.keyframe else first_frame(source, owner)
        if image is None:
            return None
        thumbnail = ImageOps.pad(image, self.size, color=(0, 0, 0))
        if kept is not None:
            kept.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(kept, png_bytes(thumbnail, compress_level=1))
        return thumbnail

    def keep_only(self, edit: Edit) -> None:
        """Remove the kept thumbnails that no take of ``edit`` shows (and temp files)."""
        if self._folder is None or not self._folder.is_dir():
            return
        keep = {
            kept
            for beat in edit.beats
            for take in beat.takes
            if (source := _thumbnail_source(take)) is not None
            and (kept := self._kept(source)) is not None
        }
        for entry in self._folder.iterdir():
            if entry.name.endswith((".png", ".tmp")) and entry.is_file() and entry not in keep:
                entry.unlink(missing_ok=True)

    def _kept(self, source: Path) -> Path | None:
        digest = named_sha256(source)
        if self._folder is None or digest is None:
            return None
        width, height = self.size
        return self._folder / f"{digest}-{width}x{height}-{_thumbnail_maker()}.png"


@cache
def _thumbnail_maker() -> str:
    """A short hash of what makes a thumbnail besides its source and size: the layout, and
    the versions of recoil, PyAV (which decodes a video's frame) and Pillow (which scales)."""
    maker = json.dumps([_THUMB_LAYOUT, *library_versions(), PIL.__version__])
    return hashlib.sha256(maker.encode()).hexdigest()[:16]


def _thumbnail_source(take: TakeMedia) -> Path | None:
    for path in (take.keyframe, take.video):
        if path is not None and path.is_file():
            return path
    return None


# --- HTML -------------------------------------------------------------------

_STYLE = """
body { background: #18181c; color: #e6e6e6; font: 14px/1.4 system-ui, sans-serif; margin: 24px; }
h1 { font-size: 20px; margin: 0 0 4px; }
.summary { color: #96969b; margin: 0 0 16px; }
table { border-collapse: separate; border-spacing: 10px; }
th { text-align: left; vertical-align: top; width: 170px; font-weight: normal; }
th .beat { font-weight: bold; }
th .meta, td .meta { color: #96969b; font-size: 12px; }
.nopick { color: #e74c3c; font-weight: bold; }
td { vertical-align: top; width: 192px; padding: 4px; border: 3px solid transparent; }
td.primary { border-color: #2ecc71; }
td img, .nomedia { display: block; width: 192px; background: #3c3c42; }
.nomedia { line-height: 108px; text-align: center; color: #96969b; }
.badge { background: #2ecc71; color: #000; font-size: 11px; font-weight: bold; padding: 0 4px; }
.take { font-weight: bold; }
ul.notes { margin: 4px 0 0; padding-left: 16px; font-size: 12px; }
.links a { color: #7fb3ff; margin-right: 6px; font-size: 12px; }
.pages a { color: #7fb3ff; margin-right: 6px; }
"""


def _html_head(edit: Edit, pages: Sequence[str]) -> str:
    e = escape
    takes = sum(len(beat.takes) for beat in edit.beats)
    cost = sum(take.cost for beat in edit.beats for take in beat.takes)
    links = " ".join(
        f'<a href="{e(name)}">{number}</a>' for number, name in enumerate(pages, start=1)
    )
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{e(edit.title)} - contact sheet</title>",
        f"<style>{_STYLE}</style></head>",
        "<body>",
        f"<h1>{e(edit.title)}</h1>",
        f'<p class="summary">{len(edit.beats)} beats, {takes} takes, {e(_number(edit.fps))} fps, '
        f"{edit.width}x{edit.height}, total cost {_cost(cost)}</p>",
        f'<p class="pages">PNG pages: {links}</p>',
        "<table>",
        "",
    ]
    return "\n".join(parts)


_HTML_TAIL = "</table>\n</body>\n</html>\n"


def _html_row(beat: BeatCut, cells: list[_Cell], links: Links) -> str:
    parts = [f'<tr id="{escape(beat.scene_id)}--{escape(beat.beat_id)}">', _beat_header(beat)]
    parts.extend(_take_cell(cell, links) for cell in cells)
    parts.append("</tr>")
    return "\n".join(parts) + "\n"


def _beat_header(beat: BeatCut) -> str:
    e = escape
    pick = "" if beat.primary is not None else '<div class="nopick">MISSING: no primary</div>'
    return (
        f'<th scope="row"><div class="beat">{e(beat.scene_id)} / {e(beat.beat_id)}</div>'
        f"<div>{e(beat.title)}</div>"
        f'<div class="meta">{e(_number(beat.duration_s))} s, {e(beat.primary_strategy)}</div>'
        f"{_reason(beat)}"
        f"{pick}</th>"
    )


def _take_cell(cell: _Cell, links: Links) -> str:
    e = escape
    take = cell.take
    if take.keyframe is not None and take.keyframe.is_file():
        src = links(take.keyframe)
    elif cell.thumbnail is not None:
        src = data_uri(cell.thumbnail)
    else:
        src = None
    picture = (
        f'<img src="{e(src)}" alt="{e(take.take_id)}">'
        if src is not None
        else '<div class="nomedia">no media</div>'
    )
    if take.video is not None and take.video.is_file():
        picture = f'<a href="{e(links(take.video))}">{picture}</a>'
    anchors = [
        f'<a href="{e(links(path))}">{label}</a>'
        for label, path in (
            ("video", take.video),
            ("audio", take.audio),
            ("keyframe", take.keyframe),
        )
        if path is not None and path.is_file()
    ]
    notes = "".join(
        f"<li>{e(note.author)}"
        f"{'' if note.frame is None else f' [frame {note.frame}]'}: {e(note.text)}</li>"
        for note in take.notes
    )
    badge = ' <span class="badge">PRIMARY</span>' if cell.primary else ""
    return (
        f'<td class="{"take-cell primary" if cell.primary else "take-cell"}">'
        f"{picture}"
        f'<div><span class="take">{e(take.take_id)}</span>{badge}</div>'
        f'<div class="meta">{e(take.status)}, review: {e(take.review_status)}</div>'
        f'<div class="meta">score {_score(take.score)}, cost {_cost(take.cost)}</div>'
        f"{_score_list(take)}"
        f'<div class="links">{"".join(anchors)}</div>'
        f"{f'<ul class=notes>{notes}</ul>' if notes else ''}"
        "</td>"
    )


def _number(value: float) -> str:
    return f"{value:g}"


def _score(score: float | None) -> str:
    return "-" if score is None else f"{score:.3f}"


def _reason(beat: BeatCut) -> str:
    if not beat.primary_reason:
        return ""
    return f'<div class="meta reason">primary: {escape(beat.primary_reason)}</div>'


def _score_list(take: TakeMedia) -> str:
    """Each scorer's score, lowest first: what held the take back is read first."""
    if not take.scores:
        return ""
    items = "".join(
        f"<li>{escape(name)} {value:.2f}</li>"
        for name, value in sorted(take.scores.items(), key=lambda item: (item[1], item[0]))
    )
    return f'<details class="scores"><summary>scores</summary><ul>{items}</ul></details>'


def _cost(cost: float) -> str:
    return f"{cost:.4f}"


# --- PNG --------------------------------------------------------------------


def _grid(
    edit: Edit, rows: list[tuple[BeatCut, list[_Cell]]], size: tuple[int, int], heading: str
) -> Image.Image:
    thumb_w, thumb_h = size
    columns = _columns(edit)
    cell_w = thumb_w + _PAD
    row_h = thumb_h + _TEXT_LINES * LINE_HEIGHT + 2 * _PAD
    width = _PAD + _LABEL_WIDTH + columns * cell_w + _PAD
    height = _HEADER + max(1, len(rows)) * row_h + _PAD
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    title = ImageFont.load_default(size=18)
    draw.text((_PAD, _PAD), fit(draw, heading, width - 2 * _PAD, title), font=title, fill=TEXT)
    for row, (beat, cells) in enumerate(rows):
        top = _HEADER + row * row_h + _PAD
        label = [
            (f"{beat.scene_id} / {beat.beat_id}", TEXT),
            (beat.title, DIM),
            (f"{_number(beat.duration_s)} s, {beat.primary_strategy}", DIM),
        ]
        if beat.primary_reason:
            label.append((f"primary: {beat.primary_reason}", DIM))
        if beat.primary is None:
            label.append(("MISSING: no primary", WARN))
        for line, (text, color) in enumerate(label):
            fitted = fit(draw, text, _LABEL_WIDTH - _PAD, font)
            draw.text((_PAD, top + line * LINE_HEIGHT), fitted, font=font, fill=color)
        for column, cell in enumerate(cells):
            left = _PAD + _LABEL_WIDTH + column * cell_w
            if cell.thumbnail is not None:
                image.paste(cell.thumbnail, (left, top))
            _draw_cell(draw, cell, origin=(left, top), size=size, font=font)
    return image


def _draw_cell(
    draw: ImageDraw.ImageDraw,
    cell: _Cell,
    *,
    origin: tuple[int, int],
    size: tuple[int, int],
    font: Font,
) -> None:
    left, top = origin
    thumb_w, thumb_h = size
    take = cell.take
    if cell.thumbnail is None:
        draw.rectangle((left, top, left + thumb_w - 1, top + thumb_h - 1), fill=PLACEHOLDER)
        centre = (left + thumb_w // 2, top + thumb_h // 2)
        draw.text(centre, "no media", font=font, fill=DIM, anchor="mm")
    name = f"{take.take_id}  PRIMARY" if cell.primary else take.take_id
    lines = [
        (name, CHOSEN if cell.primary else TEXT),
        (f"{take.status}, review: {take.review_status}", DIM),
        (f"score {_score(take.score)}, cost {_cost(take.cost)}", DIM),
    ]
    for line, (text, color) in enumerate(lines):
        y = top + thumb_h + 3 + line * LINE_HEIGHT
        draw.text((left, y), fit(draw, text, thumb_w, font), font=font, fill=color)
    if cell.primary:
        box = (left - 4, top - 4, left + thumb_w + 3, top + thumb_h + _TEXT_LINES * LINE_HEIGHT + 5)
        draw.rectangle(box, outline=CHOSEN, width=3)
