"""What a rerun repairs: outputs that are gone or damaged, and steps that failed.

Before a run sends anything, every output of every succeeded step of an
enabled beat is checked: the file must exist with its recorded size, and its
bytes must hash to its sha256. Hashing is skipped for a file whose size and
modification time are those it had when it last hashed intact (the store
remembers them, as rsync and git do); ``recoil verify`` hashes every file
regardless. A step whose output is missing or damaged goes back to pending,
with the steps after it, and its take runs again.

A step whose last attempt failed definitely (the provider refused it, the
connection was refused, the config was wrong) is tried again on the next run,
with the steps it kept from running. A step whose outcome is unknown (a submit
that may have been accepted and billed, SPEC 7) is not: it stays failed and
the run says how to look at it and how to try again on purpose.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from recoil.model.receipt import Artifact
from recoil.model.take import Beat, Project, Take, TakeStatus
from recoil.model.workflow import StepStatus
from recoil.production.folder import open_production, open_store
from recoil.production.plan import plan_project
from recoil.records.artifacts import sha256_file

Locate = Callable[[Artifact], Path]


@dataclass(frozen=True, slots=True, kw_only=True)
class Damage:
    """One output file a succeeded step's receipt promises and the disk does not hold."""

    take_id: str
    step_id: str
    path: Path
    reason: str

    def line(self) -> str:
        """``b1-t01/video: /p/artifacts/ab/ab...mp4 is missing``."""
        return f"{self.take_id}/{self.step_id}: {self.path} {self.reason}"


@dataclass(slots=True)
class Checked:
    """The outcome of checking a project's outputs."""

    damage: list[Damage] = dataclasses.field(default_factory=list)
    files: int = 0
    hashed: int = 0
    intact: list[tuple[str, int, int]] = dataclasses.field(default_factory=list)
    """``(sha256, bytes, mtime_ns)`` of the files hashed intact just now."""


def active_takes(project: Project) -> Iterator[tuple[Beat, Take]]:
    """Every take of every enabled beat still in the shot list."""
    for beat in project.beats():
        meta = beat.beat_metadata
        if meta.get("enabled", True) and not meta.get("removed"):
            for take in beat.takes:
                yield beat, take


def check_outputs(
    project: Project,
    locate: Locate,
    known: Mapping[str, tuple[int, int]],
    *,
    rehash: bool = False,
) -> Checked:
    """Check the output files of every succeeded step (see the module docs).

    ``known`` is sha256 -> (bytes, mtime_ns) of files last hashed intact;
    ``rehash`` hashes every file whatever ``known`` says.
    """
    checked = Checked()
    verdicts: dict[str, str | None] = {}
    for _, take in active_takes(project):
        for step in take.workflow.steps:
            if step.status is not StepStatus.SUCCEEDED or step.receipt is None:
                continue
            for artifact in step.receipt.artifacts.values():
                path = locate(artifact)
                if artifact.sha256 not in verdicts:
                    verdicts[artifact.sha256] = _verdict(artifact, path, known, rehash, checked)
                reason = verdicts[artifact.sha256]
                if reason is not None:
                    checked.damage.append(
                        Damage(take_id=take.take_id, step_id=step.step_id, path=path, reason=reason)
                    )
    return checked


def _verdict(
    artifact: Artifact,
    path: Path,
    known: Mapping[str, tuple[int, int]],
    rehash: bool,
    checked: Checked,
) -> str | None:
    checked.files += 1
    try:
        stat = path.stat()
        if stat.st_size != artifact.bytes:
            return f"has {stat.st_size} bytes, its receipt says {artifact.bytes} (damaged)"
        if not rehash and known.get(artifact.sha256) == (stat.st_size, stat.st_mtime_ns):
            return None
        checked.hashed += 1
        digest = sha256_file(path)
    except FileNotFoundError:
        return "is missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if digest != artifact.sha256:
        return "no longer matches its sha256 (damaged)"
    checked.intact.append((artifact.sha256, stat.st_size, stat.st_mtime_ns))
    return None


def verify_project(path: Path) -> Checked:
    """Hash every output file of the project at ``path`` (``recoil verify``); changes nothing
    but the store's memory of which files hashed intact."""
    production = open_production(path)
    with open_store(production) as store:
        project = plan_project(production.shotlist, store.load_project(), base=path)
        checked = check_outputs(project, production.artifacts.locate, {}, rehash=True)
        store.mark_verified(checked.intact)
    return checked


def requeue_damaged(project: Project, damage: list[Damage]) -> list[str]:
    """Send the steps with damaged outputs (and the steps after them) back to pending."""
    by_take: dict[str, set[str]] = {}
    for item in damage:
        by_take.setdefault(item.take_id, set()).add(item.step_id)
    notes: list[str] = []
    for _, take in active_takes(project):
        broken = by_take.get(take.take_id)
        if broken:
            _reset(take, broken)
            notes.append(
                f"{take.take_id}: regenerating {', '.join(sorted(broken))} "
                "(its output file is missing or damaged)"
            )
    return notes


def requeue_failed(project: Project, rejected: set[str]) -> tuple[list[str], list[str]]:
    """Send definitely failed steps (and the steps they kept from running) back to pending.

    Takes a person sent back for a retake (``rejected``) are left alone. Returns
    ``(notes, unknown)``: what will be tried again, and the steps left failed
    because their outcome is unknown.
    """
    notes: list[str] = []
    unknown: list[str] = []
    for _, take in active_takes(project):
        # By step status alone: a take reset by an earlier run that never reached the
        # step is pending, with its old failed receipt re-attached to the step.
        if take.take_id in rejected:
            continue
        retry: set[str] = set()
        for step in take.workflow.steps:
            if step.status is not StepStatus.FAILED:
                continue
            error = step.receipt.error if step.receipt is not None else None
            if error is not None and error.unknown_outcome:
                unknown.append(
                    f"{take.take_id}/{step.step_id}: its outcome is unknown (the provider may "
                    "have run and billed it), so it is not sent again; look at it with "
                    "`recoil receipts`, then queue a new take with `recoil retake` if you want one"
                )
            else:
                retry.add(step.step_id)
        if retry:
            _reset(take, retry)
            notes.append(f"{take.take_id}: trying {', '.join(sorted(retry))} again (it failed)")
    return notes, unknown


def _reset(take: Take, step_ids: set[str]) -> None:
    """Reset ``step_ids`` and the steps after them that did not succeed (skipped because
    of them); the take is pending again. A later step that succeeded keeps its output:
    its receipt names the input it was made from."""
    steps = take.workflow.steps
    reset = set(step_ids)
    grown = True
    while grown:
        grown = False
        for step in steps:
            if (
                step.step_id not in reset
                and step.status is not StepStatus.SUCCEEDED
                and any(dep in reset for dep in step.depends_on)
            ):
                reset.add(step.step_id)
                grown = True
    for index, step in enumerate(steps):
        if step.step_id in reset and step.status is not StepStatus.PENDING:
            steps[index] = step.reset()
    take.status = TakeStatus.PENDING
