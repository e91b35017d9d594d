"""Hypothesis strategies for recoil's persisted values (receipts, workflows, takes, beats...).

Values are JSON-safe as recoil writes them: string keys, finite floats, lists not tuples.
Keys never start with ``$`` so generated payloads hold only the step references drawn here.
"""

from __future__ import annotations

import string
from datetime import UTC
from typing import Any

from hypothesis import strategies as st

from recoil.model.cost import Cost
from recoil.model.receipt import Artifact, Receipt, ReceiptError, ReceiptStatus
from recoil.model.take import Beat, Project, Scene, Take, TakeStatus
from recoil.model.workflow import StepStatus, Workflow, WorkflowStep

ids = st.text(alphabet=string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=10)
keys = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=8)
hexes = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
floats = st.floats(allow_nan=False, allow_infinity=False)
short_text = st.text(max_size=20)
times_us = st.integers(min_value=0, max_value=2**62)
iso_times = st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat())
modalities = st.sampled_from(["keyframe", "video", "audio", "upscale"])

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | floats | short_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
    max_leaves=6,
)
json_dicts = st.dictionaries(keys, json_values, max_size=3)

costs = st.builds(
    Cost,
    amount=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    currency=st.sampled_from(["USD", "EUR", "credits"]),
    source=st.sampled_from(["reported", "estimated", "none"]),
    detail=short_text,
)
artifacts = st.builds(
    Artifact,
    name=keys,
    path=st.text(min_size=1, max_size=30),
    sha256=hexes,
    mime=st.sampled_from(["image/png", "video/mp4", "audio/wav"]),
    bytes=st.integers(min_value=0, max_value=2**40),
    raw_sha256=hexes | st.just(""),
    facts=json_dicts,
)
receipt_errors = st.builds(
    ReceiptError,
    type=keys,
    message=short_text,
    retryable=st.booleans(),
    provider_status=st.none() | st.sampled_from(["400", "429", "503", "FAILED"]),
    retry_after_s=st.none() | st.floats(min_value=0, max_value=3600),
    unknown_outcome=st.booleans(),
)


@st.composite
def receipts(draw: st.DrawFn) -> Receipt:
    """Any valid receipt, succeeded or failed."""
    status = draw(st.sampled_from(ReceiptStatus))
    started = draw(times_us)
    return Receipt(
        receipt_id=draw(ids),
        modality=draw(modalities),
        provider=draw(st.sampled_from(["fake", "previz", "fal"])),
        model=draw(short_text),
        status=status,
        request_sha256=draw(hexes),
        prompt=draw(st.text(max_size=40)),
        prompt_sha256=draw(hexes),
        seed=draw(st.none() | st.integers(min_value=0, max_value=2**63 - 1)),
        started_us=started,
        finished_us=started + draw(st.integers(min_value=0, max_value=10**9)),
        request=draw(json_dicts),
        inputs=draw(st.dictionaries(keys, hexes, max_size=2)),
        artifacts=draw(st.dictionaries(keys, artifacts, max_size=2)),
        cost=draw(costs),
        provenance=draw(json_dicts),
        cached=draw(st.booleans()),
        error=draw(receipt_errors) if status is ReceiptStatus.FAILED else None,
        eval_scores=draw(st.dictionaries(keys, floats, max_size=3)),
        job_id=draw(st.none() | ids),
        run_id=draw(st.none() | ids),
        attempt=draw(st.integers(min_value=1, max_value=9)),
    )


@st.composite
def workflows(draw: st.DrawFn, *, executed: bool | None = None) -> Workflow:
    """A valid workflow; ``executed`` forces steps with (True) or without (False) results."""
    step_ids = draw(st.lists(ids, min_size=1, max_size=4, unique=True))
    steps = []
    for i, step_id in enumerate(step_ids):
        earlier = step_ids[:i]
        deps = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
        payload = draw(json_dicts)
        if len(deps) > 0 and draw(st.booleans()):
            payload["image"] = {"$step": draw(st.sampled_from(deps)), "output": "image"}
        ran = draw(st.booleans()) if executed is None else executed
        started = draw(times_us) if ran else None
        steps.append(
            WorkflowStep(
                step_id=step_id,
                modality=draw(modalities),
                payload=payload,
                depends_on=deps,
                status=draw(st.sampled_from(StepStatus)) if ran else StepStatus.PENDING,
                receipt=draw(st.none() | receipts()) if ran else None,
                error=draw(st.none() | short_text) if ran else None,
                started_us=started,
                finished_us=None if started is None else started + draw(times_us),
                attempts=draw(st.integers(min_value=1, max_value=4)) if ran else 0,
            )
        )
    return Workflow(
        workflow_id=draw(ids),
        steps=steps,
        global_provenance=draw(json_dicts),
        created_at=draw(iso_times),
    )


@st.composite
def takes(draw: st.DrawFn, take_id: str | None = None, index: int | None = None) -> Take:
    """Any take, executed or not."""
    return Take(
        take_id=take_id if take_id is not None else draw(ids),
        take_index=index if index is not None else draw(st.integers(min_value=0, max_value=99)),
        workflow=draw(workflows()),
        status=draw(st.sampled_from(TakeStatus)),
        created_at=draw(iso_times),
        take_metadata=draw(json_dicts),
        seed=draw(st.none() | st.integers(min_value=0, max_value=2**31 - 1)),
    )


@st.composite
def beats(draw: st.DrawFn) -> Beat:
    """A beat of up to two takes, perhaps with a primary."""
    take_ids = draw(st.lists(ids, max_size=2, unique=True))
    beat_takes = [draw(takes(take_id, index)) for index, take_id in enumerate(take_ids)]
    primary = draw(st.none() | st.sampled_from(take_ids)) if take_ids else None
    return Beat(
        beat_id=draw(ids),
        takes=beat_takes,
        primary_take_id=primary,
        beat_metadata=draw(json_dicts),
        created_at=draw(iso_times),
        base_seed=draw(st.none() | st.integers(min_value=0, max_value=2**31 - 1)),
    )


scenes = st.builds(
    Scene,
    scene_id=ids,
    beats=st.lists(beats(), max_size=2),
    scene_metadata=json_dicts,
    created_at=iso_times,
)
projects = st.builds(
    Project,
    name=st.text(min_size=1, max_size=12),
    scenes=st.lists(scenes, max_size=2),
    settings=json_dicts,
    created_at=iso_times,
)
