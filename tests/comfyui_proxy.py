"""A small HTTP + websocket proxy on 127.0.0.1 for the ComfyUI client tests.

It stands in for what guards a remote ComfyUI (basic auth, a bearer token, TLS)
and for a flaky link (cut every websocket, answer nothing), and can rewrite
`/history` replies to play a hostile server. It runs in the test's own event loop.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web


class ComfyProxy:
    def __init__(
        self,
        upstream: str,
        *,
        basic: tuple[str, str] | None = None,
        bearer: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        rewrite_history: Callable[[Any], Any] | None = None,
        redirect: dict[str, str] | None = None,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.basic = basic
        self.bearer = bearer
        self.ssl_context = ssl_context
        self.rewrite_history = rewrite_history
        self.redirect = redirect or {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.refused: list[str] = []
        self.down = False
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> ComfyProxy:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        scheme = "https" if self.ssl_context else "http"
        self.url = f"{scheme}://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession(auto_decompress=False)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.drop_websockets()
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    async def drop_websockets(self) -> int:
        """Cut every proxied websocket (the client should reconnect)."""
        socks = list(self._sockets)
        for ws in socks:
            await ws.close()
        return len(socks)

    def _authorized(self, request: web.Request) -> bool:
        got = request.headers.get("Authorization", "")
        if self.basic:
            want = "Basic " + base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            return got == want
        if self.bearer:
            return got == f"Bearer {self.bearer}"
        return True

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.path_qs, dict(request.headers)))
        if self.down:
            raise web.HTTPServiceUnavailable()
        if request.path in self.redirect:
            raise web.HTTPFound(self.redirect[request.path])
        if not self._authorized(request):
            self.refused.append(request.path)
            return web.Response(status=401, text="unauthorized", headers={"WWW-Authenticate": 'Basic realm="comfy"'})
        if request.path == "/ws":
            return await self._ws(request)
        body = await request.read()
        assert self._session is not None
        async with self._session.request(
            request.method, self.upstream + request.path_qs, data=body or None,
            headers={k: v for k, v in request.headers.items() if k.lower() in ("content-type",)},
        ) as up:
            data = await up.read()
            if self.rewrite_history and request.path.startswith("/history/") and up.status == 200:
                data = json.dumps(self.rewrite_history(json.loads(data))).encode()
            headers = {k: v for k, v in up.headers.items() if k.lower() in ("content-type", "content-disposition")}
            return web.Response(status=up.status, body=data, headers=headers)

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024)
        await ws.prepare(request)
        self._sockets.add(ws)
        assert self._session is not None
        up_url = self.upstream.replace("http", "ws", 1) + request.path_qs
        try:
            async with self._session.ws_connect(up_url, max_msg_size=64 * 1024 * 1024) as up:

                async def client_to_up() -> None:
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            await up.send_str(msg.data)
                        elif msg.type == aiohttp.WSMsgType.BINARY:
                            await up.send_bytes(msg.data)
                    await up.close()

                async def up_to_client() -> None:
                    async for msg in up:
                        if ws.closed:
                            break
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            await ws.send_str(msg.data)
                        elif msg.type == aiohttp.WSMsgType.BINARY:
                            await ws.send_bytes(msg.data)
                    await ws.close()

                tasks = [asyncio.create_task(client_to_up()), asyncio.create_task(up_to_client())]
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for t in tasks:
                    t.cancel()
        except aiohttp.ClientError:
            pass
        finally:
            self._sockets.discard(ws)
            await ws.close()
        return ws
