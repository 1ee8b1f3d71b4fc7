"""Following a ComfyUI prompt to its outcome: events, the history race, the watchdog.

Outputs are read from `/history` only after `executing {node: null}` (the entry
is written after `execution_success`). When the socket is quiet, dropped or
back, the watchdog asks `/history` and `/queue` directly, so a missed finish
is still seen; a server that stops answering is retried with backoff until
`unreachable_timeout_s`, then reported as BackendUnavailable.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gentui.backends.base import (
    BackendError,
    BackendUnavailable,
    EventCallback,
    JobEvent,
    OutputImage,
    RunOutcome,
)
from gentui.backends.comfy_errors import runtime_error
from gentui.backends.comfy_http import AuthRefused
from gentui.backends.comfy_ws import WsEvent

if TYPE_CHECKING:
    from gentui.backends.comfy_http import ComfyHttp
    from gentui.backends.comfy_ws import ComfySocket


class FollowMixin:
    """The follow half of ComfyBackend (needs `http`, `ws`, `redact`, `_graphs`, `_cancelled`)."""

    name: str
    http: ComfyHttp
    ws: ComfySocket
    poll_s: float
    unreachable_timeout_s: float
    download_dir: Path
    _graphs: dict[str, dict[str, Any]]
    _cancelled: set[str]

    def redact(self, text: Any) -> str:  # provided by ComfyBackend
        raise NotImplementedError

    # -- follow -------------------------------------------------------------------
    async def follow(self, prompt_id: str, on_event: EventCallback) -> RunOutcome:
        """Report a prompt's events until it ends; the outcome's images are downloaded temp files."""
        q = self.ws.register(prompt_id)
        self.ws.start()
        graph = self._graphs.get(prompt_id, {})
        t0 = time.monotonic()
        started = False
        success_seen = False
        unreachable_since: float | None = None
        missing = 0
        # A prompt this process did not submit (recovery after a restart) sends us no events:
        # ask the server straight away.
        timeout = self.poll_s if prompt_id in self._graphs else 0.0

        async def emit(ev: JobEvent) -> None:
            res = on_event(ev)
            if inspect.isawaitable(res):
                await res

        try:
            while True:
                try:
                    ev: WsEvent | None = await asyncio.wait_for(q.get(), timeout)
                except TimeoutError:
                    ev = None
                if ev is not None and ev.type != "socket":
                    d = ev.data
                    if ev.type in ("execution_start", "executing") and not started:
                        if ev.type == "execution_start" or d.get("node") is not None:
                            started = True
                            await emit(JobEvent("started", prompt_id))
                    if ev.type == "progress":
                        await emit(JobEvent("progress", prompt_id, step=int(d.get("value", 0)),
                                            total=int(d.get("max", 0)), node=str(d.get("node", ""))))
                    elif ev.type == "preview" and ev.preview:
                        await emit(JobEvent("preview", prompt_id, node=str(d.get("node_id", "")), preview=ev.preview))
                    elif ev.type == "execution_error":
                        msg = self.redact(runtime_error(d, graph))
                        await emit(JobEvent("failed", prompt_id, error=msg))
                        return RunOutcome("failed", prompt_id, error=msg, elapsed_s=time.monotonic() - t0,
                                          submitted_graph=graph or None)
                    elif ev.type == "execution_interrupted":
                        await emit(JobEvent("interrupted", prompt_id))
                        return RunOutcome("interrupted", prompt_id, error="interrupted",
                                          elapsed_s=time.monotonic() - t0, submitted_graph=graph or None)
                    elif ev.type == "execution_success":
                        success_seen = True
                        timeout = 0.05  # `executing null` is due; poll soon in case it was missed
                        continue
                    elif ev.type == "executing" and d.get("node") is None and d.get("prompt_id") == prompt_id:
                        entry = await self._history_after_finish(prompt_id)
                        if entry is not None:
                            return await self._outcome(prompt_id, entry, graph, t0, emit)
                        timeout = 0.1
                    if not success_seen:
                        timeout = self.poll_s
                    continue
                if ev is not None and ev.data.get("state") == "auth":
                    raise AuthRefused(ev.data.get("error", "websocket refused"))
                if ev is not None and ev.data.get("state") == "up" and ev.data.get("connects", 0) <= 1:
                    continue
                # Watchdog: the socket is quiet, dropped or came back; ask the server directly.
                try:
                    # No retries here: this loop is the retry, with its own backoff and deadline.
                    entry = await self.http.history(prompt_id, retries=0)
                    unreachable_since = None
                    if entry is not None:
                        return await self._outcome(prompt_id, entry, graph, t0, emit)
                    running, pending = await self.http.queue(retries=0)
                except AuthRefused:
                    raise
                except BackendUnavailable as e:
                    now = time.monotonic()
                    unreachable_since = unreachable_since or now
                    if now - unreachable_since >= self.unreachable_timeout_s:
                        raise BackendUnavailable(
                            f"backend {self.name!r} stopped answering while prompt {prompt_id} ran: "
                            f"{self.redact(e)}"
                        ) from None
                    timeout = min(max(timeout * 2, 0.2), 5.0, self.poll_s * 2)
                    continue
                if prompt_id in running or prompt_id in pending:
                    missing = 0
                    if prompt_id in running and not started:
                        started = True
                        await emit(JobEvent("started", prompt_id))
                    timeout = self.poll_s if not success_seen else 0.1
                    if not self.ws.connected.is_set():
                        timeout = min(self.poll_s, 0.5)
                    continue
                if prompt_id in self._cancelled:
                    await emit(JobEvent("interrupted", prompt_id, error="cancelled"))
                    return RunOutcome("interrupted", prompt_id, error="cancelled", elapsed_s=time.monotonic() - t0,
                                      extra={"cancelled": True}, submitted_graph=graph or None)
                missing += 1
                if missing >= 3:
                    msg = (f"prompt {prompt_id} is neither queued nor in the history of backend {self.name!r} "
                           f"(deleted, or the server restarted)")
                    await emit(JobEvent("failed", prompt_id, error=msg))
                    return RunOutcome("failed", prompt_id, error=msg, elapsed_s=time.monotonic() - t0,
                                      extra={"lost": True}, submitted_graph=graph or None)
                timeout = 0.1 * missing
        finally:
            self.ws.unregister(prompt_id)
            self._graphs.pop(prompt_id, None)

    async def _history_after_finish(self, prompt_id: str) -> dict[str, Any] | None:
        """The history entry, polled briefly: it can lag the finish events."""
        delay = 0.02
        for _ in range(8):
            entry = await self.http.history(prompt_id)
            if entry is not None:
                return entry
            await asyncio.sleep(delay)
            delay *= 2
        return None

    async def _outcome(self, prompt_id: str, entry: dict[str, Any], graph: dict[str, Any], t0: float, emit: Any) -> RunOutcome:
        status = entry.get("status") or {}
        messages = status.get("messages") or []
        if not graph:
            p = entry.get("prompt")
            graph = p[2] if isinstance(p, list) and len(p) > 2 and isinstance(p[2], dict) else {}
        stamps = {m[0]: m[1].get("timestamp") for m in messages if isinstance(m, list) and len(m) == 2 and isinstance(m[1], dict)}
        elapsed = time.monotonic() - t0
        if isinstance(stamps.get("execution_start"), (int, float)):
            end = stamps.get("execution_success") or stamps.get("execution_error") or stamps.get("execution_interrupted")
            if isinstance(end, (int, float)):
                elapsed = max(0.0, (end - stamps["execution_start"]) / 1000)
        extra = {"server_timestamps": stamps}
        if status.get("status_str") != "success":
            last = messages[-1] if messages and isinstance(messages[-1], list) else ["", {}]
            if last[0] == "execution_interrupted":
                await emit(JobEvent("interrupted", prompt_id))
                return RunOutcome("interrupted", prompt_id, error="interrupted", elapsed_s=elapsed,
                                  submitted_graph=graph or None, extra=extra)
            msg = self.redact(runtime_error(last[1], graph) if last[0] == "execution_error" else "the run failed")
            await emit(JobEvent("failed", prompt_id, error=msg))
            return RunOutcome("failed", prompt_id, error=msg, elapsed_s=elapsed, submitted_graph=graph or None,
                              extra=extra)
        try:
            images = await self._download_outputs(prompt_id, entry.get("outputs") or {})
        except (BackendError, OSError) as e:
            msg = self.redact(e if isinstance(e, BackendError) else f"cannot write the image: {e}")
            await emit(JobEvent("failed", prompt_id, error=msg))
            return RunOutcome("failed", prompt_id, error=msg, elapsed_s=elapsed, submitted_graph=graph or None,
                              extra=extra)
        await emit(JobEvent("done", prompt_id))
        return RunOutcome("done", prompt_id, images=images, elapsed_s=elapsed, submitted_graph=graph or None,
                          extra=extra)

    async def _download_outputs(self, prompt_id: str, outputs: dict[str, Any]) -> list[OutputImage]:
        wanted = [
            (str(nid), img)
            for nid, out in outputs.items()
            if isinstance(out, dict)
            for img in out.get("images") or []
            if isinstance(img, dict) and img.get("type", "output") == "output"
        ]
        images: list[OutputImage] = []
        try:
            for i, (nid, img) in enumerate(wanted):
                suffix = Path(str(img.get("filename", ""))).suffix.lower()
                suffix = suffix if suffix in {".png", ".jpg", ".jpeg", ".webp"} else ".png"
                dest = self.download_dir / f"{prompt_id}_{i}{suffix}"
                path = await self.http.download(img, dest)
                images.append(OutputImage(str(path), str(img.get("filename")), nid))
        except BaseException:
            for im in images:
                Path(im.path).unlink(missing_ok=True)
            raise
        return images
