"""The layer picture of ARCHITECTURE.md, enforced on every import in ``src/recoil``.

A package imports only packages at its own layer or below, and packages never
import each other in a cycle. Imports inside functions count too (a lazy import
is still a dependency); the one sanctioned way up is the thin sync wrapper of an
async engine, listed in ``SANCTIONED`` with its reason. Imports under
``if TYPE_CHECKING:`` count as well: a type that points up is a dependency that
points up.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import recoil

ROOT = Path(recoil.__file__).parent

LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(names.split())
    for names in (
        "errors",
        "model",
        "records media",
        "shotlist",
        "providers",
        "store",
        "dispatch",
        "execution",
        "export evals",
        "production",
        "cli server __init__ __main__",
    )
)
"""Bottom to top; packages on one line may import each other unless that makes a cycle."""

SANCTIONED = {
    # The sync wrappers SPEC 6 puts on the model call the async engine above it, and
    # their signatures name the registry they run with (a type-only import).
    ("recoil.model.take", "execution"): "Take.execute runs the take on the scheduler",
    ("recoil.model.workflow", "execution"): "Workflow.run runs the workflow on the scheduler",
    ("recoil.model.take", "providers"): "Take.execute(registry=...) is typed",
    ("recoil.model.workflow", "providers"): "Workflow.run(registry=...) is typed",
    # DispatchError carries the failed receipt; errors.py names its type for checkers
    # only and imports nothing of recoil when it runs.
    ("recoil.errors", "model"): "DispatchError.receipt is typed",
}


def _module(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _target(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def imports(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> every ``recoil`` module it imports, anywhere in its source."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(root.rglob("*.py")):
        module = _module(path, root)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [_target(node, module, path.name == "__init__.py")]
            else:
                continue
            found[module].update(n for n in names if n == "recoil" or n.startswith("recoil."))
    return found


def package(module: str) -> str:
    """The layer unit a module belongs to: ``recoil.store.lock`` -> ``store``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def layer(name: str) -> int:
    for index, names in enumerate(LAYERS):
        if name in names:
            return index
    raise AssertionError(f"{name!r} is in no layer of ARCHITECTURE.md; add it to the picture")


def upward(found: dict[str, set[str]]) -> list[str]:
    """Every import that points up the picture and is not sanctioned."""
    wrong = []
    for module, targets in sorted(found.items()):
        for target in sorted(targets):
            here, there = package(module), package(target)
            if there == "__init__" and target == "recoil" and here != "__init__":
                wrong.append(f"{module} imports the top-level package {target}")
            elif layer(there) > layer(here) and (module, there) not in SANCTIONED:
                wrong.append(f"{module} ({here}) imports {target} ({there}), a layer above")
    return wrong


def cycles(found: dict[str, set[str]]) -> list[list[str]]:
    """Cycles in the graph of packages (sanctioned edges left out)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for module, targets in found.items():
        for target in targets:
            here, there = package(module), package(target)
            if here != there and (module, there) not in SANCTIONED:
                graph[here].add(there)
    loops: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt == path[0]:
                loops.append([*path, nxt])
            elif nxt not in path and nxt > path[0]:
                visit(nxt, [*path, nxt])

    for start in sorted(graph):
        visit(start, [start])
    return loops


def test_every_package_is_in_the_picture() -> None:
    """ARCHITECTURE.md: the picture names every package and top-level module of the tree."""
    for module in imports():
        layer(package(module))


def test_no_import_points_up_the_picture() -> None:
    """ARCHITECTURE.md: a package imports only packages below it (or beside it)."""
    assert upward(imports()) == []


def test_packages_import_each_other_in_no_cycle() -> None:
    """ARCHITECTURE.md: no two packages import each other, directly or around a loop."""
    assert cycles(imports()) == []


def test_errors_imports_nothing_of_recoil() -> None:
    """ARCHITECTURE.md: the error tree sits under everything."""
    assert imports()["recoil.errors"] <= {"recoil.model.receipt"}  # see SANCTIONED
    tree = ast.parse((ROOT / "errors.py").read_text(encoding="utf-8"))
    runtime = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert all("recoil" not in ast.unparse(n) for n in runtime)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from recoil.cli.app import app\n", "imports recoil.cli.app (cli), a layer above"),
        ("def f():\n    from recoil.production import run\n", "(production), a layer above"),
        ("from recoil import dispatch\n", "imports the top-level package recoil"),
    ],
)
def test_an_upward_import_is_caught(tmp_path: Path, source: str, expected: str) -> None:
    """The check itself: an import added up the picture fails it, with the line named."""
    copy = tmp_path / "recoil"
    for path in ROOT.rglob("*.py"):
        target = copy / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    store = copy / "store" / "lock.py"
    store.write_text(store.read_text(encoding="utf-8") + source, encoding="utf-8")
    found = imports(copy)
    assert any(expected in line for line in upward(found))


def test_a_cycle_is_caught() -> None:
    """The check itself: two packages importing each other are a cycle."""
    found = {"recoil.records.log": {"recoil.media.probe"}, "recoil.media.probe": {"recoil.records"}}
    assert cycles(found) == [["media", "records", "media"]]
