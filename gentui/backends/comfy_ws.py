"""One long-lived websocket per backend, routing ComfyUI's events to the prompts they concern.

The worker pre-queues the next job while the current one runs, so events for
a prompt can arrive before anyone follows it: each submitted prompt gets a
queue here before it is posted, and the listener files every message under
its prompt id. Messages that carry no id (the `executing` sent right after a
reconnect, legacy binary previews) belong to the prompt currently running.
The socket reconnects with the same clientId and backoff; every (re)connect
and drop is announced to all followers so they re-read `/history` for what
they may have missed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from gentui.backends.connection import Connection

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024 * 1024
"""Binary previews (and SaveImageWebsocket PNGs) exceed websockets' 1 MiB default."""


@dataclass
class WsEvent:
    """A message for one prompt: a ComfyUI event, a preview, or a socket state change."""

    type: str
    """ComfyUI message type, `preview`, or `socket` (data["state"] up/down/auth)."""
    data: dict[str, Any] = field(default_factory=dict)
    preview: bytes | None = None


class _NoRedirectConnect(connect):
    """websockets follows redirects and keeps custom headers (API keys) across hosts: refuse all."""

    def process_redirect(self, exc: Exception) -> Exception | str:  # noqa: D102
        return exc


class ComfySocket:
    """The backend's websocket: connect, keep connected, dispatch."""

    def __init__(self, conn: Connection, client_id: str, *, preview_metadata: bool = True) -> None:
        self.conn = conn
        self.client_id = client_id
        self.preview_metadata = preview_metadata
        """Negotiate event-4 previews (with prompt ids); False gets legacy event-1 frames."""
        self.queues: dict[str, asyncio.Queue[WsEvent]] = {}
        self.running: str | None = None
        self.connected = asyncio.Event()
        self.tried = asyncio.Event()
        """Set after the first connection attempt, successful or not."""
        self.last_error = ""
        self.auth_error = ""
        self.connects = 0
        self._task: asyncio.Task[None] | None = None
        self._ws: Any = None
        self._closing = False

    # -- followers ----------------------------------------------------------
    def register(self, prompt_id: str) -> asyncio.Queue[WsEvent]:
        return self.queues.setdefault(prompt_id, asyncio.Queue())

    def unregister(self, prompt_id: str) -> None:
        self.queues.pop(prompt_id, None)
        if self.running == prompt_id:
            self.running = None

    def _put(self, prompt_id: str | None, ev: WsEvent) -> None:
        if prompt_id and prompt_id in self.queues:
            self.queues[prompt_id].put_nowait(ev)

    def _broadcast(self, ev: WsEvent) -> None:
        for q in self.queues.values():
            q.put_nowait(ev)

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> None:
        if self._task is None or self._task.done():
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"comfy-ws-{self.conn.name}")

    async def wait_connected(self, timeout: float) -> bool:
        """Wait for the socket; False at once if the first attempt failed (server down)."""
        self.start()
        if self.connected.is_set():
            return True
        try:
            await asyncio.wait_for(self.tried.wait(), timeout)
        except TimeoutError:
            pass
        return self.connected.is_set()

    async def drop(self) -> None:
        """Close the current connection (it reconnects); for tests and stuck sockets."""
        if self._ws is not None:
            await self._ws.close()

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        self.connected.clear()

    async def _run(self) -> None:
        backoff = 0.05
        while not self._closing:
            try:
                async with _NoRedirectConnect(
                    self.conn.ws_url(self.client_id),
                    max_size=MAX_MESSAGE,
                    ping_interval=10,
                    ping_timeout=10,
                    close_timeout=0.25,
                    proxy=None,
                    **self.conn.websocket_kwargs(),
                ) as ws:
                    self._ws = ws
                    # Ask for event-4 previews: they carry the prompt id.
                    if self.preview_metadata:
                        flags = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
                        await ws.send(json.dumps(flags))
                    self.connects += 1
                    self.auth_error = ""
                    self.connected.set()
                    self.tried.set()
                    self._broadcast(WsEvent("socket", {"state": "up", "connects": self.connects}))
                    backoff = 0.05
                    async for msg in ws:
                        self._dispatch(msg)
            except asyncio.CancelledError:
                raise
            except InvalidStatus as e:
                status = e.response.status_code
                if status in (401, 403):
                    src = self.conn.auth_source or "no credentials are configured"
                    self.auth_error = (
                        f"backend {self.conn.name!r}: the websocket handshake was refused (HTTP {status}); "
                        f"check {src}"
                    )
                    self._broadcast(WsEvent("socket", {"state": "auth", "error": self.auth_error}))
                self.last_error = self.conn.redact(f"websocket handshake answered HTTP {status}")
            except (OSError, WebSocketException, TimeoutError) as e:
                self.last_error = self.conn.redact(f"{e.__class__.__name__}: {e}")
            except Exception as e:  # a bug must not kill event delivery silently
                log.warning("backend %s: websocket listener error: %s", self.conn.name, self.conn.redact(repr(e)))
                self.last_error = self.conn.redact(repr(e))
            self._ws = None
            self.tried.set()
            if self.connected.is_set():
                self.connected.clear()
                self._broadcast(WsEvent("socket", {"state": "down", "error": self.last_error}))
            if self._closing:
                break
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 3.0)

    # -- routing --------------------------------------------------------------
    def _dispatch(self, msg: str | bytes) -> None:
        if isinstance(msg, bytes):
            self._dispatch_binary(msg)
            return
        try:
            obj = json.loads(msg)
        except ValueError:
            return
        if not isinstance(obj, dict):
            return
        mtype, data = obj.get("type"), obj.get("data")
        if not isinstance(mtype, str) or not isinstance(data, dict):
            return
        pid = data.get("prompt_id")
        if mtype == "execution_start" and pid:
            self.running = pid
        elif mtype == "executing":
            if data.get("node") is None:
                if pid and self.running == pid:
                    self.running = None
            elif pid:
                self.running = pid
            else:
                pid = self.running  # sent after a reconnect without a prompt id
        if mtype in ("status", "progress_state", "feature_flags", "crystools.monitor"):
            return
        self._put(pid if isinstance(pid, str) else None, WsEvent(mtype, data))

    def _dispatch_binary(self, msg: bytes) -> None:
        if len(msg) < 8:
            return
        (event,) = struct.unpack(">I", msg[:4])
        if event == 1:  # PREVIEW_IMAGE: [format][image]; no prompt id -> the running prompt
            self._put(self.running, WsEvent("preview", {"format": struct.unpack(">I", msg[4:8])[0]}, msg[8:]))
        elif event == 4:  # PREVIEW_IMAGE_WITH_METADATA: [n][json n][image]
            (n,) = struct.unpack(">I", msg[4:8])
            try:
                meta = json.loads(msg[8 : 8 + n])
            except ValueError:
                return
            if isinstance(meta, dict):
                pid = meta.get("prompt_id") or self.running
                self._put(pid if isinstance(pid, str) else None, WsEvent("preview", meta, msg[8 + n :]))
