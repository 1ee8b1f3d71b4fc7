"""The serial worker: one lane per backend, one job at a time, the next pre-queued.

`Worker` runs a `Lane` (gentui.queue.lane) for each backend whose lease it
holds, until stopped or, with `exit_when_idle`, until the queue is empty.
It owns what the lanes share: the catalog thread, the results recorder,
translation, and which backends refused which any-backend jobs.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gentui.catalog.db import Catalog
from gentui.config import Settings
from gentui.params import JobParams
from gentui.queue.lane import POLL_S, Lane
from gentui.queue.lease import Lease, acquire
from gentui.queue.record import Recorder

__all__ = ["Lane", "Worker"]


class Worker:
    """Runs lanes for the given backends until stopped (or idle, with exit_when_idle)."""

    def __init__(self, settings: Settings, catalog: Catalog, backends: list[str], *, prequeue: int = 1,
                 exit_when_idle: bool = False, log: Callable[[str], None] = print,
                 stop_when: Callable[[], bool] | None = None, make_backend: Callable[..., Any] | None = None):
        self.settings = settings
        self.catalog = catalog
        self.backend_names = backends
        self.prequeue = prequeue
        self.exit_when_idle = exit_when_idle
        self.log = log
        self.stop_when = stop_when
        self.stopping = asyncio.Event()
        self.abandon = False
        """Stop without waiting for in-flight jobs (they are reconciled on the next start)."""
        self.db_pool = ThreadPoolExecutor(1, thread_name_prefix="gentui-db")
        self.recorder = Recorder(self, settings, catalog)
        self.refused_by: dict[str, set[int]] = {}
        self.refusals: dict[int, list[str]] = {}
        self.lanes: list[Lane] = []
        self._make_backend = make_backend
        self._takes_id: dict[int, bool] = {}

    def submit_takes_id(self, backend: Any) -> bool:
        key = id(backend)
        if key not in self._takes_id:
            try:
                self._takes_id[key] = "prompt_id" in inspect.signature(backend.submit).parameters
            except (TypeError, ValueError):
                self._takes_id[key] = False
        return self._takes_id[key]

    def acquire_leases(self) -> list[Lease]:
        """Take every backend's lease or none (LeaseHeld names the holder)."""
        got: list[Lease] = []
        try:
            for name in self.backend_names:
                got.append(acquire(self.catalog, name))
        except Exception:
            for lease in got:
                lease.release()
            raise
        return got

    async def run(self, leases: list[Lease] | None = None) -> None:
        from gentui.backends.registry import make_backend

        make = self._make_backend or make_backend
        leases = leases if leases is not None else self.acquire_leases()
        watcher = asyncio.create_task(self._watch_stop())
        try:
            for lease in leases:
                self.lanes.append(Lane(self, lease.backend, make(lease.backend, self.settings), lease))
            await asyncio.gather(*(lane.run() for lane in self.lanes))
        finally:
            for lease in leases[len(self.lanes):]:
                lease.release()
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await self.recorder.drain()
            for lane in self.lanes:
                try:
                    await lane.backend.close()
                except Exception as e:  # noqa: BLE001 - closing is best effort
                    self.log(f"[{lane.name}] closing the backend: {e}")
                if not lane.lost:
                    lane.lease.release()
            self.db_pool.shutdown(wait=True)

    async def _watch_stop(self) -> None:
        while not self.stopping.is_set():
            await asyncio.sleep(POLL_S)
            if self.stop_when is not None and await asyncio.get_running_loop().run_in_executor(self.db_pool, self.stop_when):
                self.stop()

    def stop(self, abandon: bool = False) -> None:
        self.abandon = self.abandon or abandon
        self.stopping.set()
        for lane in self.lanes:
            lane.wake.set()

    def refuse(self, lane: str, job_id: int, reason: str) -> None:
        """A backend lacks what an any-backend job needs; fail it once every lane refused."""
        self.refused_by.setdefault(lane, set()).add(job_id)
        self.refusals.setdefault(job_id, []).append(f"{lane}: {reason}")
        if all(job_id in self.refused_by.get(n, set()) for n in self.backend_names):
            self.db_pool.submit(self.lanes[0]._fail, job_id, "no backend has what it needs: "
                                + "; ".join(self.refusals[job_id]), ("queued",))

    async def prepare(self, job_id: int, params: JobParams) -> JobParams:
        """Translate the prompt if it needs it; the job's params keep the result."""
        from gentui.queue.translation import translate_params

        return await translate_params(self, job_id, params)
