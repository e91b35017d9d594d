"""The public API: ``recoil.__all__`` (SPEC 12, ARCHITECTURE layers)."""

from __future__ import annotations

import subprocess
import sys

import recoil

REQUIRED = {
    "dispatch",
    "dispatch_async",
    "DispatchContext",
    "Registry",
    "register_default_runners",
    "Receipt",
    "Workflow",
    "WorkflowStep",
    "WorkflowValidationError",
    "Take",
    "Beat",
    "Scene",
    "Project",
    "RecoilError",
    "UnknownModalityError",
    "PayloadError",
    "DispatchError",
    "open_project",
    "ProjectHandle",
    "RunOptions",
    "Shootout",
    "shootout",
}
PLUMBING = {
    "ReceiptLog",
    "read_records",
    "ArtifactStore",
    "request_sha256",
    "Output",
    "ProjectStore",
}
"""Internals: importable from their own modules, not from ``recoil``."""


def test_all_is_sorted() -> None:
    """SPEC 12: the curated public API lists its names sorted, without duplicates."""
    assert list(recoil.__all__) == sorted(recoil.__all__)
    assert len(set(recoil.__all__)) == len(recoil.__all__)


def test_all_exports_the_core_names() -> None:
    """SPEC 12: the public names are importable from ``recoil``."""
    assert set(recoil.__all__) >= REQUIRED
    for name in recoil.__all__:
        assert getattr(recoil, name) is not None, name


def test_plumbing_stays_in_its_modules() -> None:
    """The top level lists the API a script uses; internals are not part of it."""
    assert not PLUMBING & set(recoil.__all__)
    for name in PLUMBING:
        assert not hasattr(recoil, name), name


def test_names_are_imported_on_first_use() -> None:
    """``import recoil`` loads no submodule until a name is used (``recoil --help`` stays fast)."""
    code = (
        "import sys, recoil\n"
        "assert not [m for m in sys.modules if m.startswith('recoil.')], sys.modules\n"
        "assert callable(recoil.dispatch)  # the function, not the package of that name\n"
        "import recoil.dispatch\n"
        "assert callable(recoil.dispatch)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_star_import_gives_exactly_all() -> None:
    """SPEC 12: ``from recoil import *`` gives every public name."""
    namespace: dict[str, object] = {}
    exec("from recoil import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(recoil.__all__)


def test_exported_errors_share_one_root() -> None:
    """SPEC 2: every exported error class derives from the package's base error."""
    errors = [
        getattr(recoil, n)
        for n in recoil.__all__
        if isinstance(getattr(recoil, n), type) and issubclass(getattr(recoil, n), Exception)
    ]
    assert recoil.RecoilError in errors
    assert all(issubclass(e, recoil.RecoilError) for e in errors)
