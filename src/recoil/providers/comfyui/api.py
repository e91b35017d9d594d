"""ComfyUI's HTTP API: one method per exchange with a server, translated at the boundary.

The provider decides what to ask and which server of its pool to ask; this says
how: ``GET /prompt`` (the queue length), ``POST /upload/image``, ``GET
/history/{id}`` and ``GET /queue`` (whether a prompt exists), and :meth:`ComfyAPI.send`
for every other call (``POST /prompt``, ``POST /queue``, ``POST /interrupt``,
``GET /view``, ``GET /object_info``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from recoil.errors import ProviderError
from recoil.providers.comfyui.history import in_queue
from recoil.providers.http import Boundary


class ComfyAPI:
    """HTTP calls to any server of a pool, over one client."""

    def __init__(self, boundary: Boundary, timeout: httpx.Timeout) -> None:
        self._boundary = boundary
        self._client = httpx.AsyncClient(timeout=timeout)

    async def send(
        self,
        method: str,
        server: str,
        path: str,
        *,
        what: str,
        idempotent: bool = True,
        ok: tuple[int, ...] = (),
        **kw: Any,
    ) -> httpx.Response:
        """One HTTP call to a server, translated at the boundary (see ``http.Boundary``)."""
        url = f"{server}{path}"
        try:
            response = await self._client.request(method, url, **kw)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self._boundary.transport_error(
                exc, url, what=what, idempotent=idempotent
            ) from None
        if response.is_success or response.status_code in ok:
            return response
        raise self._boundary.status_error(response, what=what)

    async def queue_length(self, server: str) -> int | None:
        """How many prompts the server has yet to run; None when it does not say."""
        try:
            response = await self.send("GET", server, "/prompt", what="queue length")
            return int(response.json()["exec_info"]["queue_remaining"])
        except (ProviderError, ValueError, KeyError, TypeError):
            return None

    async def upload(self, server: str, path: Path) -> str:
        """Upload an input file; the name a workflow's loader node takes it by."""
        # Uploads are idempotent: the same name and bytes give back the same name.
        data = await asyncio.to_thread(path.read_bytes)
        files = {"image": (path.name, data)}
        form = {"type": "input", "overwrite": "false"}
        response = await self.send(
            "POST", server, "/upload/image", what="upload", files=files, data=form
        )
        answer = json_body(response)
        name = str(answer.get("name", path.name))
        sub = answer.get("subfolder")
        return f"{sub}/{name}" if sub else name

    async def history(self, server: str, prompt_id: str) -> Mapping[str, Any] | None:
        """The prompt's history entry; None until it has ended (or when it is unknown)."""
        response = await self.send("GET", server, f"/history/{prompt_id}", what="history")
        entry = json_body(response).get(prompt_id)
        return entry if isinstance(entry, Mapping) else None

    async def exists(self, server: str, prompt_id: str) -> bool:
        """Whether the server has the prompt queued, running or done; raises if it cannot say."""
        if await self.history(server, prompt_id) is not None:
            return True
        queue = await self.queue(server)
        return in_queue(queue.get("queue_running"), prompt_id) or in_queue(
            queue.get("queue_pending"), prompt_id
        )

    async def queue(self, server: str) -> Mapping[str, Any]:
        """The server's ``/queue`` answer (running and pending prompts)."""
        try:
            queue = (await self.send("GET", server, "/queue", what="queue")).json()
        except ValueError:
            queue = None
        if not isinstance(queue, dict):
            raise self._boundary.error(
                f"server {server} sent a /queue answer that is not a JSON object",
                retryable=True,
                error_type="protocol",
            )
        return queue

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object an answer holds; empty when it holds none."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
