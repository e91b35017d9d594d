from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recoil.errors import ValidationError
from recoil.export import BeatCut, Edit, ReviewNote, TakeMedia
from recoil.records import codec

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=8)
maybe_path = st.none() | ids.map(lambda name: Path("media") / f"{name}.mp4")
notes = st.builds(
    ReviewNote,
    author=st.text(max_size=8),
    text=st.text(max_size=20),
    created_at=st.just("2025-01-02T03:04:05+00:00"),
    frame=st.none() | st.integers(0, 10_000),
)


@st.composite
def takes(draw: st.DrawFn, index: int) -> TakeMedia:
    return TakeMedia(
        take_id=f"t{index}-{draw(ids)}",
        take_index=index,
        status=draw(st.sampled_from(["succeeded", "failed", "partial"])),
        video=draw(maybe_path),
        audio=draw(maybe_path),
        keyframe=draw(maybe_path),
        review_status=draw(st.sampled_from(["pending", "approved", "retake"])),
        notes=tuple(draw(st.lists(notes, max_size=2))),
        receipt_id=draw(st.none() | ids),
        seed=draw(st.none() | st.integers(0, 2**63 - 1)),
        provider=draw(st.none() | ids),
        model=draw(st.none() | ids),
        prompt_sha256=draw(st.none() | st.just("f" * 64)),
        score=draw(st.none() | st.floats(0, 1)),
        cost=draw(st.floats(0, 100)),
    )


@st.composite
def beats(draw: st.DrawFn, number: int) -> BeatCut:
    count = draw(st.integers(0, 3))
    every = [draw(takes(i)) for i in range(count)]
    primary_at = draw(st.none() | st.integers(0, max(0, count - 1))) if every else None
    primary = None if primary_at is None else every[primary_at]
    return BeatCut(
        scene_id=f"s{number // 2}",
        beat_id=f"b{number}",
        title=draw(st.text(max_size=12)),
        duration_s=draw(st.floats(0.1, 30)),
        primary=primary,
        alternates=tuple(t for t in every if t is not primary),
        primary_strategy=draw(st.sampled_from(["first_success", "manual", "score"])),
    )


@st.composite
def edits(draw: st.DrawFn) -> Edit:
    count = draw(st.integers(0, 4))
    return Edit(
        title=draw(st.text(max_size=12)),
        fps=draw(st.sampled_from([24.0, 25.0, 23.976, 30.0])),
        width=draw(st.integers(1, 960)) * 2,
        height=draw(st.integers(1, 540)) * 2,
        sample_rate=draw(st.sampled_from([44100, 48000])),
        beats=tuple(draw(beats(i)) for i in range(count)),
    )


@given(edits())
def test_an_edit_round_trips_through_json(edit: Edit) -> None:
    data = json.loads(json.dumps(codec.encode(edit)))

    assert (data["kind"], data["schema"]) == ("edit", 3)
    assert codec.decode_as(Edit, data) == edit


def test_takes_are_ordered_by_index_and_frames_follow_the_rate() -> None:
    first = TakeMedia(take_id="a", take_index=0, status="failed")
    second = TakeMedia(take_id="b", take_index=1, status="succeeded")
    beat = BeatCut(scene_id="s", beat_id="b", duration_s=1.0, primary=second, alternates=(first,))
    edit = Edit(
        title="t",
        fps=23.976,
        width=64,
        height=36,
        beats=(beat, dataclasses.replace(beat, beat_id="c")),
    )

    assert beat.takes == (first, second)
    assert edit.rate == Fraction(2997, 125)
    assert edit.beat_frames(beat) == 24
    assert edit.frames == 48


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TakeMedia(take_id="t", take_index=-1, status="x"), "take_index"),
        (
            lambda: TakeMedia(
                take_id="t",
                take_index=0,
                status="x",
                review_status="ok",  # type: ignore[arg-type]
            ),
            "review",
        ),
        (lambda: TakeMedia(take_id="t", take_index=0, status="x", cost=-1), "cost"),
        (lambda: BeatCut(scene_id="s", beat_id="b", duration_s=0), "duration_s"),
        (
            lambda: BeatCut(
                scene_id="s",
                beat_id="b",
                duration_s=1,
                primary=TakeMedia(take_id="t", take_index=0, status="x"),
                alternates=(TakeMedia(take_id="t", take_index=0, status="x"),),
            ),
            "primary only once",
        ),
        (lambda: Edit(title="t", fps=0, width=64, height=36), "fps"),
        (lambda: Edit(title="t", fps=24, width=65, height=36), "even"),
        (lambda: Edit(title="t", fps=24, width=64, height=36, sample_rate=100), "sample_rate"),
        (
            lambda: Edit(
                title="t",
                fps=24,
                width=64,
                height=36,
                beats=(BeatCut(scene_id="s", beat_id="b", duration_s=1),) * 2,
            ),
            "twice",
        ),
        (lambda: codec.decode_as(Edit, {"kind": "recoil.edit", "schema": 99}), "upgrade recoil"),
    ],
)
def test_bad_values_are_refused_with_a_reason(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build()
