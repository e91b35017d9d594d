"""The cut's video as per-beat segments: each encoded on its own, cached by what decides its bytes.

Each beat of an edit becomes one H.264 segment (a video-only MP4 of exactly the
beat's frames, starting on a keyframe, as every new encoder does). A segment's
file is named by the sha256 of everything its bytes follow from: the source
video's content (or, for a hole, the caption drawn on it), the frame count,
size and rate, the encoder and its settings, and the versions of recoil and of
PyAV (which bundles FFmpeg and x264). A segment already in the folder is
reused; the others are encoded in parallel (:mod:`recoil.export.pool`).

Every segment shares one set of codec parameters (codec, size, rate, pixel
format, profile: one encoder configuration), so :mod:`recoil.export.cut` joins
them by copying packets. x264 runs one thread per segment: its output depends on
its thread count, so the count is fixed, and the parallelism is across segments.

A source is sampled by time (so a 30 fps take plays at the right speed in a
24 fps cut), a short take holds its last frame and a long one is cut. A take of
another aspect ratio is letterboxed (or pillarboxed) on black; pixels are taken
as square. A beat without a usable video is black frames with a
``MISSING: <beat id>`` caption.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Generator, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from importlib.metadata import version
from pathlib import Path

import av
import numpy as np
from av.video.frame import PictureType
from PIL import Image, ImageDraw, ImageFont

from recoil.errors import StoreError
from recoil.export.edit import BeatCut, Edit
from recoil.export.sheet import named_sha256, replacing
from recoil.media.h264 import CODEC, PIXEL_FORMAT, x264_options

SEGMENT_SUFFIX = ".mp4"
# Bumped when the way a segment is made changes while every version stays the same.
_LAYOUT = 1
# x264's output depends on its thread count; one thread per segment keeps it fixed, and
# the cores are used by encoding several segments at once.
_X264_THREADS = 1
# Scaling is cheap at cut sizes; one thread keeps the work split, and so the output, fixed.
_SCALE_THREADS = 1
_DECODE_THREADS = 1
_CAPTION_COLOR = (235, 235, 235)
_SUBTITLE_COLOR = (150, 150, 150)


@dataclass(frozen=True, slots=True, kw_only=True)
class Piece:
    """One beat's frames in a segment: its source video or, without one, a ``MISSING`` hole."""

    frames: int
    video: Path | None = None
    """The take video to sample; ``None`` draws the hole with ``caption``."""
    caption: tuple[str, str] = ("", "")
    """The hole's ``MISSING: <beat id>`` line and its scene and title line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentJob:
    """What one encoder makes: frames of ``pieces`` at one size and rate, into ``path``."""

    pieces: tuple[Piece, ...]
    width: int
    height: int
    rate: Fraction
    path: Path

    def encode(self, stop: threading.Event | None = None) -> Path:
        """Encode the segment into ``path``, atomically (a reader never sees half a segment);
        once ``stop`` is set, raise :class:`~concurrent.futures.CancelledError` instead."""
        with replacing(self.path) as tmp, av.open(str(tmp), "w", format="mp4") as container:
            stream = container.add_stream(CODEC, rate=self.rate)
            stream.width = self.width
            stream.height = self.height
            stream.pix_fmt = PIXEL_FORMAT
            stream.options = dict(x264_options())
            stream.codec_context.thread_count = _X264_THREADS
            time_base = 1 / self.rate
            for index, frame in enumerate(_frames(self)):
                if stop is not None and stop.is_set():
                    raise CancelledError(f"the encoding of {self.path.name} was stopped")
                # A decoded source frame carries its own I/P/B type, which libx264 would
                # obey; the segment picks its own frame types.
                frame.pict_type = PictureType.NONE
                frame.pts = index
                frame.time_base = time_base
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        return self.path


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentPlan:
    """The edit's segments, one per beat in edit order, and the beats shown as holes."""

    jobs: tuple[SegmentJob, ...]
    missing: tuple[str, ...]


def plan_segments(edit: Edit, folder: Path) -> SegmentPlan:
    """One segment per beat of ``edit``, each at its content-named path in ``folder``.

    A source video's content is its name when it is a content-addressed artifact; any
    other file is read once to hash it. Nothing is decoded or encoded here.
    """
    jobs: list[SegmentJob] = []
    missing: list[str] = []
    digests: dict[Path, str] = {}
    for beat in edit.beats:
        piece = _piece(edit, beat)
        if piece.video is None:
            missing.append(beat.beat_id)
            source = None
        else:
            source = (
                digests.get(piece.video) or named_sha256(piece.video) or _file_sha256(piece.video)
            )
            digests[piece.video] = source
        key = _segment_key(edit, piece, source)
        jobs.append(
            SegmentJob(
                pieces=(piece,),
                width=edit.width,
                height=edit.height,
                rate=edit.rate,
                path=folder / f"{key}{SEGMENT_SUFFIX}",
            )
        )
    return SegmentPlan(jobs=tuple(jobs), missing=tuple(missing))


def _piece(edit: Edit, beat: BeatCut) -> Piece:
    frames = edit.beat_frames(beat)
    take = beat.primary
    video = None if take is None else take.video
    if video is not None and video.is_file():
        return Piece(frames=frames, video=video)
    subtitle = " - ".join(part for part in (beat.scene_id, beat.title) if part)
    return Piece(frames=frames, caption=(f"MISSING: {beat.beat_id}", subtitle))


def _segment_key(edit: Edit, piece: Piece, source: str | None) -> str:
    decides = {
        "layout": _LAYOUT,
        "versions": library_versions(),
        "codec": CODEC,
        "pix_fmt": PIXEL_FORMAT,
        "options": x264_options(),
        "threads": _X264_THREADS,
        "size": [edit.width, edit.height],
        "rate": str(edit.rate),
        "frames": piece.frames,
        "source_sha256": source,
        "caption": None if source is not None else list(piece.caption),
    }
    return hashlib.sha256(json.dumps(decides, sort_keys=True).encode()).hexdigest()


@cache
def library_versions() -> tuple[str, str]:
    """recoil's and PyAV's versions: a new one may encode other bytes from the same input."""
    return version("recoil"), av.__version__


def _file_sha256(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as error:
        raise StoreError(
            f"cannot read take video {path}: {error}; re-render the take or choose another primary"
        ) from error


def _frames(job: SegmentJob) -> Iterator[av.VideoFrame]:
    for piece in job.pieces:
        if piece.video is not None:
            yield from _sampled_frames(piece.video, piece.frames, job.rate, job.width, job.height)
        else:
            hole = _missing_frame(piece.caption, job.width, job.height)
            for _ in range(piece.frames):
                yield hole


def _sampled_frames(
    video: Path, count: int, rate: Fraction, width: int, height: int
) -> Iterator[av.VideoFrame]:
    """``count`` frames of ``video`` at ``rate``: the source frame showing at each tick."""
    try:
        with av.open(str(video)) as source:
            if not source.streams.video:
                raise StoreError(
                    f"take video {video} has no video stream; re-render the take or choose "
                    f"another primary"
                )
            stream = source.streams.video[0]
            # One decoding thread: the cores are busy with other segments, and a decoder's
            # own threads cost more to start and join than they save on one short take.
            stream.codec_context.thread_count = _DECODE_THREADS
            # Closed before the container, so no decoder outlives its file.
            with contextlib.closing(_timed(source.decode(stream), stream.time_base)) as decoded:
                first = next(decoded, None)
                if first is None:
                    raise StoreError(
                        f"take video {video} has no frames; re-render the take or choose "
                        f"another primary"
                    )
                yield from _resample(first, decoded, count, rate, (width, height))
    except av.FFmpegError as error:
        raise StoreError(
            f"cannot decode take video {video}: {error}; re-render the take or choose "
            f"another primary"
        ) from error


def _resample(
    first: tuple[Fraction, av.VideoFrame],
    rest: Iterator[tuple[Fraction, av.VideoFrame]],
    count: int,
    rate: Fraction,
    size: tuple[int, int],
) -> Iterator[av.VideoFrame]:
    """For each of ``count`` ticks at ``rate``, the latest frame shown by then, fitted."""
    shown, upcoming = first, next(rest, None)
    current = _fit(shown[1], *size)
    for index in range(count):
        tick = Fraction(index) / rate
        if upcoming is not None and upcoming[0] <= tick:
            while upcoming is not None and upcoming[0] <= tick:
                shown, upcoming = upcoming, next(rest, None)
            current = _fit(shown[1], *size)
        yield current


def _timed(
    frames: Iterator[av.VideoFrame], time_base: Fraction | None
) -> Generator[tuple[Fraction, av.VideoFrame]]:
    """Frames with their time from the first frame, in seconds."""
    base = time_base or Fraction(1, 1)
    origin: int | None = None
    for position, frame in enumerate(frames):
        pts = frame.pts if frame.pts is not None else position
        if origin is None:
            origin = pts
        yield Fraction(pts - origin) * base, frame


def _fit(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """``frame`` scaled into width x height, centred on black where the aspect differs."""
    scale = min(width / frame.width, height / frame.height)
    fit_w = min(width, max(1, round(frame.width * scale)))
    fit_h = min(height, max(1, round(frame.height * scale)))
    if (fit_w, fit_h) == (width, height):
        return frame.reformat(width=width, height=height, format="yuv420p", threads=_SCALE_THREADS)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    left, top = (width - fit_w) // 2, (height - fit_h) // 2
    scaled = frame.reformat(
        width=fit_w, height=fit_h, format="rgb24", threads=_SCALE_THREADS
    ).to_ndarray()
    canvas[top : top + fit_h, left : left + fit_w] = scaled
    return av.VideoFrame.from_ndarray(canvas, format="rgb24").reformat(
        format="yuv420p", threads=_SCALE_THREADS
    )


def _missing_frame(caption: tuple[str, str], width: int, height: int) -> av.VideoFrame:
    """Black with ``MISSING: <beat id>`` and the beat's scene and title below."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    big = ImageFont.load_default(size=max(8, height // 12))
    small = ImageFont.load_default(size=max(6, height // 24))
    headline, subtitle = caption
    lines = [(headline, big, _CAPTION_COLOR)]
    if subtitle:
        lines.append((subtitle, small, _SUBTITLE_COLOR))
    y = height / 2 - (len(lines) - 1) * height / 24
    for text, font, color in lines:
        draw.text((width / 2, y), text, font=font, fill=color, anchor="mm")
        y += height / 10
    return av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24").reformat(
        format="yuv420p", threads=_SCALE_THREADS
    )
