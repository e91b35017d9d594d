"""Media: artifacts served by content hash (never by a path from the request), and the cut.

Both answer Range requests (206 with ``Content-Range``), which seeking in a
video element needs.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable

from recoil.errors import NotFoundError
from recoil.model.context import ARTIFACTS_DIR
from recoil.production.export import CUT_NAME
from recoil.records.artifacts import ArtifactStore
from recoil.server.routes import State

router = APIRouter(tags=["media"])

_NAME = re.compile(r"([0-9a-f]{64})\.([a-z0-9]{1,8})")

_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "json": "application/json",
}


class _File(FileResponse):
    """A file whose bad ``Range`` is answered as every error is, in JSON (Starlette's own
    answer is plain text)."""

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        try:
            return super()._parse_range_header(http_range, file_size)
        except MalformedRangeHeader as exc:
            raise HTTPException(400, exc.content) from None
        except RangeNotSatisfiable:
            raise HTTPException(
                416,
                f"the Range is past the end of the file ({file_size} bytes)",
                headers={"Content-Range": f"bytes */{file_size}"},
            ) from None


@router.get("/media/{name}", response_class=FileResponse)
def read_media(name: str, state: State) -> FileResponse:
    """An artifact of the project by ``<sha256>.<ext>``; 404 for any other name."""
    match = _NAME.fullmatch(name)
    if match is None:
        raise NotFoundError(f"no media {name!r}: media is named <sha256>.<ext>")
    sha256, ext = match.groups()
    path = ArtifactStore(state.project / ARTIFACTS_DIR).path_for(sha256, ext)
    if not path.is_file():
        raise NotFoundError(f"no media {name!r} in this project")
    return _File(
        path,
        media_type=_TYPES.get(ext, "application/octet-stream"),
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )


@router.get("/cut.mp4", response_class=FileResponse)
def read_cut_video(state: State) -> FileResponse:
    """The cut as last exported."""
    path = state.exports / CUT_NAME
    if not path.is_file():
        raise NotFoundError("the project has no cut yet: run it, or export it (POST /api/export)")
    return _File(path, media_type="video/mp4", headers={"Cache-Control": "no-cache"})
