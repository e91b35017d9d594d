"""Decisions from the page: approve, reject with a frame-pinned note, drafts, read-only."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.pages import Review, status, take_row
from tests.helpers import records

pytestmark = pytest.mark.slow


def test_2_then_a_approves_the_second_take_everywhere(review: Review, project: Path) -> None:
    assert take_row(status(project), "look-t01")["primary"]
    review.open()
    review.compare("look")

    review.key("2", "a")
    review.toast("approved look-t02")
    expect(review.panel("look-t02")).to_contain_class("primary")
    expect(review.panel("look-t01")).not_to_contain_class("primary")
    expect(review.panel("look-t02").locator(".badge")).to_have_text("approved")

    rows = status(project)
    approved = take_row(rows, "look-t02")
    assert approved["review"] == "approved" and approved["primary"]
    assert not take_row(rows, "look-t01")["primary"]
    [row] = [r for r in rows if r["beat_id"] == "look"]
    assert row["primary_take_id"] == "look-t02"

    beat = review.api("/api/beats/look")
    assert beat["primary_take_id"] == "look-t02"
    take = next(t for t in beat["takes"] if t["take_id"] == "look-t02")
    assert take["review"] == "approved" and take["primary"]

    [decision] = records(project, "review")
    assert decision["take_id"] == "look-t02" and decision["status"] == "approved"
    assert decision["author"] == getpass.getuser() and decision["created_at"]


def test_reject_with_a_note_on_the_current_frame_queues_a_retake(
    review: Review, project: Path
) -> None:
    review.open()
    review.compare("look")
    page = review.page
    text = "the rain stops too early; keep it falling"

    review.key("1", "ArrowRight", "ArrowRight", "ArrowRight")
    review.wait_frame(3)
    review.key("r")
    expect(page.locator("#reject-text")).to_be_focused()
    page.keyboard.type(text)
    page.locator("#reject-pin").check()
    page.locator("#reject-submit").click()
    review.toast("look-t01 sent back; queued look-t03")

    rows = status(project)
    rejected = take_row(rows, "look-t01")
    assert rejected["review"] == "retake"
    assert rejected["notes"] == [f"{getpass.getuser()} [frame 3]: {text}"]
    queued = take_row(rows, "look-t03")
    assert [t["take_id"] for t in rows[0]["takes"]] == ["look-t01", "look-t02", "look-t03"]
    assert queued["status"] == "pending" and queued["review"] == "pending"

    [note] = review.api("/api/takes/look-t01/notes")
    assert note["text"] == text and note["frame"] == 3
    beat = review.api("/api/beats/look")
    assert [t["take_id"] for t in beat["takes"]] == ["look-t01", "look-t02", "look-t03"]
    assert beat["takes"][2]["retake_of"] == "look-t01"
    [decision] = records(project, "review")
    assert decision["take_id"] == "look-t01" and decision["status"] == "retake"
    assert decision["text"] == text and decision["frame"] == 3

    # The page shows the note with its frame; clicking the frame goes there.
    expect(review.panel("look-t01").locator(".badge")).to_have_text("retake")  # drawn anew
    review.wait_compare("look")
    expect(page.locator("#reject-text")).to_have_value("")  # sent: the draft is gone
    link = page.locator("#notes .frame-link")
    expect(link).to_have_text("[frame 3] ")
    expect(page.locator("#notes li")).to_contain_text(text)
    review.wait_frame(0)
    link.click()
    review.wait_frame(3)


def test_a_note_being_typed_survives_a_reload(review: Review, project: Path) -> None:
    review.open()
    review.compare("look")
    page = review.page
    text = "her coat reads brown, not red"

    review.key("n")
    expect(page.locator("#note-text")).to_be_focused()
    page.keyboard.type(text)
    page.reload()

    review.wait_compare("look")
    expect(page.locator("#note-text")).to_have_value(text)
    expect(page.locator("#run-start")).to_be_enabled()  # the token is still there
    assert review.api("/api/takes/look-t01/notes") == []  # typed, not sent

    page.locator("#note-submit").click()  # pinned to the current frame by default
    review.toast("note added")
    [note] = review.api("/api/takes/look-t01/notes")
    assert note["text"] == text and note["frame"] == 0
    assert take_row(status(project), "look-t01")["review"] == "pending"
    expect(page.locator("#note-text")).to_have_value("")
    page.reload()
    review.wait_compare("look")
    expect(page.locator("#note-text")).to_have_value("")


def test_without_the_token_the_page_is_read_only(review: Review, project: Path) -> None:
    review.allow(r"status of 401")  # the refused writes, as the browser logs them
    before = status(project)
    review.open(token=False)
    page = review.page
    expect(page.locator("#access")).to_contain_text("read-only")
    expect(page.locator("#run-start")).to_be_disabled()
    expect(page.locator("#run-stop")).to_be_disabled()

    review.compare("look")
    review.key("2", "a")
    review.toast("write token", error=True)
    expect(review.panel("look-t01")).to_contain_class("primary")

    text = "not allowed without the token"
    page.locator("#reject-text").fill(text)
    page.locator("#reject-submit").click()
    expect(page.locator("#reject-form .error")).to_contain_text("write token")
    expect(page.locator("#reject-text")).to_have_value(text)  # a failed write keeps the text
    expect(page.locator("#reject-submit")).to_be_enabled()

    assert status(project) == before
    assert records(project, "review") == []
    assert review.api("/api/beats/look")["primary_take_id"] == "look-t01"
