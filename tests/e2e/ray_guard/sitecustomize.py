"""Imported by every Python process of the test Ray cluster's nodes (``test_ray_cluster.py``).

The nodes start with this folder on ``PYTHONPATH``, so their workers load it
before any task runs. With ``RECOIL_GUARD_ROOT`` set, an audit hook appends a
JSON line (``node``, ``pid``, ``path``, ``write``, ``denied``) to
``RECOIL_GUARD_LOG`` for every file the process opens and every folder it
lists under that root, and refuses with :class:`PermissionError` any under a
folder of ``RECOIL_GUARD_FORBIDDEN`` (the projects): a worker that reads the
project folder fails its task and leaves a line saying so.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

_WRITES = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT
_EVENTS = frozenset({"open", "os.listdir", "os.scandir"})


def _install() -> None:
    root = os.environ.get("RECOIL_GUARD_ROOT")
    if not root:
        return
    forbidden = tuple(os.environ["RECOIL_GUARD_FORBIDDEN"].split(os.pathsep))
    log = os.environ["RECOIL_GUARD_LOG"]
    node = os.environ.get("RECOIL_GUARD_NODE", "")
    busy: list[bool] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event not in _EVENTS or busy or not args:
            return
        target = args[0]
        if not isinstance(target, str | bytes | os.PathLike):
            return  # a file descriptor
        path = str(Path(os.fsdecode(target)).absolute())
        if not path.startswith(root + os.sep):
            return
        mode = args[1] if event == "open" and len(args) > 1 else None
        flags = args[2] if event == "open" and len(args) > 2 else 0
        write = bool(flags & _WRITES) or (isinstance(mode, str) and any(c in mode for c in "wax+"))
        denied = any(path == f or path.startswith(f + os.sep) for f in forbidden)
        line = {"node": node, "pid": os.getpid(), "path": path, "write": write, "denied": denied}
        busy.append(True)  # the log's own open raises an event too
        try:
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (json.dumps(line) + "\n").encode())
            finally:
                os.close(fd)
        finally:
            busy.pop()
        if denied:
            raise PermissionError(f"a Ray cluster process opened {path}, in a project folder")

    sys.addaudithook(hook)


_install()
