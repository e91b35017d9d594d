"""Keyframe chaining in a run: a chained take starts once its source's primary is decided.

A beat whose ``chain_from`` names another beat starts its keyframe from the
last frame of that beat's primary take. A run is one graph: the keyframe of
each chained take waits behind a gate (``Unit.gates``) that opens as soon as
the source's primary is decided under the project's strategy
(:func:`~recoil.production.primaries.decided`): at the start if it is then,
else as the source's takes finish and, under ``score``, once their scoring
is done (the frame is then decoded off the event loop). Nothing else waits:
other steps of the take, unrelated beats and other scenes run at once. The
takes that decide a beat's primary start before the alternates, the more so
the longer the chain after them (``Unit.priority``), so that long chains are
not left to the end. Under ``manual`` only an approval decides; approvals are read again from
the store once the source's takes have finished, so one given in the review
studio meanwhile counts. A take still waiting when nothing else is under way
is left pending, and the run says which beats wait, and on what.

Each chained take records the take and the frame it was chained from
(:mod:`.staleness`), so a later change of the source's primary marks it stale.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from recoil.errors import RecoilError
from recoil.execution.scheduler import Scheduler, Unit
from recoil.media.frames import last_frame
from recoil.model.receipt import EvalRecord, Receipt
from recoil.model.take import Beat, PrimaryStrategy, Project, Take
from recoil.model.workflow import StepStatus
from recoil.production.folder import Production
from recoil.production.primaries import (
    PrimaryRule,
    choose_beat,
    decided,
    project_rule,
    reviews_of,
)
from recoil.production.staleness import record_chain
from recoil.records.artifacts import recorded_path
from recoil.store import ProjectStore

KEYFRAME = "keyframe"


@dataclass(slots=True, kw_only=True)
class _Link:
    """A chained take whose keyframe waits for its source's primary."""

    take: Take
    source: Beat
    unit: Unit | None = None


class Chains:
    """The chained takes of one run: what each waits for, and the opening of its gate."""

    def __init__(
        self,
        production: Production,
        store: ProjectStore,
        project: Project,
        takes: Iterable[Take],
    ) -> None:
        self.production = production
        self.store = store
        self.scheduler: Scheduler | None = None
        self._changed: Callable[[Take], None] | None = None
        self._fresh: dict[str, dict[str, float]] = {}
        """Scores given in this run, by receipt id (the store indexes them after it)."""
        base = project_rule(production, store)
        stored = base.scores

        def scores(receipt: Receipt) -> dict[str, float]:
            found = dict(stored(receipt)) if stored is not None else dict(receipt.eval_scores)
            return {**found, **self._fresh.get(receipt.receipt_id, {})}

        self.rule: PrimaryRule = dataclasses.replace(base, scores=scores)
        self._beats = {b.beat_id: b for b in project.beats()}
        self._beat_of = {t.take_id: b for b in project.beats() for t in b.takes}
        takes = list(takes)
        self._unfinished = {t.take_id for t in takes}
        self._after = _chain_after(project, takes)
        self._scoring: dict[str, set[asyncio.Future[None]]] = {}
        self._waiting: dict[str, list[_Link]] = {}
        """Source beat id -> the takes waiting for its primary."""
        self._opening: set[asyncio.Future[None]] = set()
        self._problems: list[str] = []
        self._broken: set[str] = set()
        """Sources whose primary's frame could not be read: their chains wait."""
        for take in takes:
            self._link(take)
        for source_id in list(self._waiting):
            self._settle(source_id)  # decided already: chained now, behind no gate
        self._gated = {id(link.take) for links in self._waiting.values() for link in links}

    def _link(self, take: Take) -> None:
        beat = self._beat_of[take.take_id]
        source = self._beats.get(str(beat.beat_metadata.get("chain_from")))
        keyframe = next((s for s in take.workflow.steps if s.step_id == KEYFRAME), None)
        if source is None or source is beat or keyframe is None:
            return
        # A keyframe cut short by a crash (``running``) is pending again: chained again.
        if keyframe.status in (StepStatus.PENDING, StepStatus.RUNNING):
            self._waiting.setdefault(source.beat_id, []).append(_Link(take=take, source=source))

    def gates(self, take: Take) -> frozenset[str]:
        """The steps of ``take`` that wait behind a gate: its keyframe, if it waits."""
        return frozenset({KEYFRAME}) if id(take) in self._gated else frozenset()

    def priority(self, take: Take) -> int:
        """The longest run of steps through ``take`` and the chains that wait for its
        beat's primary, if ``take`` is one that decides it (under ``first_success``,
        its first take still to run; else every one); 0 for the others.

        So the takes that make the cut start first, long chains foremost, and the
        alternates fill the slots left.
        """
        beat = self._beat_of[take.take_id]
        if self.rule.strategy is PrimaryStrategy.FIRST_SUCCESS:
            running = [t for t in beat.takes if t.take_id in self._unfinished]
            if running and running[0] is not take:
                return 0
        return len(take.workflow.steps) + self._after.get(beat.beat_id, 0)

    def start(
        self, scheduler: Scheduler, units: Iterable[Unit], changed: Callable[[Take], None]
    ) -> None:
        """Bind the gates to the run's scheduler and units, before it runs.

        ``changed`` is told of each take chained from then on, to save it soon: what
        it was chained from is then in the store before its keyframe, as a rule.
        """
        self.scheduler = scheduler
        self._changed = changed
        by_take = {id(u.take): u for u in units if u.take is not None}
        for links in self._waiting.values():
            for link in links:
                link.unit = by_take.get(id(link.take))

    def take_done(self, take: Take) -> None:
        """A take of the run finished: the beats chained from its beat may start."""
        self._unfinished.discard(take.take_id)
        beat = self._beat_of.get(take.take_id)
        if beat is not None:
            self._settle(beat.beat_id)

    def scoring(self, take: Take, task: asyncio.Future[None]) -> None:
        """A scoring of one of ``take``'s receipts started: under ``score`` its chained
        beats wait for it, and the run does not end before it does."""
        if self.rule.strategy is not PrimaryStrategy.SCORE:
            return
        pending = self._scoring.setdefault(take.take_id, set())
        pending.add(task)
        if self.scheduler is not None:
            self.scheduler.outside(task)

        def done(finished: asyncio.Future[None]) -> None:
            pending.discard(finished)
            beat = self._beat_of.get(take.take_id)
            if beat is not None and take.take_id not in self._unfinished:
                self._settle(beat.beat_id)

        task.add_done_callback(done)

    def scored(self, records: Iterable[EvalRecord]) -> None:
        """Scores given in this run (before the store has indexed them)."""
        for record in records:
            self._fresh.setdefault(record.receipt_id, {}).update(record.scores)

    def _settle(self, source_id: str) -> None:
        """Open the gates of the takes chained from ``source_id`` if its primary is decided."""
        links = self._waiting.get(source_id)
        if not links or source_id in self._broken:
            return
        source = links[0].source
        if not self._decided(source):
            return
        choose_beat(source, self.rule)
        primary = source.primary_take
        if primary is None:
            return  # nothing to chain from: they wait (see notes)
        if self.scheduler is None:  # before the run: chained now, behind no gate
            try:
                frame = self._frame(primary)
            except (RecoilError, OSError) as exc:
                self._broken.add(source_id)  # they wait behind gates that stay closed
                self._problem(links, primary, exc)
                return
            del self._waiting[source_id]
            for link in links:
                self._start_from(link.take, primary, frame)
            return
        del self._waiting[source_id]
        # The frame is decoded off the loop; the run waits for it, as for a step.
        task = asyncio.ensure_future(self._open(self.scheduler, links, primary))
        self.scheduler.outside(task)
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _open(self, scheduler: Scheduler, links: list[_Link], primary: Take) -> None:
        """Start the links from ``primary``'s last frame, then open their gates."""
        try:
            frame = await asyncio.to_thread(self._frame, primary)
        except (RecoilError, OSError) as exc:
            self._problem(links, primary, exc)
            return  # they stay pending, for a run after the source is fixed
        for link in links:
            self._start_from(link.take, primary, frame)
            if self._changed is not None:
                self._changed(link.take)
            if scheduler.running and link.unit is not None:
                scheduler.open(link.unit, KEYFRAME)

    def _problem(self, links: list[_Link], primary: Take, exc: Exception) -> None:
        beats = ", ".join(sorted({self._beat_of[link.take.take_id].beat_id for link in links}))
        self._problems.append(f"{beats} could not start from {primary.take_id}'s frame: {exc}")

    async def close(self) -> None:
        """Cancel the gates still opening (the run has ended) and wait for them."""
        tasks = set(self._opening)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def _decided(self, source: Beat) -> bool:
        takes = [t.take_id for t in source.takes]
        if any(self._scoring.get(t) for t in takes):
            return False
        if decided(source, self.rule, self._unfinished):
            return True
        if self.rule.strategy is not PrimaryStrategy.MANUAL:
            return False
        if any(t in self._unfinished for t in takes):
            return False
        # The source is done: a person may have approved a take meanwhile.
        self.rule = dataclasses.replace(
            self.rule, approvals=self.store.approvals(), reviews=reviews_of(self.store)
        )
        return decided(source, self.rule, self._unfinished)

    def _frame(self, primary: Take) -> tuple[Path, str] | None:
        """The last frame of ``primary``'s clip and its sha256; ``None`` without a clip."""
        video = primary.workflow.step("video").receipt
        clip = next(
            (a for a in (video.artifacts.values() if video else ()) if a.mime.startswith("video/")),
            None,
        )
        if clip is None:
            return None
        frame = last_frame(self.production.artifacts.locate(clip), self.production.frames)
        return frame, hashlib.sha256(frame.read_bytes()).hexdigest()

    def _start_from(self, take: Take, primary: Take, frame: tuple[Path, str] | None) -> None:
        """Start the take's keyframe from ``frame`` (without one, from its prompt alone)."""
        if frame is None:
            return
        keyframe = take.workflow.step(KEYFRAME)
        # Relative to the project folder, like every path a receipt records.
        image = recorded_path(frame[0], self.production.path)
        keyframe.payload = {**keyframe.payload, "image": image}
        record_chain(take, primary, frame[1])

    def notes(self, interrupted: bool) -> list[str]:
        """One line per beat whose chained takes still wait, and on what (in an
        interrupted run, only those waiting on a person)."""
        notes = list(self._problems)
        for source_id, links in self._waiting.items():
            if source_id in self._broken:
                continue  # said in the problems
            beats = sorted({self._beat_of[link.take.take_id].beat_id for link in links})
            names = ", ".join(beats)
            if self.rule.strategy is PrimaryStrategy.MANUAL:
                notes.append(
                    f"{names} waits on a person: approve a take of {source_id} "
                    f"(recoil approve TAKE), then run again"
                )
            elif not interrupted:
                notes.append(
                    f"{names} waits for {source_id}: it has no primary take yet; "
                    f"run again once it has one"
                )
        return notes


def _chain_after(project: Project, takes: list[Take]) -> dict[str, int]:
    """Beat id -> the most steps (one take a beat) of this run chained after it.

    A beat is chained from one before it in film order, so one pass backwards
    has every beat's followers counted before the beat itself.
    """
    steps: dict[str, int] = {}
    for take in takes:
        beat_id = str(take.take_metadata.get("beat_id"))
        steps[beat_id] = max(steps.get(beat_id, 0), len(take.workflow.steps))
    after: dict[str, int] = {}
    for beat in reversed(project.beats()):
        source = beat.beat_metadata.get("chain_from")
        if isinstance(source, str) and source != beat.beat_id and beat.beat_id in steps:
            path = steps[beat.beat_id] + after.get(beat.beat_id, 0)
            after[source] = max(after.get(source, 0), path)
    return after
