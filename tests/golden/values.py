"""Fixed, deterministic values of every persisted kind, for the golden files."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from recoil.export.edit import BeatCut, Edit, Extent, TakeMedia
from recoil.model.cost import Cost
from recoil.model.receipt import (
    Artifact,
    EvalRecord,
    Receipt,
    ReceiptError,
    ReceiptStatus,
    ReviewRecord,
    Sending,
    Submitted,
    TakeRecord,
)
from recoil.model.review import ReviewNote, ReviewStatus
from recoil.model.take import Take, TakeStatus
from recoil.model.workflow import StepStatus, Workflow, WorkflowStep
from recoil.records import codec

ARTIFACT = Artifact(
    name="image",
    path="/project/artifacts/ab/abcd.png",
    sha256="ab" * 32,
    mime="image/png",
    bytes=1234,
    raw_sha256="cd" * 32,
    facts={"width": 1280, "height": 720},
)
RECEIPT = Receipt(
    receipt_id="r_0001",
    modality="keyframe",
    provider="fake",
    model="fake-image-1",
    status=ReceiptStatus.SUCCEEDED,
    request_sha256="11" * 32,
    prompt="a lighthouse at dusk",
    prompt_sha256="22" * 32,
    seed=7,
    started_us=1_700_000_000_000_000,
    finished_us=1_700_000_000_500_000,
    request={"modality": "keyframe", "prompt": "a lighthouse at dusk", "seed": 7},
    inputs={},
    artifacts={"image": ARTIFACT},
    cost=Cost(amount=0.25, currency="USD", source="estimated", detail="1 image x 0.25 USD"),
    provenance={"scene_id": "sc1", "take_id": "sc1-b1-t01", "workflow_step_id": "key"},
    eval_scores={"sharpness": 0.5},
    run_id="run_1",
)
FAILED = Receipt(
    **{
        **{f: getattr(RECEIPT, f) for f in RECEIPT.__dataclass_fields__},
        "receipt_id": "r_0002",
        "status": ReceiptStatus.FAILED,
        "artifacts": {},
        "error": ReceiptError(type="ProviderError", message="boom", retryable=True),
        "attempt": 2,
    }
)
SUBMITTED = Submitted(
    receipt_id="r_0003",
    modality="video",
    provider="fal",
    request_sha256="33" * 32,
    job_id="job-9",
    handle={"status_url": "http://fal.test/9"},
    submitted_us=1_700_000_001_000_000,
    run_id="run_1",
)
SENDING = Sending(
    receipt_id="r_0003",
    modality="video",
    provider="fal",
    request_sha256="33" * 32,
    sent_us=1_700_000_000_900_000,
    run_id="run_1",
)
EVAL = EvalRecord(
    receipt_id="r_0001",
    scores={"exposure": 0.75},
    scorer="exposure",
    version="1",
    measurements={"mean_luma": 0.42, "clipped_highlights": 0.0},
    created_us=9,
)
REVIEW = ReviewRecord(
    record_id="rv_1",
    take_id="sc1-b1-t01",
    beat_id="b1",
    author="ana",
    created_at="2024-01-01T00:00:00+00:00",
    status=ReviewStatus.RETAKE,
    text="too dark",
    frame=12,
)
WORKFLOW = Workflow(
    workflow_id="wf_1",
    created_at="2024-01-01T00:00:00+00:00",
    global_provenance={"project": "demo"},
    steps=[
        WorkflowStep(step_id="key", modality="keyframe", payload={"prompt": "a lighthouse"}),
        WorkflowStep(
            step_id="vid",
            modality="video",
            payload={"image": {"$step": "key", "output": "image"}},
            depends_on=["key"],
        ),
    ],
)
TAKE = Take(
    take_id="sc1-b1-t01",
    take_index=0,
    workflow=WORKFLOW,
    created_at="2024-01-01T00:00:00+00:00",
    take_metadata={"beat_id": "b1", "scene_id": "sc1"},
    seed=7,
)
EXECUTED = Take(
    take_id="sc1-b1-t02",
    take_index=1,
    status=TakeStatus.PARTIAL,
    workflow=Workflow(
        workflow_id="wf_2",
        created_at="2024-01-01T00:00:00+00:00",
        steps=[
            WorkflowStep(
                step_id="key",
                modality="keyframe",
                status=StepStatus.SUCCEEDED,
                receipt=RECEIPT,
                started_us=1,
                finished_us=2,
                attempts=1,
            )
        ],
    ),
    created_at="2024-01-01T00:00:00+00:00",
)
TAKE_RECORD = TakeRecord(
    take_id=TAKE.take_id, beat_id="b1", scene_id="sc1", take=codec.encode(TAKE)
)
NOTE = ReviewNote(author="ana", text="too dark", created_at="2024-01-01T00:00:00+00:00", frame=3)
EDIT = Edit(
    title="demo",
    fps=24.0,
    width=1280,
    height=720,
    beats=(
        BeatCut(
            scene_id="sc1",
            beat_id="b1",
            duration_s=2.0,
            title="the lighthouse",
            primary=TakeMedia(
                take_id="sc1-b1-t01",
                take_index=0,
                status="succeeded",
                video=Path("/project/artifacts/v1.mp4"),
                keyframe=Path("/project/artifacts/k1.png"),
                video_extent=Extent(count=48, rate=24.0),
                review_status=ReviewStatus.APPROVED,
                notes=(NOTE,),
                receipt_id="r_0001",
                seed=7,
                provider="fake",
                model="fake-video-1",
                prompt_sha256="22" * 32,
                score=0.5,
                cost=0.25,
            ),
            alternates=(TakeMedia(take_id="sc1-b1-t02", take_index=1, status="failed"),),
        ),
        BeatCut(scene_id="sc1", beat_id="b2", duration_s=1.5, title="a hole"),
    ),
)
# The same edit as written before takes carried their extents (schema 1 and 2).
_B1 = EDIT.beats[0]
assert _B1.primary is not None
EDIT_WITHOUT_EXTENTS = dataclasses.replace(
    EDIT,
    beats=(
        dataclasses.replace(_B1, primary=dataclasses.replace(_B1.primary, video_extent=None)),
        *EDIT.beats[1:],
    ),
)
CREATED_AT = "2024-01-01T00:00:00+00:00"

VALUES: dict[str, Any] = {
    "receipt": RECEIPT,
    "receipt-failed": FAILED,
    "submitted": SUBMITTED,
    "sending": SENDING,
    "eval": EVAL,
    "review": REVIEW,
    "take_record": TAKE_RECORD,
    "workflow": WORKFLOW,
    "take": TAKE,
    "take-executed": EXECUTED,
    "edit": EDIT,
}
"""Golden file stem -> the value its ``<stem>.json`` encodes."""
