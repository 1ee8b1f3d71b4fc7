"""The serial worker: one lane per backend, one job at a time, the next pre-queued.

`Worker` runs a `Lane` (gentui.queue.lane) for each backend whose lease it
holds, until stopped or, with `exit_when_idle`, until the queue is empty.
It owns what the lanes share: the job store and its thread, the results
recorder, translation, and which backends refused which any-backend jobs.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from gentui.backends.base import Backend
from gentui.catalog.db import Catalog
from gentui.config import Settings
from gentui.params import JobParams
from gentui.queue.lane import POLL_S, Lane
from gentui.queue.lease import Lease, acquire
from gentui.queue.previews import Previews
from gentui.queue.record import RECORD_LIMIT_S, Recorder
from gentui.queue.store import JobStore

__all__ = ["Lane", "Worker"]


class Worker:
    """Runs lanes for the given backends until stopped (or idle, with exit_when_idle)."""

    def __init__(self, settings: Settings, catalog: Catalog, backends: list[str], *, prequeue: int | None = None,
                 exit_when_idle: bool = False, log: Callable[[str], None] = print,
                 stop_when: Callable[[], bool] | None = None,
                 make_backend: Callable[[str, Settings], Backend] | None = None):
        self.settings = settings
        self.catalog = catalog
        self.store = JobStore(catalog, lock_wait_s=RECORD_LIMIT_S)
        self.backend_names = backends
        self.prequeue = settings.worker.prequeue if prequeue is None else prequeue
        self.exit_when_idle = exit_when_idle
        self.log = log
        self.stop_when = stop_when
        self.stopping = asyncio.Event()
        self.abandon = False
        """Stop without waiting for in-flight jobs (they are reconciled on the next start)."""
        self.db_pool = ThreadPoolExecutor(1, thread_name_prefix="gentui-db")
        self.recorder = Recorder(self, settings, catalog)
        self.previews = Previews(settings.data_dir / "previews")
        self.refused_by: dict[str, set[int]] = {}
        self.refusals: dict[int, list[str]] = {}
        self.lanes: list[Lane] = []
        self._make_backend = make_backend
        self._backends: dict[str, Backend] = {}
        self._control_seen: dict[str, str] = {}

    def acquire_leases(self) -> list[Lease]:
        """Take every backend's lease or none (LeaseHeld names the holder)."""
        got: list[Lease] = []
        try:
            for name in self.backend_names:
                got.append(acquire(self.catalog, name, self.settings.worker.lease_stale_s))
        except Exception:
            for lease in got:
                lease.release()
            raise
        return got

    def make_backend(self, name: str) -> Backend:
        if name in self._backends:
            return self._backends[name]
        if self._make_backend is not None:
            backend = self._make_backend(name, self.settings)
        else:
            from gentui.backends.registry import make_backend

            backend = make_backend(name, self.settings)
        self._backends[name] = backend
        return backend

    async def warm_up(self) -> None:
        """Before taking the leases: load the clients and open their connections, so the first job starts at once."""
        backends = [self.make_backend(n) for n in self.backend_names]
        await asyncio.gather(*(b.health() for b in backends), return_exceptions=True)

    async def run(self, leases: list[Lease] | None = None) -> None:
        leases = leases if leases is not None else self.acquire_leases()
        watcher = asyncio.create_task(self._watch_stop())
        try:
            for lease in leases:
                self.lanes.append(Lane(self, lease.backend, self.make_backend(lease.backend), lease))
            await asyncio.gather(*(lane.run() for lane in self.lanes))
        finally:
            for lease in leases[len(self.lanes):]:
                lease.release()
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await self.recorder.drain()
            for name, backend in self._backends.items():
                try:
                    await backend.close()
                except Exception as e:  # noqa: BLE001 - closing is best effort
                    self.log(f"[{name}] closing the backend: {e}")
            for lane in self.lanes:
                if not lane.lost:
                    lane.lease.release()
            self.db_pool.shutdown(wait=True)
            self.store.close()

    async def close_backends(self) -> None:
        for backend in self._backends.values():
            try:
                await backend.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass

    async def _watch_stop(self) -> None:
        while not self.stopping.is_set():
            await asyncio.sleep(POLL_S)
            if self.stop_when is not None and await asyncio.get_running_loop().run_in_executor(self.db_pool, self.stop_when):
                self.stop()

    def stop_on_signals(self) -> None:
        """Ctrl-C and SIGTERM stop the worker at once; jobs out on a backend are reconciled next time."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.stop, True)
            except (NotImplementedError, RuntimeError):
                pass

    def stop(self, abandon: bool = False) -> None:
        self.abandon = self.abandon or abandon
        self.stopping.set()
        for lane in self.lanes:
            lane.wake.set()

    def other_lanes_params(self, lane: Lane) -> list[JobParams]:
        """What the other lanes run or just submitted (so a lane leaves those jobs' neighbours to them)."""
        out = []
        for other in self.lanes:
            if other is not lane:
                out += [a.params for a in other.inflight.values()]
                if other.last_params is not None:
                    out.append(other.last_params)
        return out

    def others_busy(self, lane: Lane) -> bool:
        """May a busy lane pre-queue an any-backend job? Only when no other backend could start it now:
        every other enabled backend is one of our lanes, and each is busy or down."""
        ours = {other.name: other for other in self.lanes}
        for name, b in self.settings.backends.items():
            if name == lane.name or not b.enabled:
                continue
            other = ours.get(name)
            if other is None or (not other.inflight and other.down_since is None):
                return False
        return True

    def refuse(self, lane: str, job_id: int, reason: str) -> None:
        """A backend lacks what an any-backend job needs; fail it once every lane refused (store thread)."""
        self.refused_by.setdefault(lane, set()).add(job_id)
        self.refusals.setdefault(job_id, []).append(f"{lane}: {reason}")
        if all(job_id in self.refused_by.get(n, set()) for n in self.backend_names):
            self.store.refuse(job_id, "no backend has what it needs: " + "; ".join(self.refusals[job_id]))

    def resumed(self, backend: str) -> bool:
        """Has the user paused or resumed this backend since we last asked (a signal to try again now)?"""
        stamp = self.store.control_stamp(backend)
        seen = self._control_seen.setdefault(backend, stamp)
        self._control_seen[backend] = stamp
        return stamp != seen

    async def prepare(self, job_id: int, prompt_id: str, params: JobParams) -> JobParams:
        """Translate the prompt if it needs it; the job's row keeps the result."""
        from gentui.queue.translation import translate_params

        return await translate_params(self, job_id, prompt_id, params)
