"""Stale chains: takes made from a frame of their source beat's old primary.

A take of a chained beat records what it was chained from, in its
``take_metadata["chained_from"]``: the source take's id and the sha256 of the
frame its keyframe started from and of the clip that frame came from. When,
once that keyframe is made, the source beat's primary is another take (an
approval, a rejection, a retake that scores higher), or the same take whose
clip was made again (a damaged file regenerated), the take is marked stale:
``take_metadata["stale"]`` says why. A stale take is kept as it is (never
deleted or overwritten, its steps not run further), is never chosen as primary
automatically (a person may still approve it), and does not count towards its
beat's takes, so the next plan queues a new take, chained from the new primary.
"""

from __future__ import annotations

from recoil.model.take import Beat, Take
from recoil.model.workflow import StepStatus

CHAINED_FROM = "chained_from"
"""Take metadata: ``{"take_id", "frame_sha256", "clip_sha256"}``: what the take started from."""
STALE = "stale"
"""Take metadata: why the take is stale (absent while it is not)."""


def record_chain(take: Take, source: Take, frame_sha256: str) -> None:
    """Note on ``take`` that its keyframe starts from ``source``'s frame (and which clip)."""
    take.take_metadata[CHAINED_FROM] = {
        "take_id": source.take_id,
        "frame_sha256": frame_sha256,
        "clip_sha256": clip_of(source),
    }


def clip_of(take: Take) -> str | None:
    """The sha256 of ``take``'s clip, the one a chained frame comes from."""
    step = next((s for s in take.workflow.steps if s.step_id == "video"), None)
    receipt = step.receipt if step is not None else None
    for artifact in receipt.artifacts.values() if receipt is not None else ():
        if artifact.mime.startswith("video/"):
            return artifact.sha256
    return None


def _moved_on(take: Take, source: Beat) -> str | None:
    """Why ``take``'s frame is not its source's now, or ``None`` while it is."""
    record = take.take_metadata.get(CHAINED_FROM)
    origin = chained_from(take)
    if origin is None or not isinstance(record, dict):
        return None
    if origin != source.primary_take_id:
        now = source.primary_take_id or "none"
        return f"chained from {origin}; {source.beat_id}'s primary is now {now}"
    primary = source.primary_take
    made = record.get("clip_sha256")
    if primary is not None and made is not None and clip_of(primary) not in (None, made):
        return f"chained from {origin}, whose clip was made again since"
    return None


def chained_from(take: Take) -> str | None:
    """The id of the source take ``take`` was chained from, if it records one."""
    record = take.take_metadata.get(CHAINED_FROM)
    source = record.get("take_id") if isinstance(record, dict) else None
    return source if isinstance(source, str) else None


def is_stale(take: Take) -> bool:
    """Whether ``take`` was chained from a frame its source beat no longer uses."""
    return bool(take.take_metadata.get(STALE))


def mark_stale(beat: Beat, source: Beat) -> list[str]:
    """Mark the takes of ``beat`` made from anything but ``source``'s primary stale.

    Only a take whose keyframe was made counts: one still to make it is chained
    again, from the primary of its run. Returns a note for each take newly marked.
    """
    notes = []
    for take in beat.takes:
        reason = None if is_stale(take) else _moved_on(take, source)
        if reason is None:
            continue
        keyframe = next((s for s in take.workflow.steps if s.step_id == "keyframe"), None)
        if keyframe is None or keyframe.status is not StepStatus.SUCCEEDED:
            continue
        take.take_metadata[STALE] = reason
        notes.append(f"{take.take_id} is stale ({reason}); the next run makes a new take")
    return notes
