"""The compare view: two takes side by side, played and stepped in sync from the keyboard."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.pages import FRAMES, Review

pytestmark = pytest.mark.slow


def test_two_takes_play_and_step_frame_by_frame_in_sync(review: Review) -> None:
    review.open()
    review.compare("look")
    page = review.page

    panels = page.locator(".panel")
    expect(panels).to_have_count(2)
    for take_id in ("look-t01", "look-t02"):
        expect(review.panel(take_id).locator("video")).to_have_count(1)
    assert [v["take"] for v in review.videos()] == ["look-t01", "look-t02"]
    assert all(v["ready"] == 4 for v in review.videos())
    review.wait_frame(0)

    review.key("ArrowRight", "ArrowRight")  # paused: one frame each
    review.wait_frame(2)
    assert {v["frame"] for v in review.videos()} == {2}
    review.key("ArrowLeft")
    review.wait_frame(1)

    review.key(" ")  # play: every take plays, from where it stood
    start = max(v["time"] for v in review.videos())
    review.wait_playing(after=start + 2 / 12)
    review.key(" ")
    review.wait_paused()
    here = review.videos()
    assert len({v["frame"] for v in here}) == 1, here  # paused together, on one frame

    review.key("ArrowLeft", "ArrowLeft", "ArrowLeft")  # back to a frame well before the end
    review.wait_frame(here[0]["frame"] - 3)


def test_j_k_l_shuttle_and_stop(review: Review) -> None:
    review.open()
    review.compare("look")
    page = review.page

    review.key("l")  # forward
    review.wait_playing(after=2 / 12)
    review.key("k")  # stop
    review.wait_paused()
    stopped = review.videos()
    assert len({v["frame"] for v in stopped}) == 1, stopped
    frame = stopped[0]["frame"]
    assert frame >= 2

    review.key("j")  # reverse: the frame counts down, every take with it
    page.wait_for_function(
        "(frame) => { const m = /frame (\\d+)/.exec(document.getElementById('frame').textContent);"
        " return m && Number(m[1]) < frame; }",
        arg=frame,
    )
    review.key("k")
    review.wait_paused()
    back = review.videos()
    assert all(v["frame"] < frame for v in back), back


def test_keys_pick_a_take_list_the_keys_and_move_between_beats(review: Review) -> None:
    review.open()
    review.compare("look")
    page = review.page

    expect(review.panel("look-t01")).to_have_class("panel primary picked")
    review.key("2")
    expect(review.panel("look-t02")).to_contain_class("picked")
    expect(review.panel("look-t01")).not_to_contain_class("picked")
    expect(page.locator("#details h2").first).to_contain_text("look-t02")

    review.key("?")
    expect(page.locator("#help")).to_be_visible()
    review.key("Escape")
    expect(page.locator("#help")).to_be_hidden()

    review.key("]")
    review.wait_compare("walk")
    review.key("[")
    review.wait_compare("look")


def test_played_to_its_end_a_take_stands_on_its_last_frame(review: Review) -> None:
    review.open()
    review.compare("look")
    page = review.page

    review.key(" ")
    page.wait_for_function("[...document.querySelectorAll('.panel video')].every((v) => v.ended)")
    expect(page.locator("#frame")).to_have_text(f"frame {FRAMES - 1} / {FRAMES - 1}")

    review.key("n")  # a note on the frame on screen is on the last frame, not past it
    text = "hold the last frame longer"
    page.keyboard.type(text)
    page.locator("#note-submit").click()
    review.toast("note added")
    [note] = review.api("/api/takes/look-t01/notes")
    assert note["frame"] == FRAMES - 1

    expect(page.locator("#notes li")).to_contain_text(text)  # the view is drawn anew
    expect(page.locator("#notes .frame-link")).to_have_text(f"[frame {FRAMES - 1}] ")
    review.wait_compare("look")
    review.wait_frame(0)
    review.key(" ")
    page.wait_for_function("[...document.querySelectorAll('.panel video')].every((v) => v.ended)")
    review.key("ArrowLeft")
    review.wait_frame(FRAMES - 2)
