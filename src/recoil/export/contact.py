"""The contact sheet: every beat's takes side by side, as a static HTML page and a PNG grid.

One row per beat (scene order), one cell per take (take order) with a
thumbnail, the take id, its run and review status, its score and its cost; the
primary take is outlined and labelled ``PRIMARY``.

The thumbnail is the take's keyframe, else the first frame of its video, else
a grey ``no media`` tile. In ``contact.html`` a keyframe is linked relatively
(so the page keeps working when the project folder moves) while a video-frame
thumbnail is embedded as a JPEG data URI; every take links its video, audio
and keyframe relatively. All text is HTML-escaped. Both files are
deterministic (no timestamps) and written atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from recoil.export.edit import BeatCut, Edit, TakeMedia
from recoil.export.sheet import (
    BACKGROUND,
    CHOSEN,
    DIM,
    LINE_HEIGHT,
    PLACEHOLDER,
    TEXT,
    WARN,
    Font,
    data_uri,
    escape,
    first_frame,
    fit,
    link,
    png_bytes,
    read_image,
    write_atomic,
)

HTML_NAME = "contact.html"
PNG_NAME = "contact.png"

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


def write_contact_sheet(edit: Edit, out_dir: Path) -> tuple[Path, Path]:
    """Write ``contact.html`` and ``contact.png`` into ``out_dir``; return both paths.

    Raises :class:`~recoil.errors.StoreError` when a keyframe or video exists
    but cannot be read.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    size = _thumb_size(edit)
    rows = [(beat, [_cell(beat, take, size) for take in beat.takes]) for beat in edit.beats]
    html_path = write_atomic(out_dir / HTML_NAME, _html(edit, rows, out_dir).encode("utf-8"))
    png_path = write_atomic(out_dir / PNG_NAME, png_bytes(_grid(edit, rows, size)))
    return html_path, png_path


def _thumb_size(edit: Edit) -> tuple[int, int]:
    return _THUMB_WIDTH, max(2, round(_THUMB_WIDTH * edit.height / edit.width))


def _cell(beat: BeatCut, take: TakeMedia, size: tuple[int, int]) -> _Cell:
    primary = beat.primary is not None and beat.primary.take_id == take.take_id
    return _Cell(take=take, primary=primary, thumbnail=_thumbnail(take, size))


def _thumbnail(take: TakeMedia, size: tuple[int, int]) -> Image.Image | None:
    image: Image.Image | None = None
    owner = f"take {take.take_id}"
    if take.keyframe is not None and take.keyframe.is_file():
        image = read_image(take.keyframe, owner)
    elif take.video is not None and take.video.is_file():
        image = first_frame(take.video, owner)
    if image is None:
        return None
    return ImageOps.pad(image, size, color=(0, 0, 0))


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
"""


def _html(edit: Edit, rows: list[tuple[BeatCut, list[_Cell]]], out_dir: Path) -> str:
    e = escape
    takes = sum(len(cells) for _, cells in rows)
    cost = sum(cell.take.cost for _, cells in rows for cell in cells)
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{e(edit.title)} - contact sheet</title>",
        f"<style>{_STYLE}</style></head>",
        "<body>",
        f"<h1>{e(edit.title)}</h1>",
        f'<p class="summary">{len(rows)} beats, {takes} takes, {e(_number(edit.fps))} fps, '
        f"{edit.width}x{edit.height}, total cost {_cost(cost)}</p>",
        "<table>",
    ]
    for beat, cells in rows:
        parts.append(f'<tr id="{e(beat.scene_id)}--{e(beat.beat_id)}">')
        parts.append(_beat_header(beat))
        parts.extend(_take_cell(cell, out_dir) for cell in cells)
        parts.append("</tr>")
    parts += ["</table>", "</body>", "</html>", ""]
    return "\n".join(parts)


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


def _take_cell(cell: _Cell, out_dir: Path) -> str:
    e = escape
    take = cell.take
    if take.keyframe is not None and take.keyframe.is_file():
        src = link(take.keyframe, out_dir)
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
        picture = f'<a href="{e(link(take.video, out_dir))}">{picture}</a>'
    links = [
        f'<a href="{e(link(path, out_dir))}">{label}</a>'
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
        f'<div class="links">{"".join(links)}</div>'
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
    edit: Edit, rows: list[tuple[BeatCut, list[_Cell]]], size: tuple[int, int]
) -> Image.Image:
    thumb_w, thumb_h = size
    columns = max((len(cells) for _, cells in rows), default=0) or 1
    cell_w = thumb_w + _PAD
    row_h = thumb_h + _TEXT_LINES * LINE_HEIGHT + 2 * _PAD
    width = _PAD + _LABEL_WIDTH + columns * cell_w + _PAD
    height = _HEADER + max(1, len(rows)) * row_h + _PAD
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    title = ImageFont.load_default(size=18)
    draw.text((_PAD, _PAD), fit(draw, edit.title, width - 2 * _PAD, title), font=title, fill=TEXT)
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
