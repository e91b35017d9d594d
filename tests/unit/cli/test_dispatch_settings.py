"""``recoil dispatch`` follows the project's ``recoil.toml``."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import records
from tests.unit.cli.running import Recoil, error_line


def test_dispatch_gives_up_after_the_run_timeout(recoil: Recoil, tmp_path: Path) -> None:
    """``[run] timeout_s`` bounds a dispatch as it bounds each step of a run."""
    project = tmp_path / "p"
    project.mkdir()
    (project / "recoil.toml").write_text("[run]\ntimeout_s = 0.2\n")
    result = recoil(
        "dispatch", "keyframe", "-p", "a fox", "--provider", "fake",
        "--param", "fake_latency_s=2", "--project", project,
    )  # fmt: skip
    assert result.exit_code != 0
    assert "no answer within 0.2 s" in error_line(result)
    [receipt] = records(project, "receipt")
    assert receipt["error"]["type"] == "timeout"
