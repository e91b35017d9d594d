"""The shootout grid and page, from real media: a keyframe, a clip, a sound and a failure."""

from __future__ import annotations

import html.parser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recoil.errors import StoreError
from recoil.export.shootout import ShootoutBoard, ShootoutCell, write_shootout
from tests.unit.export.conftest import MakeKeyframe, MakeVideo, MakeWav


class _Page(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[tuple[str, str]] = []
        self.best: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in {"img", "video", "audio"}:
            self.sources.append((tag, found.get("src") or ""))
        if tag == "td" and found.get("class") == "cell best":
            self.best.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _board(make_keyframe: MakeKeyframe, make_video: MakeVideo, make_wav: MakeWav) -> ShootoutBoard:
    image = ShootoutCell(
        provider="previz",
        model="<b>m</b>",
        seed=1,
        receipt_id="r1",
        media=make_keyframe("k.png", (200, 40, 40)),
        scores={"sharpness": 0.4, "exposure": 0.9},
        score=0.65,
    )
    clip = ShootoutCell(
        provider="fake",
        model="v",
        seed=1,
        receipt_id="r2",
        media=make_video("c.mp4", color=(20, 200, 20), seconds=0.5),
        scores={"flicker": 0.8},
        score=0.8,
        cached=True,
    )
    sound = ShootoutCell(
        provider="fake", model="v", seed=2, receipt_id="r3", media=make_wav("s.wav", seconds=0.5)
    )
    failed = ShootoutCell(
        provider="previz", model="<b>m</b>", seed=2, receipt_id="r4", error="server said <no>"
    )
    return ShootoutBoard(
        prompt="rain & <thunder>",
        modality="keyframe",
        cells=(image, clip, sound, failed),
        best=clip,
    )


def test_grid_and_page_show_every_cell_and_mark_the_best(
    tmp_path: Path, make_keyframe: MakeKeyframe, make_video: MakeVideo, make_wav: MakeWav
) -> None:
    board = _board(make_keyframe, make_video, make_wav)
    out = tmp_path / "out"
    page, grid = write_shootout(board, out)

    with Image.open(grid) as opened:
        pixels = np.asarray(opened.convert("RGB"))
    assert pixels.shape == (40 + 2 * 228 + 12, 12 + 170 + 2 * 268 + 12, 3)
    top, left = 40 + 12, 12 + 170
    assert tuple(pixels[top + 72, left + 128]) == (200, 40, 40)  # row previz, seed 1: keyframe
    clip_px = pixels[top + 228 + 100, left + 128]
    assert clip_px[1] > 150 and clip_px[0] < 80  # row fake, seed 1: the clip's first frame
    assert tuple(pixels[top + 228 - 4 - 2, left + 20]) != (46, 204, 113)  # no outline on row 1
    assert tuple(pixels[top + 228 - 4 + 1, left + 20]) == (46, 204, 113)  # the best's outline

    parser = _Page()
    parser.feed(page.read_text())
    assert parser.sources == [
        ("img", "../k.png"),
        ("video", "../c.mp4"),
        ("audio", "../s.wav"),
    ]
    assert len(parser.best) == 1
    text = "".join(parser.text)
    assert "rain & <thunder>" in text and "previz / <b>m</b>" in text
    assert "failed: server said <no>" in text
    assert "<thunder>" not in page.read_text()  # escaped in the file itself
    assert page.read_bytes() == write_shootout(board, out)[0].read_bytes()  # deterministic


def test_an_unreadable_result_is_a_store_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    cell = ShootoutCell(provider="p", model="m", seed=1, receipt_id="r", media=broken)
    with pytest.raises(StoreError, match=r"broken\.png.*re-render"):
        write_shootout(ShootoutBoard(prompt="x", modality="keyframe", cells=(cell,)), tmp_path)
