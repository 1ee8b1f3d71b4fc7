"""Websocket clients and message routing, as ComfyUI's PromptServer does it.

Messages go out in the order they were emitted through one publisher task
(ComfyUI's `send_sync` + `publish_loop`), so the worker and the HTTP handlers
never reorder each other's events. `sid=None` means every socket; a sid means
only that socket, and nothing at all when it is not connected (events sent
while a client was away are lost, as on the real server).
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import uuid
from typing import Any, Callable

from aiohttp import WSMsgType, web

from gentui.simulator.faults import Faults

log = logging.getLogger("gentui.sim")

PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
SERVER_FEATURES = {"supports_preview_metadata": True, "max_upload_size": 104857600}


class Hub:
    """The connected sockets, their negotiated features, and the outgoing queue."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.requests: dict[str, web.Request] = {}
        self.flags: dict[str, dict[str, Any]] = {}
        self._out: asyncio.Queue[tuple[Any, Any, str | None]] = asyncio.Queue()
        self._publisher: asyncio.Task[None] | None = None
        # Set by the engine: () -> (status data, currently-executing client id, last node id).
        self.state: Callable[[], tuple[dict[str, Any], str | None, str | None]] = lambda: ({}, None, None)

    def start(self) -> None:
        self._publisher = asyncio.get_running_loop().create_task(self._publish_loop())

    async def close(self, abort: bool = False) -> None:
        """Close every socket (politely, or by resetting the TCP connection)."""
        if self._publisher:
            self._publisher.cancel()
        for sid, ws in list(self.sockets.items()):
            req = self.requests.get(sid)
            if abort and req is not None and req.transport is not None:
                req.transport.abort()
            else:
                try:
                    await ws.close()
                except Exception:  # noqa: BLE001 - the peer may be gone already
                    pass
        self.sockets.clear()
        self.requests.clear()

    def drop(self) -> int:
        """Reset every websocket's TCP connection (the server stays up); returns how many."""
        count = 0
        for sid, req in list(self.requests.items()):
            if req.transport is not None:
                req.transport.abort()
                count += 1
            self.sockets.pop(sid, None)
            self.requests.pop(sid, None)
            self.flags.pop(sid, None)
        return count

    def emit(self, event: Any, data: Any, sid: str | None = None) -> None:
        """Queue a message; `event` is a type name, or a binary event number with bytes."""
        self._out.put_nowait((event, data, sid))

    def supports_metadata(self, sid: str | None) -> bool:
        return bool(sid is not None and self.flags.get(sid, {}).get("supports_preview_metadata"))

    async def flush(self) -> None:
        """Wait until every message emitted so far has been handed to the sockets."""
        await self._out.join()

    async def _publish_loop(self) -> None:
        while True:
            event, data, sid = await self._out.get()
            try:
                await self._send(event, data, sid)
            finally:
                self._out.task_done()

    async def _send(self, event: Any, data: Any, sid: str | None) -> None:
        await self.faults.gate()
        targets = list(self.sockets.values()) if sid is None else [self.sockets[sid]] if sid in self.sockets else []
        for ws in targets:
            try:
                if isinstance(event, int):
                    await ws.send_bytes(struct.pack(">I", event) + data)
                else:
                    await ws.send_str(json.dumps({"type": event, "data": data}))
            except Exception as e:  # noqa: BLE001 - a dead socket must not stop the others
                log.debug("send to a closed socket failed: %s", e)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """`GET /ws?clientId=`: register, send status (+ executing on reconnect), answer feature flags."""
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        sid = request.rel_url.query.get("clientId", "") or uuid.uuid4().hex
        self.sockets[sid] = ws
        self.requests[sid] = request
        self.flags[sid] = {}
        log.info("websocket connected: %s", sid)
        try:
            status, client_id, last_node = self.state()
            self.emit("status", {**status, "sid": sid}, sid)
            if client_id == sid and last_node is not None:
                self.emit("executing", {"node": last_node}, sid)
            first = True
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                    if first and isinstance(data, dict) and data.get("type") == "feature_flags":
                        self.flags[sid] = dict(data.get("data") or {})
                        self.emit("feature_flags", dict(SERVER_FEATURES), sid)
                except (json.JSONDecodeError, AttributeError):
                    log.warning("invalid JSON from websocket client %s", sid)
                first = False
        finally:
            # Unlike ComfyUI, do not drop a newer socket that reused this clientId.
            if self.sockets.get(sid) is ws:
                self.sockets.pop(sid, None)
                self.requests.pop(sid, None)
                self.flags.pop(sid, None)
            log.info("websocket closed: %s", sid)
        return ws
