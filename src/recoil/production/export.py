"""``recoil export``: the cut, the timeline and the contact sheet of a project as it stands.

An export is skipped when its outputs are already those of the current edit: a
mark beside them keeps the edit's digest, so an unchanged project exports once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from recoil.export.pages import HTML_NAME, page_names
from recoil.model.take import Project
from recoil.production.credentials import sign_cut
from recoil.production.folder import Production, open_production, open_store
from recoil.production.plan import plan_project
from recoil.production.primaries import (
    build_edit,
    choose_project_primaries,
    reviews_of,
    score_lookup,
)
from recoil.records import codec
from recoil.records.artifacts import write_atomic
from recoil.store import ProjectStore
from recoil.store.lock import editing

EDIT_MARK = ".edit.sha256"
CUT_NAME = "cut.mp4"
"""The cut's file name in the exports folder."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportResult:
    """What an export wrote."""

    outputs: tuple[Path, ...]
    missing: tuple[str, ...] = ()
    """Beats the cut shows as ``MISSING`` holes (no primary, or its file is gone)."""
    written: bool = True
    """False when the outputs were already those of this edit (nothing rewritten)."""
    encoded: tuple[str, ...] = ()
    """Beats whose cut segment this export encoded; the others' came from the segment cache."""


def export_project(production: Production, project: Project, store: ProjectStore) -> ExportResult:
    """Write the cut, the timeline and the contact sheet unless they are this edit's already.

    A mark beside the outputs keeps the edit's digest, the beats left as holes and
    each output's size and modification time; any difference writes them again.
    """
    edit = build_edit(
        project,
        reviews_of(store),
        locate=production.artifacts.locate,
        weights=production.settings.evals.weights,
        scores=score_lookup(store),
    )
    # The edit, and the size and time of every file it uses: a source file deleted
    # or replaced since the last export makes a new one.
    sources = sorted(
        {
            str(path)
            for beat in edit.beats
            for take in beat.takes
            for path in (take.video, take.audio, take.keyframe)
            if path is not None
        }
    )
    signing = production.content_signing()
    state = {
        "edit": codec.encode(edit),
        "sources": _file_stamps(tuple(map(Path, sources))),
        "recoil": version("recoil"),  # a new release may write other bytes
        # Turning Content Credentials on (or changing who signs) makes a new cut.
        "signing": None if signing is None else [str(signing.certificate), signing.algorithm],
    }
    digest = hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()
    out = production.exports
    pages = tuple(out / name for name in page_names(len(edit.beats)))
    outputs = (out / CUT_NAME, out / "cut.otio", out / HTML_NAME, *pages)
    mark = out / EDIT_MARK
    held = _read_mark(mark)
    stamps = _file_stamps(outputs)
    if held.get("edit") == digest and None not in stamps.values() and held.get("files") == stamps:
        return ExportResult(outputs=outputs, missing=tuple(held.get("missing", ())), written=False)
    from recoil.export import write_contact_sheet, write_cut, write_timeline

    out.mkdir(parents=True, exist_ok=True)
    mark.unlink(missing_ok=True)  # a crash mid-export must not leave a mark that says done
    _sweep(out)
    # The timeline and the sheet are written beside the cut: while the cut's encoders
    # start or wait on each other, a core would otherwise sit idle.
    with ThreadPoolExecutor(2, thread_name_prefix="recoil-export") as beside:
        timeline = beside.submit(write_timeline, edit, out / "cut.otio")
        sheet = beside.submit(write_contact_sheet, edit, out, thumbnails=production.thumbnails)
        # The final cut file is complete once write_cut returns (written whole, then renamed).
        cut = write_cut(edit, out / CUT_NAME, segments=production.segments)
        if signing is not None:
            sign_cut(out / CUT_NAME, edit, signing)
        timeline.result()
        sheet.result()
    stamp = {"edit": digest, "missing": list(cut.missing), "files": _file_stamps(outputs)}
    write_atomic(mark, json.dumps(stamp, sort_keys=True).encode())
    return ExportResult(outputs=outputs, missing=cut.missing, encoded=cut.encoded)


def _sweep(out: Path) -> None:
    """Remove the temp files of an export that was killed (this process holds the project)."""
    for leftover in out.glob(".*"):
        if leftover.name.startswith((".cut.", ".contact")) and leftover.is_file():
            leftover.unlink(missing_ok=True)


def _file_stamps(paths: tuple[Path, ...]) -> dict[str, list[int] | None]:
    stamps: dict[str, list[int] | None] = {}
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            stamps[str(path)] = None
        else:
            stamps[str(path)] = [stat.st_size, stat.st_mtime_ns]
    return stamps


def _read_mark(mark: Path) -> dict[str, Any]:
    try:
        found = json.loads(mark.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


async def export_current(path: Path) -> ExportResult:
    """Export the project as it stands (``recoil export``), without running anything.

    The export is the project's one writer while it lasts, like a run.
    """
    production = open_production(path)
    with open_store(production, writer="recoil export") as store:
        with editing(path, command="recoil export"):
            project = plan_project(production.shotlist, store.load_project(), base=path)
            choose_project_primaries(production, project, store)
            store.save_project(project)
        return await asyncio.to_thread(export_project, production, project, store)
