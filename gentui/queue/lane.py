"""One backend's serial lane: claim, prepare, submit (the next while one runs), follow, record.

A lane holds its backend's lease, reconciles what a crashed worker left behind,
then loops: claim the next queued job (a compare-and-set, so a cancel wins),
translate it if needed, submit it while the previous job still runs (so the
GPU never waits on us), follow it to an outcome and record it. Control
requests (cancel, interrupt, pause) arrive through the catalog and are polled.
A backend that is down keeps its jobs queued; the lane retries with backoff.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from gentui.backends.base import (
    BackendError,
    BackendUnavailable,
    JobEvent,
    RunOutcome,
    ValidationFailed,
)
from gentui.queue import jobs as J
from gentui.queue import recovery
from gentui.queue.lease import HEARTBEAT_S, Lease, LeaseLost
from gentui.params import JobParams

if TYPE_CHECKING:
    from gentui.queue.worker import Worker

POLL_S = 0.2
PROGRESS_MIN_S = 0.2
BACKOFF_START_S = 0.25
BACKOFF_MAX_S = 5.0


class Lane:
    """One backend's serial lane inside a worker process."""

    def __init__(self, worker: Worker, name: str, backend: Any, lease: Lease):
        self.w = worker
        self.name = name
        self.backend = backend
        self.lease = lease
        self.catalog = worker.catalog
        self.inflight: dict[int, str] = {}
        """job id -> prompt id, for jobs on the backend not yet finished."""
        self.started: set[int] = set()
        self.tasks: set[asyncio.Task] = set()
        self.task_of: dict[int, asyncio.Task] = {}
        self.wake = asyncio.Event()
        self.down_since: float | None = None
        self.validated: set[tuple[Any, ...]] = set()
        self.handled_cancel: set[int] = set()
        self.withdrawn: set[int] = set()
        self.lost = False

    # -- helpers -------------------------------------------------------------
    async def db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.w.db_pool, call)

    def say(self, msg: str) -> None:
        self.w.log(f"[{self.name}] {msg}")

    def _exec(self, sql: str, **params: Any) -> int:
        with self.catalog.engine.begin() as conn:
            return conn.execute(text(sql), params).rowcount

    # -- main loop -----------------------------------------------------------
    async def run(self) -> None:
        beat = asyncio.create_task(self._heartbeat())
        control = asyncio.create_task(self._control_loop())
        try:
            await self._wait_ready(recover=True)
            while not self.w.stopping.is_set() and not self.lost:
                if self.down_since is not None:
                    await self._wait_ready(recover=True)
                    continue
                await self._fill()
                if self.w.exit_when_idle and not self.inflight and not self.tasks and await self.db(self._idle):
                    break
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), POLL_S)
                except TimeoutError:
                    pass
        finally:
            control.cancel()
            beat.cancel()
            for t in list(self.tasks):
                if self.lost or self.w.abandon:
                    t.cancel()
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)
            await asyncio.gather(control, beat, return_exceptions=True)

    def _idle(self) -> bool:
        with self.catalog.engine.connect() as conn:
            row = conn.execute(text("SELECT 1 FROM job WHERE state IN ('queued','submitted','running') "
                                    "AND (backend=:b OR backend IS NULL) LIMIT 1"), {"b": self.name}).first()
        return row is None

    async def _wait_ready(self, recover: bool) -> None:
        """Until the backend answers: report once, back off, then reconcile orphans."""
        delay = BACKOFF_START_S
        while not self.w.stopping.is_set() and not self.lost:
            try:
                await self.backend.ensure_ready()
                if recover:
                    rec = await recovery.reconcile(self.catalog, self.name, self.backend, skip=set(self.inflight))
                    for o in rec.follow:
                        if o.job_id not in self.inflight:
                            self._spawn(o.job_id, o.prompt_id)
                    if rec.requeued:
                        self.say(f"requeued {len(rec.requeued)} job(s) the backend does not know")
                    again = await self.db(recovery.rearm_server_lost, self.catalog, self.name)
                    if again:
                        self.say(f"retrying {len(again)} job(s) lost with the server")
                if self.down_since is not None:
                    self.say("backend is back")
                self.down_since = None
                return
            except BackendUnavailable as e:
                if self.down_since is None:
                    self.down_since = time.monotonic()
                    self.say(f"backend unavailable: {e}; jobs stay queued, retrying")
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self.db(self.lease.heartbeat)
            except LeaseLost as e:
                self.say(str(e))
                self.lost = True
                self.wake.set()
                return

    # -- claiming and submitting -----------------------------------------------
    async def _fill(self) -> None:
        paused, _ = await self.db(J.read_control, self.catalog, self.name)
        while (not paused and len(self.inflight) < 1 + self.w.prequeue and self.down_since is None
               and not self.w.stopping.is_set() and not self.lost):
            job = await self.db(self._next_job, bool(self.inflight))
            if job is None:
                return
            if not await self._start(job):
                return

    def _next_job(self, busy: bool) -> dict[str, Any] | None:
        """The first queued job for this backend (or for any backend, when this lane is idle)."""
        any_clause = "" if busy else " OR backend IS NULL"
        skip = self.w.refused_by.get(self.name, set())
        with self.catalog.engine.connect() as conn:
            rows = conn.execute(text(f"SELECT id, params, label, sweep_id FROM job WHERE state='queued' "
                                     f"AND (backend=:b{any_clause}) ORDER BY position, id LIMIT :n"),
                                {"b": self.name, "n": len(skip) + 1}).all()
        for r in rows:
            if r[0] not in skip:
                return {"id": r[0], "params": JobParams.from_json(r[1]), "label": r[2], "sweep_id": r[3]}
        return None

    def _claim(self, job_id: int, prompt_id: str) -> bool:
        return self._exec(
            "UPDATE job SET state='submitted', backend=:b, backend_prompt_id=:p, attempts=attempts+1, "
            "submitted_at=:now, started_at=NULL, finished_at=NULL, step=0, total=0, error=NULL, updated_at=:now "
            "WHERE id=:i AND state='queued'", b=self.name, p=prompt_id, i=job_id, now=J.now_text()) == 1

    def _fail(self, job_id: int, error: str, states: tuple[str, ...] = ("queued", "submitted", "running")) -> bool:
        marks = ", ".join(f"'{s}'" for s in states)
        return self._exec(f"UPDATE job SET state='failed', error=:e, finished_at=:now, updated_at=:now "
                          f"WHERE id=:i AND state IN ({marks})", e=error[:4000], i=job_id, now=J.now_text()) == 1

    async def _start(self, job: dict[str, Any]) -> bool:
        """Claim, prepare and submit one job. False stops filling for now."""
        params: JobParams = job["params"]
        pinned = params.backend == self.name
        if not pinned:
            sig = params.model_signature()
            if sig not in self.validated:
                try:
                    await self.backend.validate(params)
                    self.validated.add(sig)
                except ValidationFailed as e:
                    self.w.refuse(self.name, job["id"], str(e))
                    return True
                except BackendUnavailable as e:
                    self._down(e)
                    return False
        prompt_id = str(uuid.uuid4())
        if not await self.db(self._claim, job["id"], prompt_id):
            return True  # cancelled or taken meanwhile
        try:
            params = await self.w.prepare(job["id"], params)
        except Exception as e:  # noqa: BLE001 - translation errors of any kind fail the job, text kept
            await self.db(self._fail, job["id"], str(e))
            return True
        if pinned and params.model_signature() not in self.validated:
            try:
                await self.backend.validate(params)
                self.validated.add(params.model_signature())
            except ValidationFailed as e:
                await self.db(self._fail, job["id"], f"refused by backend {self.name}: {e}")
                return True
            except BackendUnavailable as e:
                await self.db(recovery.requeue, self.catalog, job["id"])
                self._down(e)
                return False
        try:
            real_id = await self._submit(params, prompt_id)
        except BackendUnavailable as e:
            await self.db(recovery.requeue, self.catalog, job["id"])
            self._down(e)
            return False
        except BackendError as e:
            await self.db(self._fail, job["id"], f"refused by backend {self.name}: {e}")
            return True
        if real_id != prompt_id:
            await self.db(self._exec, "UPDATE job SET backend_prompt_id=:p WHERE id=:i", p=real_id, i=job["id"])
        self._spawn(job["id"], real_id)
        return True

    async def _submit(self, params: JobParams, prompt_id: str) -> str:
        """Send under the prompt id already recorded in the job row, when the backend lets us choose it."""
        if hasattr(self.backend, "submit_graph") and hasattr(self.backend, "bind"):
            return await self.backend.submit_graph(self.backend.bind(params), prompt_id=prompt_id)
        if self.w.submit_takes_id(self.backend):
            return await self.backend.submit(params, prompt_id=prompt_id)
        return await self.backend.submit(params)

    def _down(self, e: Exception) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.say(f"backend unavailable: {e}; jobs stay queued, retrying")

    # -- following ---------------------------------------------------------------
    def _spawn(self, job_id: int, prompt_id: str) -> None:
        self.inflight[job_id] = prompt_id
        task = asyncio.create_task(self._follow(job_id, prompt_id))
        self.tasks.add(task)
        self.task_of[job_id] = task

        def done(t: asyncio.Task) -> None:
            self.tasks.discard(t)
            if self.task_of.get(job_id) is t:
                del self.task_of[job_id]
            self.wake.set()  # recorded: the lane may now be idle

        task.add_done_callback(done)

    async def _follow(self, job_id: int, prompt_id: str) -> None:
        last = [0.0]

        async def on_event(ev: JobEvent) -> None:
            if ev.kind == "started" or (ev.kind == "progress" and job_id not in self.started):
                self.started.add(job_id)
                await self.db(self._exec, "UPDATE job SET state='running', started_at=:now, updated_at=:now "
                              "WHERE id=:i AND state='submitted'", i=job_id, now=J.now_text())
            if ev.kind == "progress":
                now = time.monotonic()
                if now - last[0] >= PROGRESS_MIN_S or (ev.total and ev.step >= ev.total):
                    last[0] = now
                    self.w.db_pool.submit(self._exec, "UPDATE job SET step=:s, total=:t WHERE id=:i "
                                          "AND state='running'", s=ev.step, t=ev.total, i=job_id)

        try:
            try:
                outcome = await self.backend.follow(prompt_id, on_event)
            except BackendUnavailable as e:
                outcome = RunOutcome(status="failed", prompt_id=prompt_id, error=f"{recovery.SERVER_LOST}: {e}")
                self._down(e)
            except BackendError as e:
                outcome = RunOutcome(status="failed", prompt_id=prompt_id, error=str(e))
            except Exception as e:  # noqa: BLE001 - a bug must fail one job, not hang the lane
                self.say(f"job {job_id}: unexpected error while following: {e!r}")
                outcome = RunOutcome(status="failed", prompt_id=prompt_id, error=f"internal error: {e!r}")
            if outcome.status == "failed" and outcome.extra.get("lost"):
                outcome.error = f"{recovery.SERVER_LOST}: {outcome.error}"
        except asyncio.CancelledError:
            self.inflight.pop(job_id, None)
            raise
        finally:
            self.started.discard(job_id)
        self.inflight.pop(job_id, None)
        self.wake.set()  # the slot is free: submit the next job before recording this one
        if job_id in self.withdrawn:
            self.withdrawn.discard(job_id)
            return
        try:
            await self.w.recorder.record(job_id, self.name, outcome)
        except Exception as e:  # noqa: BLE001
            self.say(f"job {job_id}: could not record the outcome: {e!r}")
            await self.db(self._fail, job_id, f"internal error while recording: {e!r}")
        if (outcome.status == "failed" and outcome.error.startswith(recovery.SERVER_LOST)
                and job_id not in self.handled_cancel):
            self.say(f"job {job_id} failed: {outcome.error}; it is retried once the backend is back")
            self._down(BackendUnavailable(outcome.error))
            while self.down_since is not None and not self.w.stopping.is_set() and not self.lost:
                await asyncio.sleep(POLL_S)
            if not self.w.stopping.is_set() and not self.lost:
                await self.db(recovery.rearm_server_lost, self.catalog, self.name)
                self.wake.set()

    # -- control --------------------------------------------------------------
    async def _control_loop(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            try:
                await self._control_once()
            except BackendUnavailable as e:
                self._down(e)
            except BackendError as e:
                self.say(f"control request failed: {e}")

    async def _control_once(self) -> None:
        paused, interrupt_id = await self.db(J.read_control, self.catalog, self.name)
        if interrupt_id is not None:
            pid = self.inflight.get(interrupt_id)
            if pid is not None:
                await self.backend.interrupt(pid)
                self.say(f"interrupted job {interrupt_id}")
            await self.db(J.clear_interrupt, self.catalog, self.name, interrupt_id)
        if not self.inflight:
            if not paused:
                self.wake.set()
            return
        states = await self.db(self._states, list(self.inflight))
        for job_id, state in states.items():
            pid = self.inflight.get(job_id)
            if pid is None:
                continue
            if state == "cancelled" and job_id not in self.handled_cancel:
                self.handled_cancel.add(job_id)
                await self.backend.cancel_pending(pid)
                await self.backend.interrupt(pid)
                if await self.backend.lookup(pid) == "unknown":  # removed before it ran: stop following
                    self.withdrawn.add(job_id)
                    task = self.task_of.get(job_id)
                    if task is not None:
                        task.cancel()
                    self.inflight.pop(job_id, None)
                    self.wake.set()
            elif paused and state == "submitted" and job_id not in self.started and len(self.inflight) > 1:
                await self._withdraw(job_id, pid)

    def _states(self, ids: list[int]) -> dict[int, str]:
        marks = ", ".join(str(int(i)) for i in ids)
        with self.catalog.engine.connect() as conn:
            return {r[0]: r[1] for r in conn.execute(text(f"SELECT id, state FROM job WHERE id IN ({marks})"))}

    async def _withdraw(self, job_id: int, prompt_id: str) -> None:
        """Pause: take the pre-queued job back off the server (if it has not started)."""
        await self.backend.cancel_pending(prompt_id)
        if await self.backend.lookup(prompt_id) == "unknown":
            self.withdrawn.add(job_id)
            await self.db(recovery.requeue, self.catalog, job_id, ("submitted",))
            task = self.task_of.get(job_id)
            if task is not None:
                task.cancel()
            self.inflight.pop(job_id, None)
            self.say(f"paused: job {job_id} taken back off the server")
