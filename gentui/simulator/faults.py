"""Fault switches for tests: what a stalled or hostile ComfyUI server would do.

A real server can stop answering (a frozen process, a dead link) or report
file names that point outside its folders. The simulator is well behaved by
default; these switches let the client's tests provoke both on purpose.
"""

from __future__ import annotations

import asyncio
from typing import Any


class Faults:
    """Runtime fault switches shared by the routes, the hub and the engine.

    Attributes:
        report_filename: when set, `executed` and `/history` report this file name
            instead of the one written (the real file keeps its real name).
        report_subfolder: likewise for the subfolder.
        history_delay_ms: write the history entry this long after `execution_success`
            has gone out, widening the race a real server has (a client reading
            `/history` on `execution_success` gets `{}`).
    """

    def __init__(self) -> None:
        self._running = asyncio.Event()
        self._running.set()
        self.report_filename: str | None = None
        self.report_subfolder: str | None = None
        self.history_delay_ms: float = 0.0
        self.nondeterministic: bool = False
        """Like a GPU with non-deterministic kernels: the same graph gives slightly different pixels each run."""

    @property
    def frozen(self) -> bool:
        return not self._running.is_set()

    def freeze(self) -> None:
        """Stop answering HTTP, sending websocket messages and stepping samplers."""
        self._running.clear()

    def thaw(self) -> None:
        self._running.set()

    async def gate(self) -> None:
        """Wait here while frozen."""
        if not self._running.is_set():
            await self._running.wait()

    def disguise(self, images: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The image list as the (possibly hostile) server reports it."""
        if self.report_filename is None and self.report_subfolder is None:
            return images
        out = []
        for image in images:
            image = dict(image)
            if self.report_filename is not None:
                image["filename"] = self.report_filename
            if self.report_subfolder is not None:
                image["subfolder"] = self.report_subfolder
            out.append(image)
        return out
