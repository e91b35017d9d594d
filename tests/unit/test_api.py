"""The public API: ``recoil.__all__`` (SPEC 12, ARCHITECTURE layers)."""

from __future__ import annotations

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
}


def test_all_is_sorted() -> None:
    """SPEC 12: the curated public API lists its names sorted, without duplicates."""
    assert list(recoil.__all__) == sorted(recoil.__all__)
    assert len(set(recoil.__all__)) == len(recoil.__all__)


def test_all_exports_the_core_names() -> None:
    """SPEC 12: the public names are importable from ``recoil``."""
    assert set(recoil.__all__) >= REQUIRED
    for name in recoil.__all__:
        assert getattr(recoil, name) is not None, name


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
