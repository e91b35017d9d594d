"""Start-up time of ``recoil --help``: the best of five runs of the installed command."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 0.3


def main() -> int:
    command = shutil.which("recoil", path=str(Path(sys.executable).parent)) or "recoil"
    times = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([command, "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    best = min(times)
    print(
        f"recoil --help: best {best:.3f} s, median {sorted(times)[2]:.3f} s (target {TARGET_S} s)"
    )
    return 0 if best <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
