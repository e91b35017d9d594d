"""The shootout: one prompt across providers, models and seeds, scored side by side.

Every (provider, model, seed) is one dispatch into the shootout's own folder
(its receipt log and content-addressed artifacts), so the same shootout run
again is a cache hit for every result: nothing is generated or paid twice,
and a result scored before is not scored again. Results are scored with the
scorers of ``[evals]`` (their scores appended as ``eval`` records), and the
best one, the highest weighted score with ties to the first in grid order,
is marked in ``shootout.png`` and ``shootout.html`` (SPEC 10, 12).

Settings (provider servers and prices, ``[evals]``) come from ``recoil.toml``
in the ``project`` folder given, else in the shootout's folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recoil.dispatch import Dispatcher, Prepared
from recoil.errors import DispatchError, RecoilError, ValidationError
from recoil.export.shootout import ShootoutBoard, ShootoutCell, write_shootout
from recoil.model.context import DispatchContext
from recoil.model.receipt import Receipt
from recoil.model.take import weighted_score
from recoil.production.folder import content_signing, provider_configs
from recoil.production.scoring import Scoring, score_receipt, scored_versions, subject_of
from recoil.production.settings import load_settings
from recoil.records.cache import LogIndex
from recoil.records.codec import encode
from recoil.records.log import read_records

_IN_FLIGHT = 4
"""Dispatches at once: enough to overlap remote providers, few enough to be polite."""


def shootout_folder(project: Path, prompt: str) -> Path:
    """The default folder of ``prompt``'s shootout: ``shootouts/<words>-<hash>`` in ``project``.

    The same prompt always maps to the same folder, so running it again reuses
    its results.
    """
    words = "-".join(re.findall(r"[a-z0-9]+", prompt.lower()))[:40].strip("-") or "prompt"
    digest = hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:8]
    return project / "shootouts" / f"{words}-{digest}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Shootout:
    """What a shootout made: every result, the best one, and the files written."""

    prompt: str
    modality: str
    folder: Path
    """Where its receipts, artifacts, grid and page are."""
    cells: tuple[ShootoutCell, ...]
    best: ShootoutCell | None
    grid: Path
    """``shootout.png``."""
    page: Path
    """``shootout.html``."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Scorers skipped, one line each."""

    @property
    def generated(self) -> int:
        """Results the providers made in this run."""
        return sum(1 for cell in self.cells if cell.succeeded and not cell.cached)

    @property
    def cached(self) -> int:
        """Results reused from an earlier identical dispatch, neither generated nor paid."""
        return sum(1 for cell in self.cells if cell.cached)

    @property
    def failed(self) -> int:
        """Results whose dispatch failed."""
        return sum(1 for cell in self.cells if not cell.succeeded)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Entry:
    provider: str
    seed: int
    prepared: Prepared


def shootout(
    prompt: str,
    *,
    providers: Sequence[str],
    seeds: Sequence[int],
    out: Path,
    models: Sequence[str | None] = (None,),
    modality: str = "keyframe",
    params: Mapping[str, Any] | None = None,
    project: Path | None = None,
) -> Shootout:
    """Run ``prompt`` on every provider x model x seed into ``out``, score and grid the results.

    ``models`` ``(None,)`` asks each provider for its default model; ``params``
    are further payload fields (``width``, ``duration_s``...). Every payload is
    validated before anything is sent: an unknown provider, modality or field
    raises at once and nothing is paid. A result whose dispatch fails is a cell
    saying why, and the others go on.
    """
    if not providers or not seeds or not models:
        raise ValidationError("a shootout needs at least one provider, one model and one seed")
    config = project if project is not None else out
    settings = load_settings(config)
    scoring = Scoring.from_settings(settings.evals, config)
    fresh = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    context = DispatchContext(
        project=out,
        provider_config=provider_configs(config, settings),
        embed_prompts=settings.project.embed_prompts,
        signing=content_signing(config, settings),
        provenance={"shootout": prompt},
    )
    payloads = [
        (provider, seed, _payload(prompt, provider, model, seed, params))
        for provider in providers
        for model in models
        for seed in seeds
    ]
    try:
        cells, notes = asyncio.run(
            _generate(context, modality, payloads, scoring, settings.evals.weights)
        )
    except RecoilError:
        log = context.receipts_file
        if fresh and (not log.exists() or log.stat().st_size == 0):
            shutil.rmtree(out, ignore_errors=True)  # nothing was recorded: leave no empty folder
        raise
    scored = [cell for cell in cells if cell.score is not None]
    best = max(scored, key=lambda cell: cell.score or 0.0) if scored else None
    board = ShootoutBoard(prompt=prompt, modality=modality, cells=cells, best=best)
    page, grid = write_shootout(board, out)
    return Shootout(
        prompt=prompt,
        modality=modality,
        folder=out,
        cells=cells,
        best=best,
        grid=grid,
        page=page,
        notes=tuple(notes),
    )


async def _generate(
    context: DispatchContext,
    modality: str,
    payloads: list[tuple[str, int, dict[str, Any]]],
    scoring: Scoring,
    weights: Mapping[str, float],
) -> tuple[tuple[ShootoutCell, ...], list[str]]:
    """Every payload dispatched (all validated first) and scored: the cells, and skip lines."""
    async with Dispatcher(context) as dispatcher:
        for _, _, payload in payloads:  # every payload is checked before anything is fetched
            dispatcher.prepare(modality, payload, context)
        entries = [
            _Entry(
                provider=provider,
                seed=seed,
                prepared=await dispatcher.prepare_known(modality, payload, context),
            )
            for provider, seed, payload in payloads
        ]
        receipts = await _dispatch_all(dispatcher, context, entries)
        scores, notes = await _score_all(dispatcher, context, scoring, receipts)
        cells = tuple(
            _cell(entry, receipt, scores.get(receipt.receipt_id, {}), weights, dispatcher)
            for entry, receipt in zip(entries, receipts, strict=True)
        )
    return cells, notes


def _payload(
    prompt: str, provider: str, model: str | None, seed: int, params: Mapping[str, Any] | None
) -> dict[str, Any]:
    payload = {**(params or {}), "prompt": prompt, "provider": provider, "seed": seed}
    if model:
        payload["model"] = model
    return payload


async def _dispatch_all(
    dispatcher: Dispatcher, context: DispatchContext, entries: list[_Entry]
) -> list[Receipt]:
    slots = asyncio.Semaphore(_IN_FLIGHT)

    async def one(entry: _Entry) -> Receipt:
        async with slots:
            try:
                return await dispatcher.send(entry.prepared, context)
            except DispatchError as exc:
                return exc.receipt

    return list(await asyncio.gather(*(one(entry) for entry in entries)))


async def _score_all(
    dispatcher: Dispatcher,
    context: DispatchContext,
    scoring: Scoring,
    receipts: list[Receipt],
) -> tuple[dict[str, dict[str, float]], list[str]]:
    """receipt_id -> its scores (carried by a cache hit, or new), and the skip lines."""
    done = scored_versions(read_records(context.receipts_file))
    scores: dict[str, dict[str, float]] = {}
    notes: dict[str, str] = {}
    for receipt in receipts:
        if not receipt.succeeded:
            continue
        result = await asyncio.to_thread(
            score_receipt,
            receipt,
            scoring,
            locate=dispatcher.artifacts.locate,
            project=dispatcher.log.path.parent,
            done=done.get(receipt.receipt_id),
        )
        found = dict(receipt.eval_scores)
        for record in result.records:
            await dispatcher.log.append_async(encode(record))
            found.update(record.scores)
        scores[receipt.receipt_id] = found
        for line in result.skipped:
            notes.setdefault(line.partition(":")[0], line)
    return scores, list(notes.values())


def _cell(
    entry: _Entry,
    receipt: Receipt,
    scores: dict[str, float],
    weights: Mapping[str, float],
    dispatcher: Dispatcher,
) -> ShootoutCell:
    made = _generation(dispatcher.index, receipt) if receipt.cached else receipt
    subject = subject_of(receipt, dispatcher.artifacts.locate, dispatcher.log.path.parent)
    return ShootoutCell(
        provider=entry.provider,
        model=receipt.model,
        seed=entry.seed,
        receipt_id=receipt.receipt_id,
        media=subject.path if subject is not None else None,
        error=None if receipt.error is None else receipt.error.message.splitlines()[0],
        cost=receipt.cost.amount,
        currency=receipt.cost.currency,
        seconds=(made.finished_us - made.started_us) / 1e6,
        cached=receipt.cached,
        scores=scores,
        score=weighted_score(scores.items(), weights),
    )


def _generation(index: LogIndex, receipt: Receipt) -> Receipt:
    """The receipt that generated what the cache hit ``receipt`` reuses (for its time)."""
    same = receipt.request_sha256
    made = (r for r in index.receipts.values() if r.request_sha256 == same and not r.cached)
    return next((r for r in made if r.succeeded), receipt)
