"""A broken shot list exits 2 with every problem on its own line, never a traceback (SPEC 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Run

BROKEN = Path(__file__).parents[1] / "unit" / "shotlist" / "broken"


@pytest.mark.parametrize("case", sorted(BROKEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_broken_shotlist_exits_2_with_its_problems(
    recoil_cli: Run, tmp_path: Path, case: Path
) -> None:
    """SPEC 9: each broken file gives exit code 2 and exactly its expected lines."""
    project = tmp_path / "p"
    project.mkdir()
    (project / "shotlist.yaml").write_bytes(case.read_bytes())
    result = recoil_cli("run", str(project), "--dry-run")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    expected = case.with_suffix(".expected").read_text().strip().splitlines()
    lines = [line.removeprefix("error: ") for line in result.stderr.strip().splitlines()]
    # Every line names the file, then the problem.
    assert all(line.startswith(f"{project / 'shotlist.yaml'}: ") for line in lines)
    assert [line.split("shotlist.yaml: ", 1)[1] for line in lines] == expected
