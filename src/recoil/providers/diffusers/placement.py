"""Where and at what precision a pipeline runs, and what its output depends on.

- :func:`resolve_device`: ``auto`` is the first of cuda, mps and cpu this
  machine has; a named device it lacks is a one-line ``ConfigError``.
- :func:`resolve_dtype`: ``auto`` is float16 on a GPU and float32 on the CPU
  (half precision on the CPU is slow where it works at all).
- :func:`model_revision`: what identifies the weights. A folder from the
  Hugging Face cache is ``.../snapshots/<commit>``: the commit is the
  revision. Every folder also gets a digest of its files (the content of each
  JSON config, the name, size and time of every other file), so replacing a local
  folder's weights or editing its scheduler config is another model.
- :func:`library_versions`: diffusers, torch and transformers, read from the
  installed distributions without importing them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from recoil.errors import ConfigError

LIBRARIES = ("diffusers", "torch", "transformers", "accelerate")
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Revision:
    """What identifies a model's weights (see the module docstring)."""

    commit: str | None
    """The Hugging Face snapshot commit, for a model from the cache."""
    sha256: str
    """The digest of the folder's configs and file sizes."""


@cache
def resolve_device(device: str) -> str:
    """The device a pipeline configured for ``device`` runs on (see the module docstring)."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"[providers.diffusers] device {device!r}: torch sees no CUDA device here "
                f'(torch {torch.__version__}); set device = "auto" or install a CUDA build of torch'
            )
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"[providers.diffusers] device {device!r}: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s); use cuda:0 to "
                f"cuda:{torch.cuda.device_count() - 1}"
            )
    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            "[providers.diffusers] device 'mps': torch sees no Apple GPU here; "
            'set device = "auto"'
        )
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    """The dtype name for ``dtype`` on the resolved ``device``."""
    if dtype != "auto":
        return dtype
    return "float32" if device == "cpu" else "float16"


def model_revision(folder: Path) -> Revision:
    """The revision of the model in ``folder`` (see the module docstring).

    Reading each file's size and time is cheap, so every call sees a folder whose
    weights were replaced since; the digest is made again only then.
    """
    files = tuple(
        (path.relative_to(folder).as_posix(), path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(p for p in folder.rglob("*") if p.is_file())
        # A download tool's own state (.cache/huggingface) is not the model.
        if not path.relative_to(folder).as_posix().startswith(".")
    )
    return _revision(folder, files)


@lru_cache(maxsize=64)
def _revision(folder: Path, files: tuple[tuple[str, int, int], ...]) -> Revision:
    commit = folder.name if folder.parent.name == "snapshots" else None
    if commit is not None and _COMMIT.fullmatch(commit) is None:
        commit = None
    digest = hashlib.sha256()
    for name, size, mtime_ns in files:
        digest.update(name.encode() + b"\0")
        # Configs are small and decide the output; weights are identified by their size
        # and time (a fine-tune of the same shape written over them has another time).
        path = folder / name
        digest.update(
            path.read_bytes() if path.suffix == ".json" else f"{size}:{mtime_ns}".encode()
        )
        digest.update(b"\0")
    return Revision(commit=commit, sha256=digest.hexdigest())


@cache
def library_versions() -> dict[str, str]:
    """Installed version of each library a pipeline's output depends on."""
    found: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
