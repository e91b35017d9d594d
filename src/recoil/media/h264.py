"""H.264 encoder settings that give the same bytes for the same frames.

Every H.264 file recoil writes (previz clips, the cut, the fake provider's
clips) uses these: libx264, preset veryfast, crf 23, yuv420p, a fixed thread
count, and no wall-clock metadata. x264's output depends on its thread count,
whose default follows the machine's CPU count, so callers pin it.

x264's AVX-512 code reads uninitialised memory on some frames, so its output
then depends on what the heap held before (seen with ``MALLOC_PERTURB_``: each
fill byte gives other bytes). Its AVX2 code is clean and as fast; every CPU
with AVX-512 has AVX2, and other CPUs never take the AVX-512 path.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Final

CODEC: Final = "libx264"
PIXEL_FORMAT: Final = "yuv420p"


@lru_cache(maxsize=8)
def x264_options(*, preset: str = "veryfast", crf: int = 23) -> dict[str, str]:
    """libx264 options for deterministic output on this CPU."""
    options = {"preset": preset, "crf": str(crf)}
    if _has_avx512():
        options["x264-params"] = "asm=avx2"
    return options


def _has_avx512() -> bool:
    try:
        return "avx512" in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
