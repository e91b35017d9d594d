"""A run started from the page: its progress streams in (server-sent events), its take appears."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.pages import Review, cli, status, take_row

pytestmark = pytest.mark.slow

# Before the page's own script: keep every `run` event the page receives, and every
# phase `#run-text` shows, in order.
WATCH_RUN = """
window.runEvents = [];
window.runPhases = [];
const NativeEventSource = window.EventSource;
window.EventSource = class extends NativeEventSource {
  constructor(...args) {
    super(...args);
    this.addEventListener("run", (event) => window.runEvents.push(JSON.parse(event.data)));
  }
};
document.addEventListener("DOMContentLoaded", () => {
  const text = document.getElementById("run-text");
  new MutationObserver(() => {
    const phase = text.dataset.phase, seen = window.runPhases;
    if (phase && seen[seen.length - 1] !== phase) seen.push(phase);
  }).observe(text, { attributes: true, attributeFilter: ["data-phase"] });
});
"""


def test_a_run_started_from_the_page_streams_its_progress(review: Review, project: Path) -> None:
    queued = cli(project, "retake", str(project), "walk")
    assert queued.returncode == 0, queued.stderr
    assert take_row(status(project), "walk-t03")["status"] == "pending"
    page = review.page
    page.add_init_script(WATCH_RUN)
    review.open()
    review.compare("walk")
    expect(page.locator(".chips input[value='walk-t03']")).to_be_disabled()  # not made yet
    page.wait_for_function("window.runEvents.length > 0")  # the stream is open
    expect(page.locator("#run-text")).to_have_attribute("data-phase", "idle")

    page.locator("#run-start").click()
    expect(page.locator("#run-text")).to_have_attribute("data-phase", "done")
    events: list[dict[str, Any]] = page.evaluate("window.runEvents")
    phases: list[str] = page.evaluate("window.runPhases")
    assert phases[-2:] == ["running", "done"], phases
    streamed = [e for e in events if e["run_id"] is not None]
    assert {e["phase"] for e in streamed} >= {"running", "done"}, streamed
    [run_id] = {e["run_id"] for e in streamed}
    last = streamed[-1]
    assert last["phase"] == "done" and last["total"] == 2  # keyframe and video of walk-t03
    assert last["done"] == last["total"] and last["failed"] == 0
    done = [e["done"] for e in streamed]
    assert done == sorted(done), done  # progress only goes forward
    assert any(e["phase"] == "running" and 0 < e["done"] < e["total"] for e in streamed), done
    assert last["summary"].startswith("2 succeeded (0 cached), 0 failed"), last

    bar = page.locator("#run-bar")
    expect(bar).to_have_js_property("max", 2)
    expect(bar).to_have_js_property("value", 2)
    expect(page.locator("#run-text")).to_contain_text("done: 2/2 steps, 0 failed")
    expect(page.locator("#run-start")).to_be_enabled()
    expect(page.locator("#run-stop")).to_be_disabled()

    # The page refreshed itself when the run ended: the new take is there to compare.
    expect(page.locator(".chips input[value='walk-t03']")).to_be_enabled()
    assert take_row(status(project), "walk-t03")["status"] == "succeeded"
    assert review.api("/api/runs/current")["run_id"] == run_id
    page.locator(".home").click()
    thumb = page.locator(".thumb[data-take='walk-t03']")
    expect(thumb.locator("img")).to_be_visible()
    expect(thumb.locator(".meta")).to_contain_text("succeeded")
