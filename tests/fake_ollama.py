"""A stand-in Ollama HTTP server for the translation and suggestion tests (a test double, 127.0.0.1 only).

No Ollama exists for this Linux image, so the tests talk to this server, which
answers with the real API's shapes: `/api/chat` and `/api/generate`, streamed
(NDJSON lines with `done: false`, then `done: true`) or not, `/api/tags`, and
404 `{"error": "model 'x' not found, try pulling it first"}` for unknown models.
Each model has a scripted reply (text, or a function of the request), an
optional delay, or a mid-stream error.

Images ride in messages as base64 strings, as the real `/api/chat` takes them
(the `ollama` client encodes bytes and paths); they are decoded and kept in
`.images`, and one that is not base64 gets the real server's 400 answer
(`illegal base64 data at input byte N`). A model marked `vision=False` answers
a request with images with the error a text-only model gives.
"""

from __future__ import annotations

import json
import socket
import threading
import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    """What a model answers."""

    reply: str | Callable[[dict[str, Any]], str] = "two girls"
    """The answer, or a function of the request body that returns it."""
    vision: bool = True
    """False: requests with images are refused as by a text-only model."""
    delay_s: float = 0.0
    """Seconds before the first byte (a slow model)."""
    stream_error: str = ""
    """Send this as an `error` line in the middle of a streamed answer."""


class FakeOllama:
    """`FakeOllama({"gemma3:12b": Script("...")})`; `.url`, `.requests`, `.stop()`."""

    def __init__(self, models: dict[str, Script] | None = None):
        self.models = dict(models or {})
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.images: list[bytes] = []
        """Every image received, decoded."""
        self._release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send_json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.requests.append((self.path, {}))
                if self.path == "/api/tags":
                    self._send_json(200, {"models": [
                        {"name": m, "model": m, "modified_at": "2026-11-01T10:00:00.000000Z", "size": 5_000_000_000,
                         "digest": "0" * 64, "details": {"format": "gguf", "family": "gemma3",
                                                         "parameter_size": "12B", "quantization_level": "Q4_K_M"}}
                        for m in fake.models]})
                else:
                    self._send_json(404, {"error": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append((self.path, body))
                if self.path not in ("/api/chat", "/api/generate"):
                    self._send_json(404, {"error": "not found"})
                    return
                model = body.get("model", "")
                script = fake.models.get(model)
                if script is None:
                    self._send_json(404, {"error": f"model '{model}' not found, try pulling it first"})
                    return
                images = [img for m in body.get("messages") or [] if isinstance(m, dict)
                          for img in m.get("images") or []] + list(body.get("images") or [])
                for img in images:
                    try:
                        fake.images.append(base64.b64decode(img, validate=True))
                    except (binascii.Error, TypeError, ValueError):
                        bad = next((i for i, ch in enumerate(str(img)) if ch not in _B64), 0)
                        self._send_json(400, {"error": f"illegal base64 data at input byte {bad}"})
                        return
                if images and not script.vision:
                    self._send_json(500, {"error": f"model {model} does not support images"})
                    return
                if script.delay_s and fake._release.wait(script.delay_s):
                    return
                chat = self.path == "/api/chat"
                reply = script.reply(body) if callable(script.reply) else script.reply
                if body.get("stream", True):
                    self._stream(model, script, chat, reply)
                else:
                    self._send_json(200, _final(model, reply, chat))

            def _stream(self, model: str, script: Script, chat: bool, reply: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                words = reply.split(" ")
                pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
                lines = [_partial(model, p, chat) for p in pieces]
                if script.stream_error:
                    lines = lines[:1] + [{"error": script.stream_error}]
                else:
                    lines.append(_final(model, "", chat))
                for line in lines:
                    data = json.dumps(line).encode() + b"\n"
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    def chat_requests(self) -> list[dict[str, Any]]:
        return [body for path, body in self.requests if path == "/api/chat"]

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


_B64 = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _partial(model: str, text: str, chat: bool) -> dict[str, Any]:
    base: dict[str, Any] = {"model": model, "created_at": "2026-11-25T12:00:00.000000Z", "done": False}
    if chat:
        base["message"] = {"role": "assistant", "content": text}
    else:
        base["response"] = text
    return base


def _final(model: str, text: str, chat: bool) -> dict[str, Any]:
    out = _partial(model, text, chat)
    out.update(done=True, done_reason="stop", total_duration=1_200_000_000, load_duration=10_000_000,
               prompt_eval_count=42, prompt_eval_duration=100_000_000, eval_count=12, eval_duration=900_000_000)
    return out


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"
