"""Planning: a shot list (and what already exists) -> scenes, beats and the takes to run.

Each beat becomes a workflow (SPEC section 9): ``keyframe`` -> ``video`` (from
the keyframe), ``audio`` when there is dialogue, ``upscale`` when the project
asks for it. Planning is idempotent: a beat keeps its takes, and gets new ones
only while it has fewer than its ``takes`` for the *current* version of its
fields (a fingerprint of its workflow). Editing a beat therefore queues fresh
takes and keeps the old ones for comparison; nothing is deleted. A stale take
(chained from a frame its source no longer uses, :mod:`.staleness`) does not
count either, so its beat gets a fresh take. A beat removed from the shot list
is kept with ``removed: true``.

A beat's ``params`` for a modality (the project's, the beat's over them) go
into that step's payload: a name that is a field of the modality's request the
plan does not fill itself (``steps``, ``guidance``, ``strength``, ``voice``,
``sample_rate``) sets that field, so every provider maps it to its own input;
any other name goes to the provider as is, in the request's ``params``. Either
way it is part of the request, so of the take's fingerprint, the cache key,
the receipt and the sidecar.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recoil.model.requests import BUILTIN_REQUESTS
from recoil.model.take import Beat, Project, Scene, Take, TakeStatus
from recoil.model.workflow import STEP_REF, Workflow, WorkflowStep
from recoil.production.staleness import is_stale
from recoil.records.artifacts import recorded_path
from recoil.shotlist import (
    BeatSpec,
    SceneSpec,
    ShotList,
    audio_text,
    audio_voice,
    keyframe_prompt,
    negative_prompt,
    shot_hints,
    video_prompt,
)

UPSCALE_FACTOR = 2.0
_NOT_LIFTED = frozenset({"shot", "params", "provider", "model"})
"""Request fields a parameter never sets: routing, hints and the parameters themselves."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedBeat:
    """A beat of the shot list with its place in the film."""

    scene: SceneSpec
    spec: BeatSpec
    chain_from: str | None
    """The beat whose primary's last frame starts this one (keyframe chaining)."""


def planned_beats(shotlist: ShotList) -> list[PlannedBeat]:
    """Every beat of the shot list in film order, with its chaining source."""
    beats: list[PlannedBeat] = []
    for scene, spec in shotlist.iter_beats(include_disabled=True):
        source = shotlist.previous_beat(spec) if spec.chain_from_previous else None
        chain = source.id if source is not None and spec.enabled else None
        beats.append(PlannedBeat(scene=scene, spec=spec, chain_from=chain))
    return beats


def beat_workflow(shotlist: ShotList, scene: SceneSpec, beat: BeatSpec, base: Path) -> Workflow:
    """The workflow template of one beat (not yet a take's: see ``Workflow.fresh``)."""
    project = shotlist.project
    routing = {"provider": beat.provider} if beat.provider else {}
    steps = _picture_steps(shotlist, scene, beat, base, routing)
    if beat.dialogue:
        audio: dict[str, Any] = {"prompt": audio_text(beat), **routing}
        voice = audio_voice(shotlist, beat)
        if voice:
            audio["voice"] = voice
        audio = with_params(audio, "audio", shotlist.params_for(beat, "audio"))
        steps.append(WorkflowStep(step_id="audio", modality="audio", payload=audio))
    if project.upscale:
        video = {STEP_REF: "video", "output": "video"}
        upscale = {"video": video, "scale": UPSCALE_FACTOR, **routing}
        upscale = with_params(upscale, "upscale", shotlist.params_for(beat, "upscale"))
        steps.append(
            WorkflowStep(
                step_id="upscale", modality="upscale", payload=upscale, depends_on=["video"]
            )
        )
    return Workflow(
        workflow_id=f"{beat.id}-template",
        steps=steps,
        global_provenance={"project": project.title},
    )


def _picture_steps(
    shotlist: ShotList, scene: SceneSpec, beat: BeatSpec, base: Path, routing: dict[str, str]
) -> list[WorkflowStep]:
    """The keyframe and the clip made from it."""
    project = shotlist.project
    hints = shot_hints(shotlist, scene, beat)
    shared: dict[str, Any] = {
        "negative_prompt": negative_prompt(shotlist),
        "width": project.resolution.width,
        "height": project.resolution.height,
        "shot": hints,
        **routing,
    }
    # Relative to the project folder, so that moving it changes no prompt's version.
    references = [
        recorded_path(path, base)
        for cid in beat.characters
        for path in shotlist.characters[cid].reference_paths(base)
    ]
    if references:
        shared["reference_images"] = references
    keyframe = {"prompt": keyframe_prompt(shotlist, scene, beat), **shared}
    video = {
        "prompt": video_prompt(shotlist, scene, beat),
        **shared,
        "fps": project.fps,
        "duration_s": beat.duration,
        "camera_movement": beat.shot.movement,
        "image": {STEP_REF: "keyframe", "output": "image"},
    }
    keyframe = with_params(keyframe, "keyframe", shotlist.params_for(beat, "keyframe"))
    video = with_params(video, "video", shotlist.params_for(beat, "video"))
    return [
        WorkflowStep(step_id="keyframe", modality="keyframe", payload=keyframe),
        WorkflowStep(step_id="video", modality="video", payload=video, depends_on=["keyframe"]),
    ]


def with_params(
    payload: dict[str, Any], modality: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """``payload`` with a beat's model parameters for ``modality`` (see the module docstring)."""
    if not params:
        return payload
    request_type = BUILTIN_REQUESTS[modality]
    liftable = {f.name for f in dataclasses.fields(request_type)} - _NOT_LIFTED
    liftable -= set(request_type.input_fields) | set(payload)
    fields = {k: v for k, v in params.items() if k in liftable}
    rest = {k: v for k, v in params.items() if k not in liftable}
    return {**payload, **fields, **({"params": rest} if rest else {})}


def fingerprint(workflow: Workflow) -> str:
    """The sha256 of a workflow template's steps: changes when any prompt or field does."""
    steps = [
        {"id": s.step_id, "modality": s.modality, "payload": s.payload, "deps": s.depends_on}
        for s in workflow.steps
    ]
    text = json.dumps(steps, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def plan_project(shotlist: ShotList, existing: Project | None, *, base: Path) -> Project:
    """Bring ``existing`` (or a new project) in line with the shot list; see module docs."""
    project = existing or Project(name=shotlist.project.title)
    project.name = shotlist.project.title
    project.settings = {
        "title": shotlist.project.title,
        "fps": shotlist.project.fps,
        "width": shotlist.project.resolution.width,
        "height": shotlist.project.resolution.height,
        "primary_strategy": shotlist.project.primary_strategy,
    }
    old_scenes = {s.scene_id: s for s in project.scenes}
    old_beats = {b.beat_id: b for s in project.scenes for b in s.beats}
    placed: set[str] = set()
    scenes: list[Scene] = []
    for scene_spec in shotlist.scenes:
        scene = old_scenes.pop(scene_spec.id, None) or Scene(scene_id=scene_spec.id)
        scene.scene_metadata.update(
            title=scene_spec.title,
            location=scene_spec.location,
            time_of_day=scene_spec.time_of_day,
            removed=False,
        )
        scene.beats = []
        scenes.append(scene)
    by_scene = {s.scene_id: s for s in scenes}
    for planned in planned_beats(shotlist):
        spec = planned.spec
        beat = old_beats.get(spec.id) or Beat(beat_id=spec.id, base_seed=shotlist.beat_seed(spec))
        placed.add(spec.id)
        _update_beat(shotlist, planned, beat, base)
        by_scene[planned.scene.id].beats.append(beat)
    # Scenes and beats no longer in the shot list are kept, marked removed.
    for scene in old_scenes.values():
        scene.scene_metadata["removed"] = True
        scene.beats = []
        scenes.append(scene)
    for beat_id, beat in old_beats.items():
        if beat_id not in placed:
            beat.beat_metadata["removed"] = True
            home = by_scene.get(str(beat.beat_metadata.get("scene_id")))
            (home.beats if home is not None else scenes[-1].beats).append(beat)
    project.scenes = scenes
    return project


def _update_beat(shotlist: ShotList, planned: PlannedBeat, beat: Beat, base: Path) -> None:
    spec = planned.spec
    template = beat_workflow(shotlist, planned.scene, spec, base)
    version = fingerprint(template)
    target = shotlist.takes_for(spec)
    beat.beat_metadata.update(
        scene_id=planned.scene.id,
        enabled=spec.enabled,
        removed=False,
        duration_s=spec.duration,
        caption=spec.action,
        takes=target,
        chain_from=planned.chain_from,
        version=version,
    )
    if not spec.enabled:
        return
    current = [
        t for t in beat.takes if t.take_metadata.get("version") == version and not is_stale(t)
    ]
    while len(current) < target:
        current.append(add_take(beat, template, version))


def add_take(beat: Beat, template: Workflow, version: str, **metadata: Any) -> Take:
    """Append a new pending take of the beat running a fresh copy of ``template``."""
    index = len(beat.takes)
    take_id = f"{beat.beat_id}-t{index + 1:02d}"
    workflow = template.fresh(f"{take_id}-wf")
    return beat.new_take(workflow, take_id=take_id, take_metadata={"version": version, **metadata})


def runnable_takes(project: Project) -> list[tuple[Scene, Beat, Take]]:
    """Takes still to run (pending, or interrupted while running) of enabled beats."""
    found: list[tuple[Scene, Beat, Take]] = []
    for scene in project.scenes:
        for beat in scene.beats:
            if not beat.beat_metadata.get("enabled", True) or beat.beat_metadata.get("removed"):
                continue
            for take in beat.takes:
                if take.status is TakeStatus.RUNNING:
                    take.status = TakeStatus.PENDING  # a run that died mid-take resumes it
                # A stale take is kept as it is: its new take runs instead.
                if take.status is TakeStatus.PENDING and not is_stale(take):
                    found.append((scene, beat, take))
    return found
