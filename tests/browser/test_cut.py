"""The cut: its video plays in the page and each beat marker seeks to where that beat starts."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.pages import FPS, Review

pytestmark = pytest.mark.slow

_SEEKED = "(v) => !v.seeking && v.readyState >= 2"


def test_the_cut_plays_and_its_markers_seek_to_each_beat(review: Review) -> None:
    review.open()
    page = review.page
    page.get_by_role("link", name="Cut").click()

    video = page.locator("#cut-video")
    expect(video).to_be_visible()
    page.wait_for_function("document.getElementById('cut-video').readyState === 4")
    assert video.evaluate("(v) => v.duration") == pytest.approx(4.0, abs=1 / FPS)

    markers = page.locator("#markers button[data-beat]")
    expect(markers).to_have_count(2)
    assert [m.get_attribute("data-beat") for m in markers.all()] == ["look", "walk"]

    for beat_id, start in (("walk", 2.0), ("look", 0.0)):
        page.locator(f"#markers button[data-beat='{beat_id}']").click()
        page.wait_for_function(
            f"(start) => {{ const v = document.getElementById('cut-video');"
            f" return ({_SEEKED})(v) && Math.abs(v.currentTime - start) < 1 / {FPS}; }}",
            arg=start,
        )

    video.evaluate("(v) => v.play()")  # from the start of the cut
    page.wait_for_function(
        "document.getElementById('cut-video').currentTime > 0.5 && "
        "!document.getElementById('cut-video').paused"
    )
