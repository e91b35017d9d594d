"""What ComfyUI's history and queue answers say about one prompt.

A history entry (``GET /history/{id}``, present once the prompt has ended) holds
the prompt's status (``status_str`` and ``messages``: ``execution_start``,
``execution_success``, ``execution_error``, ``execution_interrupted``, each with
a server timestamp in milliseconds) and, per output node, the files that node
saved (``images``, ``gifs``, ``videos``, ``audio``). The queue (``GET /queue``)
lists ``queue_running`` and ``queue_pending`` items ``[number, prompt_id, ...]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recoil.providers.comfyui.binding import format_execution_error
from recoil.providers.http import mime_for

_OUTPUT_KEYS = ("images", "gifs", "videos", "audio")


def status_messages(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry's status messages, by name."""
    status = entry.get("status") or {}
    return {m[0]: m[1] for m in status.get("messages", []) if isinstance(m, list | tuple)}


def interrupted(entry: Mapping[str, Any]) -> bool:
    """Whether the prompt was interrupted (cancelled while it ran)."""
    return "execution_interrupted" in status_messages(entry)


def execution_error(entry: Mapping[str, Any]) -> tuple[str, bool] | None:
    """What went wrong in a failed prompt, and whether another try may pass; None if none."""
    messages = status_messages(entry)
    status = entry.get("status") or {}
    if status.get("status_str") != "error" and "execution_error" not in messages:
        return None
    data = messages.get("execution_error") or {}
    text = format_execution_error(data) if data else "the workflow failed"
    out_of_memory = "OutOfMemory" in str(data.get("exception_type", ""))
    if out_of_memory:
        text += " (out of GPU memory; it may pass on a less busy server)"
    return text, out_of_memory


def execution_seconds(entry: Mapping[str, Any]) -> float | None:
    """How long the prompt ran on the server's clock; None without both timestamps."""
    messages = status_messages(entry)
    start = (messages.get("execution_start") or {}).get("timestamp")
    end = (messages.get("execution_success") or {}).get("timestamp")
    if isinstance(start, int | float) and isinstance(end, int | float) and end >= start:
        return (end - start) / 1000.0
    return None


def output_files(entry: Mapping[str, Any], node: str) -> list[tuple[dict[str, Any], str]]:
    """(file info, mime) of every media file output ``node`` saved.

    The info gains ``animated``: an animated image (GIF, animated WebP) is a clip.
    """
    ui = (entry.get("outputs") or {}).get(node)
    if not isinstance(ui, Mapping):
        return []
    animated = any(bool(a) for a in ui.get("animated", []) or [])
    found = []
    for key in _OUTPUT_KEYS:
        for item in ui.get(key) or []:
            if not isinstance(item, Mapping) or "filename" not in item:
                continue
            mime = mime_for(str(item["filename"]), str(item.get("format", "")))
            if mime is not None:
                found.append(({**item, "animated": animated or key == "gifs"}, mime))
    return found


def in_queue(items: Any, prompt_id: str) -> bool:
    """Whether a ``queue_running`` or ``queue_pending`` list holds the prompt."""
    return isinstance(items, list) and any(
        isinstance(item, list) and len(item) > 1 and item[1] == prompt_id for item in items
    )
