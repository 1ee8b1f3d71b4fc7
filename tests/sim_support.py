"""Helpers for the simulator tests: read the real-server captures, record websocket traffic."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any, Callable

from websockets.asyncio.client import connect

CAPTURES = Path("/work/shared/comfyui-transcripts")
if not CAPTURES.is_dir():  # a checkout elsewhere: look beside the repo
    CAPTURES = Path(__file__).resolve().parents[2] / "shared" / "comfyui-transcripts"

# The capture server's model folders (an SD1.5-shaped checkpoint with random weights).
CAPTURE_MODELS = {
    "checkpoints": ["random_sd15_tiny.safetensors", "random_sd15.safetensors"],
    "loras": ["random_lora_sd15.safetensors", "random_lora_sd15_tiny.safetensors"],
}


def load_capture(name: str) -> dict[str, Any]:
    return json.loads((CAPTURES / f"{name}.json").read_text())


def http_events(
    capture: dict[str, Any], label: str | None = None, method: str | None = None, path_prefix: str | None = None
) -> list[dict[str, Any]]:
    out = []
    for e in capture["events"]:
        if e["src"] != "http":
            continue
        if label is not None and e.get("label") != label:
            continue
        if method is not None and e["method"] != method:
            continue
        if path_prefix is not None and not e["path"].startswith(path_prefix):
            continue
        out.append(e)
    return out


def shape(msg: dict[str, Any]) -> tuple:
    """What a message is, without ids and timestamps: (type, sorted data keys)."""
    if msg.get("binary"):
        return ("binary", msg["event_type"])
    return (msg["type"], tuple(sorted(msg["data"])))


def captured_shapes(capture: dict[str, Any], client: str, start: float = 0.0, end: float = 1e9) -> list[tuple]:
    """The shapes the named client received in the capture between `start` and `end` seconds."""
    out = []
    for e in capture["events"]:
        if e["src"] != f"ws:{client}" or e.get("dir") == "client->server" or not start <= e["t"] <= end:
            continue
        if "msg" in e:
            out.append(shape(e["msg"]))
        elif e.get("binary"):
            out.append(("binary", e["event_type"]))
    return out


def captured_msgs(capture: dict[str, Any], client: str, mtype: str) -> list[dict[str, Any]]:
    return [
        e["msg"]
        for e in capture["events"]
        if e["src"] == f"ws:{client}" and "msg" in e and e["msg"]["type"] == mtype and e.get("dir") is None
    ]


class Recorder:
    """A websocket client that records everything it receives, like the capture harness did."""

    def __init__(self, base_url: str, client_id: str | None, features: bool = False) -> None:
        query = f"?clientId={client_id}" if client_id else ""
        self.url = base_url.replace("http://", "ws://") + "/ws" + query
        self.client_id, self.features = client_id, features
        self.msgs: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.ws: Any = None

    async def open(self) -> "Recorder":
        self.ws = await connect(self.url, max_size=None)
        if self.features:
            await self.ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
        self._task = asyncio.create_task(self._read())
        await self.wait_for(lambda m: m.get("type") == "status" and "sid" in m.get("data", {}))
        if self.features:
            await self.wait_for(lambda m: m.get("type") == "feature_flags")
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._task:
            self._task.cancel()

    async def __aenter__(self) -> "Recorder":
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    event = int.from_bytes(raw[:4], "big")
                    msg: dict[str, Any] = {"binary": True, "event_type": event, "raw": raw}
                    if event == 4:
                        n = int.from_bytes(raw[4:8], "big")
                        msg["metadata"] = json.loads(raw[8 : 8 + n])
                        msg["image"] = raw[8 + n :]
                    else:
                        msg["format"] = int.from_bytes(raw[4:8], "big")
                        msg["image"] = raw[8:]
                    self.msgs.append(msg)
                else:
                    self.msgs.append(json.loads(raw))
                self._changed.set()
        except Exception:  # noqa: BLE001 - the socket closed
            pass

    def mark(self) -> int:
        return len(self.msgs)

    async def wait_for(self, pred: Callable[[dict[str, Any]], bool], since: int = 0, timeout: float = 10.0) -> dict:
        async def scan() -> dict:
            while True:
                for m in self.msgs[since:]:
                    if pred(m):
                        return m
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def wait_done(self, prompt_id: str, since: int = 0, timeout: float = 10.0) -> dict:
        return await self.wait_for(
            lambda m: (
                m.get("type") == "executing"
                and m["data"].get("node") is None
                and m["data"].get("prompt_id") == prompt_id
            ),
            since,
            timeout,
        )

    def shapes(self, since: int = 0, until: int | None = None) -> list[tuple]:
        return [shape(m) for m in self.msgs[since:until]]

    def of_type(self, mtype: str, since: int = 0) -> list[dict[str, Any]]:
        return [m for m in self.msgs[since:] if m.get("type") == mtype]


async def settle(seconds: float = 0.05) -> None:
    """Let in-flight broadcasts arrive before comparing an observer's sequence."""
    await asyncio.sleep(seconds)


def perturbed(graph: dict[str, Any], keep: set[str]) -> dict[str, Any]:
    """A copy of `graph` where every node outside `keep` with a literal input gets a different value.

    Submitting it first leaves exactly the `keep` nodes in the classic cache for the real graph.
    Samplers outside `keep` also drop to one step so the warm-up is quick.
    """
    g = copy.deepcopy(graph)
    for nid, node in g.items():
        if nid in keep:
            continue
        if "steps" in node["inputs"] and not isinstance(node["inputs"]["steps"], list):
            node["inputs"]["steps"] = 1
        for name, val in node["inputs"].items():
            if isinstance(val, bool) or isinstance(val, list):
                continue
            if name == "ckpt_name":
                node["inputs"][name] = "random_sd15.safetensors" if val != "random_sd15.safetensors" else val
                break
            if name in ("seed", "noise_seed", "width", "height"):
                node["inputs"][name] = val + 8
                break
            if isinstance(val, float):
                node["inputs"][name] = round(val + 0.25, 4)
                break
            if name in ("text", "filename_prefix"):
                node["inputs"][name] = val + " warmup"
                break
    return g
