"""The shootout's grid: one prompt's results side by side, as a PNG and a static HTML page.

One row per provider and model, one column per seed; each cell shows the
result (a keyframe, the first frame of a clip, or a sound's waveform) with
its provider, model, seed, cost, time and scores, or why it failed. The best
cell is outlined and labelled ``BEST``. Media is linked relatively from the
page (so the folder can move), text is HTML-escaped, and both files are
deterministic and written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from recoil.errors import StoreError
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
    escape,
    first_frame,
    fit,
    png_bytes,
    read_image,
    write_atomic,
)

HTML_NAME = "shootout.html"
PNG_NAME = "shootout.png"

_THUMB = (256, 144)
_LABEL_WIDTH = 170
_PAD = 12
_TEXT_LINES = 4
_HEADER = 40
_WAVE = (127, 179, 255)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShootoutCell:
    """One result of a shootout: a provider, a model and a seed, and what came of it."""

    provider: str
    model: str
    """The model the provider reported (its default when none was asked for)."""
    seed: int
    receipt_id: str
    media: Path | None = None
    """The result's file (``None`` when the dispatch failed)."""
    error: str | None = None
    """Why the dispatch failed, one line."""
    cost: float = 0.0
    currency: str = "USD"
    seconds: float = 0.0
    """How long the generation took (for a cached result, the run that made it)."""
    cached: bool = False
    """Whether this run reused an earlier identical result instead of generating."""
    scores: Mapping[str, float] = field(default_factory=dict)
    """Scorer name -> score in [0, 1]."""
    score: float | None = None
    """The weighted mean of :attr:`scores` (``[evals.weights]``); ``None`` when unscored."""

    @property
    def succeeded(self) -> bool:
        """Whether the dispatch gave a result."""
        return self.error is None


@dataclass(frozen=True, slots=True, kw_only=True)
class ShootoutBoard:
    """Every cell of one shootout, and which one is best."""

    prompt: str
    modality: str
    cells: tuple[ShootoutCell, ...]
    best: ShootoutCell | None = None


def write_shootout(board: ShootoutBoard, out_dir: Path) -> tuple[Path, Path]:
    """Write ``shootout.html`` and ``shootout.png`` into ``out_dir``; return both paths.

    Raises :class:`~recoil.errors.StoreError` when a result's file cannot be read.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = _rows(board.cells)
    seeds = list(dict.fromkeys(cell.seed for cell in board.cells))
    thumbs = {id(cell): _thumbnail(cell) for cell in board.cells}
    page = _html(board, rows, seeds, Links(out_dir)).encode("utf-8")
    html_path = write_atomic(out_dir / HTML_NAME, page)
    png_path = write_atomic(out_dir / PNG_NAME, png_bytes(_grid(board, rows, seeds, thumbs)))
    return html_path, png_path


def _rows(cells: tuple[ShootoutCell, ...]) -> dict[tuple[str, str], dict[int, ShootoutCell]]:
    rows: dict[tuple[str, str], dict[int, ShootoutCell]] = {}
    for cell in cells:
        rows.setdefault((cell.provider, cell.model), {})[cell.seed] = cell
    return rows


def _thumbnail(cell: ShootoutCell) -> Image.Image | None:
    media = cell.media
    if media is None or not media.is_file():
        return None
    owner = f"the {cell.provider} result of seed {cell.seed}"
    suffix = media.suffix.lower()
    if suffix in {".wav", ".mp3", ".flac", ".ogg", ".m4a"}:
        return _waveform(media, owner)
    image = first_frame(media, owner) if suffix in {".mp4", ".mov", ".webm", ".mkv"} else None
    if image is None:
        image = read_image(media, owner)
    return ImageOps.pad(image, _THUMB, color=(0, 0, 0))


def _waveform(path: Path, owner: str) -> Image.Image:
    """A sound's peak envelope, one column per pixel."""
    width, height = _THUMB
    try:
        with av.open(str(path)) as container:
            chunks = [
                np.abs(frame.to_ndarray().astype(np.float64)).reshape(-1)
                for frame in container.decode(audio=0)
            ]
    except av.FFmpegError as error:
        raise StoreError(f"cannot read audio {path} of {owner}: {error}; re-render it") from error
    samples = np.concatenate(chunks) if chunks else np.zeros(1)
    peak = float(samples.max()) or 1.0
    columns = np.array_split(samples, width)
    image = Image.new("RGB", _THUMB, PLACEHOLDER)
    draw = ImageDraw.Draw(image)
    middle = height // 2
    for x, column in enumerate(columns):
        reach = round((float(column.max()) if column.size else 0.0) / peak * (middle - 2))
        draw.line((x, middle - reach, x, middle + reach), fill=_WAVE)
    return image


def _row_label(provider: str, model: str) -> str:
    return f"{provider} / {model}"


def _lines(cell: ShootoutCell) -> list[str]:
    if not cell.succeeded:
        return [f"seed {cell.seed}", f"failed: {cell.error}"]
    reused = ", cached" if cell.cached else ""
    return [
        f"seed {cell.seed}, score {_score(cell.score)}",
        f"cost {cell.cost:.4f} {cell.currency}, {cell.seconds:.1f} s{reused}",
        _score_summary(cell),
    ]


def _score_summary(cell: ShootoutCell) -> str:
    """The scores lowest first: what held the result back is read first."""
    ordered = sorted(cell.scores.items(), key=lambda item: (item[1], item[0]))
    return ", ".join(f"{name} {value:.2f}" for name, value in ordered)


def _score(score: float | None) -> str:
    return "-" if score is None else f"{score:.3f}"


# --- HTML -------------------------------------------------------------------

_STYLE = """
body { background: #18181c; color: #e6e6e6; font: 14px/1.4 system-ui, sans-serif; margin: 24px; }
h1 { font-size: 20px; margin: 0 0 4px; }
.summary { color: #96969b; margin: 0 0 16px; }
table { border-collapse: separate; border-spacing: 10px; }
th { text-align: left; vertical-align: top; font-weight: normal; }
th[scope=row] { width: 170px; font-weight: bold; }
td { vertical-align: top; width: 256px; padding: 4px; border: 3px solid transparent; }
td.best { border-color: #2ecc71; }
td img, td video, td audio, .nomedia { display: block; width: 256px; background: #3c3c42; }
.nomedia { line-height: 144px; text-align: center; color: #96969b; }
.meta { color: #96969b; font-size: 12px; }
.failed { color: #e74c3c; font-size: 12px; }
.badge { background: #2ecc71; color: #000; font-size: 11px; font-weight: bold; padding: 0 4px; }
ul.scores { margin: 4px 0 0; padding-left: 16px; font-size: 12px; }
"""


def _html(
    board: ShootoutBoard,
    rows: dict[tuple[str, str], dict[int, ShootoutCell]],
    seeds: list[int],
    links: Links,
) -> str:
    e = escape
    cost = sum(cell.cost for cell in board.cells)
    best = (
        f"best: {_row_label(board.best.provider, board.best.model)}, seed {board.best.seed} "
        f"(score {_score(board.best.score)})"
        if board.best is not None
        else "best: none (no result has scores)"
    )
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>shootout - {e(board.prompt)}</title>",
        f"<style>{_STYLE}</style></head>",
        "<body>",
        f"<h1>{e(board.prompt)}</h1>",
        f'<p class="summary">{e(board.modality)}, {len(board.cells)} results, '
        f"cost this run {cost:.4f}; {e(best)}</p>",
        "<table>",
        "<tr><th></th>" + "".join(f"<th>seed {seed}</th>" for seed in seeds) + "</tr>",
    ]
    for (provider, model), by_seed in rows.items():
        parts.append(f'<tr><th scope="row">{e(_row_label(provider, model))}</th>')
        for seed in seeds:
            cell = by_seed.get(seed)
            parts.append("<td></td>" if cell is None else _cell_html(cell, board, links))
        parts.append("</tr>")
    parts += ["</table>", "</body>", "</html>", ""]
    return "\n".join(parts)


def _cell_html(cell: ShootoutCell, board: ShootoutBoard, links: Links) -> str:
    e = escape
    is_best = cell is board.best
    badge = ' <span class="badge">BEST</span>' if is_best else ""
    lines = _lines(cell)
    if not cell.succeeded:
        body = (
            f'<div class="nomedia">no result</div><div>seed {cell.seed}</div>'
            f'<div class="failed">{e(lines[1])}</div>'
        )
    else:
        scores = "".join(
            f"<li>{e(name)} {value:.2f}</li>"
            for name, value in sorted(cell.scores.items(), key=lambda item: (item[1], item[0]))
        )
        body = (
            f"{_media_html(cell, links)}"
            f"<div>{e(lines[0])}{badge}</div>"
            f'<div class="meta">{e(lines[1])}</div>'
            f'<div class="meta">receipt {e(cell.receipt_id)}</div>'
            f"{f'<ul class=scores>{scores}</ul>' if scores else ''}"
        )
    return f'<td class="{"cell best" if is_best else "cell"}">{body}</td>'


def _media_html(cell: ShootoutCell, links: Links) -> str:
    e = escape
    if cell.media is None or not cell.media.is_file():
        return '<div class="nomedia">no media</div>'
    src = e(links(cell.media))
    suffix = cell.media.suffix.lower()
    if suffix in {".mp4", ".mov", ".webm", ".mkv"}:
        return f'<video controls preload="metadata" src="{src}"></video>'
    if suffix in {".wav", ".mp3", ".flac", ".ogg", ".m4a"}:
        return f'<audio controls preload="metadata" src="{src}"></audio>'
    return f'<a href="{src}"><img src="{src}" alt="seed {cell.seed}"></a>'


# --- PNG --------------------------------------------------------------------


def _grid(
    board: ShootoutBoard,
    rows: dict[tuple[str, str], dict[int, ShootoutCell]],
    seeds: list[int],
    thumbs: dict[int, Image.Image | None],
) -> Image.Image:
    thumb_w, thumb_h = _THUMB
    cell_w = thumb_w + _PAD
    row_h = thumb_h + _TEXT_LINES * LINE_HEIGHT + 2 * _PAD
    width = _PAD + _LABEL_WIDTH + max(1, len(seeds)) * cell_w + _PAD
    height = _HEADER + max(1, len(rows)) * row_h + _PAD
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    title = ImageFont.load_default(size=18)
    heading = f"{board.prompt} ({board.modality})"
    draw.text((_PAD, _PAD), fit(draw, heading, width - 2 * _PAD, title), font=title, fill=TEXT)
    for row, ((provider, model), by_seed) in enumerate(rows.items()):
        top = _HEADER + row * row_h + _PAD
        label = fit(draw, _row_label(provider, model), _LABEL_WIDTH - _PAD, font)
        draw.text((_PAD, top), label, font=font, fill=TEXT)
        for column, seed in enumerate(seeds):
            cell = by_seed.get(seed)
            if cell is None:
                continue
            left = _PAD + _LABEL_WIDTH + column * cell_w
            thumb = thumbs[id(cell)]
            if thumb is not None:
                image.paste(thumb, (left, top))
            _draw_cell(
                draw, cell, best=cell is board.best, thumb=thumb, origin=(left, top), font=font
            )
    return image


def _draw_cell(
    draw: ImageDraw.ImageDraw,
    cell: ShootoutCell,
    *,
    best: bool,
    thumb: Image.Image | None,
    origin: tuple[int, int],
    font: Font,
) -> None:
    left, top = origin
    thumb_w, thumb_h = _THUMB
    if thumb is None:
        draw.rectangle((left, top, left + thumb_w - 1, top + thumb_h - 1), fill=PLACEHOLDER)
        centre = (left + thumb_w // 2, top + thumb_h // 2)
        draw.text(centre, "no result", font=font, fill=DIM, anchor="mm")
    lines = _lines(cell)
    if best:
        lines[0] += "  BEST"
    for number, text in enumerate(lines):
        color = CHOSEN if best and number == 0 else TEXT if number == 0 else DIM
        if not cell.succeeded and number == 1:
            color = WARN
        y = top + thumb_h + 3 + number * LINE_HEIGHT
        draw.text((left, y), fit(draw, text, thumb_w, font), font=font, fill=color)
    if best:
        box = (left - 4, top - 4, left + thumb_w + 3, top + thumb_h + _TEXT_LINES * LINE_HEIGHT + 5)
        draw.rectangle(box, outline=CHOSEN, width=3)
