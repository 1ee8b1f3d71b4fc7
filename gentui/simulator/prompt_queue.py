"""ComfyUI's PromptQueue, simulated: the pending heap, what runs, and the history.

Pending prompts live in a heap ordered by `number` (so `/queue` lists them in
heap order, as the real server does); every change broadcasts a `status`.
History is kept in memory (at most 10000 entries) and lost on restart.
"""

from __future__ import annotations

import asyncio
import heapq
import json
from dataclasses import dataclass, field
from typing import Any

from gentui.simulator.hub import Hub

MAX_HISTORY = 10000


@dataclass(order=True)
class QueueItem:
    """One queued prompt; `as_list()` is the 5-element form `/queue` and `/history` show."""

    number: float
    prompt_id: str
    seq: int
    prompt: dict[str, Any] = field(compare=False)
    extra_data: dict[str, Any] = field(compare=False)
    outputs: list[str] = field(compare=False)

    def as_list(self) -> list[Any]:
        return [self.number, self.prompt_id, self.prompt, self.extra_data, list(self.outputs)]


class PromptQueue:
    """Pending prompts, the running one and the finished ones."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.number = 0  # the server's prompt counter (POST /prompt's `number`)
        self.queue: list[QueueItem] = []
        self.running: QueueItem | None = None
        self.history: dict[str, dict[str, Any]] = {}
        self._seq = 0
        self._wake = asyncio.Event()

    def status(self) -> dict[str, Any]:
        return {"status": {"exec_info": {"queue_remaining": len(self.queue) + (1 if self.running else 0)}}}

    def queue_updated(self) -> None:
        self.hub.emit("status", self.status())

    def put(
        self, number: float, prompt_id: str, prompt: dict[str, Any], extra: dict[str, Any], outputs: list[str]
    ) -> None:
        self._seq += 1
        heapq.heappush(self.queue, QueueItem(number, prompt_id, self._seq, prompt, extra, outputs))
        self.queue_updated()
        self._wake.set()

    async def get(self) -> QueueItem:
        """Wait for a pending prompt, mark it running and announce it (the second `status`)."""
        while not self.queue:
            self._wake.clear()
            await self._wake.wait()
        item = heapq.heappop(self.queue)
        self.running = item
        self.queue_updated()
        return item

    def delete_pending(self, prompt_id: str) -> bool:
        for i, item in enumerate(self.queue):
            if item.prompt_id == prompt_id:
                if len(self.queue) == 1:
                    self.wipe_queue()
                else:
                    self.queue.pop(i)
                    heapq.heapify(self.queue)
                self.queue_updated()
                return True
        return False

    def wipe_queue(self) -> None:
        self.queue = []
        self.queue_updated()

    def get_history(
        self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1
    ) -> dict[str, Any]:
        if prompt_id is not None:
            entry = self.history.get(prompt_id)
            return {prompt_id: json.loads(json.dumps(entry))} if entry is not None else {}
        if offset < 0 and max_items is not None:
            offset = len(self.history) - max_items
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(self.history.items()):
            if i >= offset:
                out[k] = v
                if max_items is not None and len(out) >= max_items:
                    break
        return out

    def _task_done(self, item: QueueItem, success: bool, messages: list, result: dict[str, Any]) -> None:
        self.running = None
        if len(self.history) > MAX_HISTORY:
            self.history.pop(next(iter(self.history)))
        self.history[item.prompt_id] = {
            "prompt": item.as_list(),
            "outputs": {},
            "status": {"status_str": "success" if success else "error", "completed": success, "messages": messages},
            **result,
        }
        self.queue_updated()
