"""One backend's serial lane: claim, prepare, submit (the next while one runs), follow, record.

A lane holds its backend's lease and loops: claim the next queued job (a
compare-and-set, so a cancel wins) under a fresh prompt id, translate it if
needed, submit it while the previous job still runs (so the GPU never waits),
follow it to an outcome and record it. Every move it makes names that attempt
(prompt id) and the lease token, so nothing it does for a stale attempt, or
after its lease was taken over, changes anything.

What the lane follows is `Attempt`s, keyed by prompt id. Each control poll
compares them with the job rows: an attempt whose job no longer holds it
(cancelled, interrupted, retried, withdrawn) is revoked: taken off the server
and forgotten, and whatever it produces later is discarded. When the backend
stops answering, attempts stay open; once it is back each is looked up on the
server (`/queue`, `/history`): finished ones are collected, live ones followed
again, unknown ones queued again. So a stall or an outage never runs a job twice.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gentui.backends.base import (
    AuthRefused,
    Backend,
    BackendError,
    BackendUnavailable,
    JobEvent,
    PromptStatus,
    RunOutcome,
    ValidationFailed,
)
from gentui.params import JobParams
from gentui.queue.lease import Lease, LeaseLost
from gentui.queue.store import ON_BACKEND, Candidate, Fence, JobRow, JobState

if TYPE_CHECKING:
    from gentui.queue.worker import Worker

POLL_S = 0.2
PROGRESS_MIN_S = 0.2
PREVIEW_MIN_S = 0.25
"""At most this often is the running job's sampler preview written for the TUI (what a link and a terminal carry)."""
BACKOFF_START_S = 0.25
BACKOFF_MAX_S = 5.0
AUTH_BACKOFF_S = 30.0
"""Credentials refused: ask again this seldom (no retry storm), until the user resumes or fixes the config."""
MAX_LOST = 2
"""A job the server lost while it ran this many times fails (it may be what brings the server down)."""
AFFINITY_WINDOW = 32
RECONCILE_S = 10.0
"""How often a lane looks for jobs of its backend that are out there but followed by nobody."""


@dataclass(eq=False)
class Attempt:
    """One attempt at a job, from its claim until its outcome is recorded."""

    job_id: int
    prompt_id: str
    params: JobParams
    label: str = ""
    sweep_id: int | None = None
    task: asyncio.Task | None = None
    started: bool = False
    """The server began executing it."""
    finished: bool = False
    """The server is done with it (recording may follow)."""
    lost: bool = False
    """Contact with the server was lost while it was out; reconciled when the server is back."""


class Lane:
    """One backend's serial lane inside a worker process."""

    def __init__(self, worker: Worker, name: str, backend: Backend, lease: Lease):
        self.w = worker
        self.name = name
        self.backend = backend
        self.lease = lease
        self.store = worker.store
        self.fence = Fence(name, lease.token)
        self.inflight: dict[str, Attempt] = {}
        """prompt id -> attempt, in submission order."""
        self.last_params: JobParams | None = None
        """The job most recently submitted: the next one is chosen to share the most with it."""
        self.wake = asyncio.Event()
        self.down_since: float | None = None
        self.down_reason = ""
        self.auth_refused = False
        self.to_cancel: set[str] = set()
        """Prompts to take off the server once it answers again (revoked while it was down)."""
        self.lost = False
        self.heartbeat_ok = time.monotonic()
        self._housekept = False

    # -- helpers ---------------------------------------------------------------
    async def db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.w.db_pool, call)

    def say(self, msg: str) -> None:
        self.w.log(f"[{self.name}] {msg}")

    @property
    def slots(self) -> int:
        return 1 + (self.w.prequeue if self.backend.abilities.prequeue else 0)

    # -- main loop ---------------------------------------------------------------
    async def run(self) -> None:
        beat = asyncio.create_task(self._heartbeat())
        control = asyncio.create_task(self._control_loop())
        try:
            await self._ready()
            while not self.w.stopping.is_set() and not self.lost:
                try:
                    if self.down_since is not None:
                        await self._ready()
                        continue
                    await self._fill()
                    if (self.w.exit_when_idle and not self.inflight
                            and not await self.db(self.store.any_pending, self.name)):
                        break
                except Exception as e:  # noqa: BLE001 - a bug or a broken catalog must not end the lane
                    self.say(f"internal error, retrying in a moment: {e!r}")
                    await asyncio.sleep(1.0)
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), POLL_S)
                except TimeoutError:
                    pass
        finally:
            control.cancel()
            beat.cancel()
            tasks = [a.task for a in self.inflight.values() if a.task is not None]
            for t in tasks:
                if self.lost or self.w.abandon:
                    t.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(control, beat, return_exceptions=True)

    async def _ready(self) -> None:
        """Until the backend answers: say so once, back off; then reconcile what is out on it."""
        delay = BACKOFF_START_S
        while not self.w.stopping.is_set() and not self.lost:
            try:
                await self.backend.ensure_ready()
                if not self._housekept:
                    await self.db(self.w.recorder.housekeep, self.name)
                    self._housekept = True
                await self._reconcile()
                for pid in list(self.to_cancel):
                    await self.backend.cancel(pid)
                    self.to_cancel.discard(pid)
            except BackendUnavailable as e:
                self._down(e)
                await self._sleep(AUTH_BACKOFF_S if isinstance(e, AuthRefused) else delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            except BackendError as e:  # a server answering nonsense while we reconcile: it is not usable yet
                self._down(BackendUnavailable(f"backend {self.name!r} answered: {e}"))
                await self._sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            if self.down_since is not None:
                self.say("backend is back")
            self.down_since = None
            self.down_reason = ""
            self.auth_refused = False
            return

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake early when the user resumes the backend (after fixing credentials, say)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.w.stopping.is_set() and not self.lost:
            await asyncio.sleep(min(POLL_S * 2, max(0.0, deadline - time.monotonic())))
            if self.auth_refused and not await self.db(self.store.paused, self.name) and self.w.resumed(self.name):
                return

    def _down(self, e: Exception) -> None:
        self.auth_refused = isinstance(e, AuthRefused)
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.down_reason = str(e)
            hold = ("its jobs are held until the credentials work (fix the config, then `gentui jobs resume`)"
                    if self.auth_refused else "jobs stay queued, retrying")
            self.say(f"backend unavailable: {e}; {hold}")

    async def _reconcile(self) -> None:
        """Every job with an open attempt on this backend, as the server knows it now."""
        for row in await self.db(self.store.in_flight, self.name):
            pid = row.prompt_id or ""
            a = self.inflight.get(pid)
            if a is not None and not a.lost:
                continue  # ours, and in hand: being prepared, sent or followed
            status = await self.backend.lookup(pid) if pid else PromptStatus.UNKNOWN
            if row.state == JobState.RECORDING and status is not PromptStatus.FINISHED:
                # The server forgot a job it had finished (it restarted): the files may be there already.
                if await self.w.recorder.finish(row, self.fence):
                    self.inflight.pop(pid, None)
                    continue
            if status is PromptStatus.UNKNOWN or (row.state == JobState.RECORDING and status is not PromptStatus.FINISHED):
                self.inflight.pop(pid, None)
                await self._withdraw_lost(row, pid, "the server does not know it (never sent, or it restarted)")
                continue
            a = a or Attempt(row.id, pid, row.params, row.label, row.sweep_id, started=row.state != JobState.SUBMITTED)
            a.lost = False
            self.inflight[pid] = a
            self._follow(a)

    async def _withdraw_lost(self, row: JobRow, pid: str, why: str) -> None:
        if not pid:
            return
        started = row.state != JobState.SUBMITTED
        if started and await self.db(self.store.lost_attempts, row.id) + 1 >= MAX_LOST:
            if await self.db(self.store.move_attempt, "fail", row.id, pid, self.fence,
                             error=f"the server lost this job {MAX_LOST} times while it ran ({why}); "
                                   "it may be what makes the server fail"):
                self.say(f"job {row.id} failed: lost {MAX_LOST} times")
            return
        note = f"lost: {why}" if started else f"requeued: {why}"
        if await self.db(self.store.move_attempt, "withdraw", row.id, pid, self.fence, note=note):
            self.say(f"job {row.id} queued again: {why}")
            self.wake.set()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.w.settings.worker.heartbeat_s)
            await self._beat()
            if self.lost:
                return

    async def _beat(self) -> None:
        try:
            # Its own thread: a catalog write waiting for a lock must not starve the lease.
            await asyncio.to_thread(self.lease.heartbeat)
            self.heartbeat_ok = time.monotonic()
        except sqlite3.Error as e:
            self.say(f"could not refresh the lease ({e}); trying again")
        except LeaseLost as e:
            self.say(str(e))
            self.lost = True
            for a in self.inflight.values():  # the new holder owns them now: stop following
                if a.task is not None:
                    a.task.cancel()
            await self._drop_orphans()
            self.wake.set()

    async def _drop_orphans(self) -> None:
        """After losing the lease: prompts we sent that no job holds any more (the new holder re-queued
        them while we slept) would run for nobody; take those off the server. Held ones are left alone."""
        for a in list(self.inflight.values()):
            try:
                if not await self.db(self.store.holds, a.job_id, a.prompt_id):
                    await self.backend.cancel(a.prompt_id)
                    self.say(f"job {a.job_id}: took our orphaned prompt {a.prompt_id} off the server")
            except BackendError:
                pass

    # -- claiming and submitting -----------------------------------------------
    async def _fill(self) -> None:
        if await self.db(self.store.paused, self.name):
            return
        while (len(self.inflight) < self.slots and self.down_since is None
               and not self.w.stopping.is_set() and not self.lost):
            job = await self.db(self._choose)
            if job is None:
                return
            if not await self._start(job):
                return

    def _choose(self) -> Candidate | None:
        """The next job to claim.

        The queue's head, except that within the head's run of unmoved jobs of
        one sweep the lane takes the one sharing most with what it just ran
        (models, LoRAs and strengths, prompt, size) and least with what the other
        lanes run, so each server re-patches and re-encodes as little as it can.
        Jobs the user moved, and the order between sweeps, are kept exactly.
        """
        include_any = not self.inflight or self.w.others_busy(self)
        cands = self.store.candidates(self.name, include_any=include_any,
                                      skip=self.w.refused_by.get(self.name, set()), window=AFFINITY_WINDOW)
        if not cands:
            return None
        head = cands[0]
        others = self.w.other_lanes_params(self)
        if head.moved or (self.last_params is None and not others):
            return head
        block = list(itertools.takewhile(lambda c: c.sweep_id == head.sweep_id and not c.moved, cands))

        def score(item: tuple[int, Candidate]) -> tuple[int, int, int]:
            index, c = item
            p = c.params
            return (p.affinity(self.last_params), -max((p.affinity(o) for o in others), default=0), -index)

        return max(enumerate(block), key=score)[1]

    async def _start(self, job: Candidate) -> bool:
        """Claim, prepare and submit one job. False stops filling for now."""
        params = job.params
        prompt_id = str(uuid.uuid4())
        if not await self.db(self.store.claim, job.id, self.name, prompt_id, self.fence):
            return True  # cancelled or taken meanwhile
        a = Attempt(job.id, prompt_id, params, job.label, job.sweep_id)
        self.inflight[prompt_id] = a
        try:
            a.params = params = await self.w.prepare(job.id, prompt_id, params)
        except Exception as e:  # noqa: BLE001 - translation errors of any kind fail the job, its text kept
            self.inflight.pop(prompt_id, None)
            await self.db(self.store.move_attempt, "fail", job.id, prompt_id, self.fence, error=str(e))
            return True
        if time.monotonic() - self.heartbeat_ok > self.w.settings.worker.lease_stale_s / 2:
            await self._beat()  # after a long sleep (a closed lid) make sure the lease is still ours
            if self.lost:
                return False
        if not await self.db(self.store.holds, job.id, prompt_id):
            self.inflight.pop(prompt_id, None)  # cancelled while it was prepared: never sent
            return True
        try:
            real_id = await self.backend.submit(params, prompt_id=prompt_id)
        except BackendUnavailable as e:
            a.lost = True  # we cannot tell whether it arrived: asked again when the server is back
            self._down(e)
            return False
        except ValidationFailed as e:
            # The backend checked the job (ComfyUI validates every prompt it is sent) and lacks something.
            # A job for any backend goes back to the queue for the others; one meant for this backend fails.
            self.inflight.pop(prompt_id, None)
            if params.backend is None:
                if await self.db(self.store.move_attempt, "withdraw", job.id, prompt_id, self.fence,
                                 note=f"refused by backend {self.name}: {e}"):
                    await self.db(self.w.refuse, self.name, job.id, str(e))
            else:
                await self.db(self.store.move_attempt, "fail", job.id, prompt_id, self.fence,
                              error=f"refused by backend {self.name}: {e}")
            return True
        except BackendError as e:
            self.inflight.pop(prompt_id, None)
            await self.db(self.store.move_attempt, "fail", job.id, prompt_id, self.fence,
                          error=f"refused by backend {self.name}: {e}")
            return True
        if real_id != prompt_id:
            await self.db(self.store.set_prompt_id, job.id, prompt_id, real_id)
            self.inflight[real_id] = self.inflight.pop(prompt_id)
            a.prompt_id = real_id
        self.last_params = params
        self._follow(a)
        return True

    # -- following ---------------------------------------------------------------
    def _follow(self, a: Attempt) -> None:
        a.task = asyncio.create_task(self._run_attempt(a))
        a.task.add_done_callback(lambda _t: self.wake.set())

    async def _run_attempt(self, a: Attempt) -> None:
        last = [0.0, 0.0]

        async def on_event(ev: JobEvent) -> None:
            if ev.kind == "started" or (ev.kind == "progress" and not a.started):
                await self._started(a)
            if ev.kind == "progress" and a.started:
                now = time.monotonic()
                if now - last[0] >= PROGRESS_MIN_S or (ev.total and ev.step >= ev.total):
                    last[0] = now
                    self.w.db_pool.submit(self.store.progress, a.job_id, a.prompt_id, ev.step, ev.total)
            elif ev.kind == "preview" and ev.preview and time.monotonic() - last[1] >= PREVIEW_MIN_S:
                last[1] = time.monotonic()
                self.w.previews.show(a.job_id, ev.preview)

        try:
            outcome = await self.backend.follow(a.prompt_id, on_event)
        except BackendUnavailable as e:
            a.lost = True  # stays open: collected or followed again once the server answers
            self._down(e)
            return
        except BackendError as e:
            outcome = RunOutcome(status="failed", prompt_id=a.prompt_id, error=str(e))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a bug must fail one job, not hang the lane
            self.say(f"job {a.job_id}: unexpected error while following: {e!r}")
            outcome = RunOutcome(status="failed", prompt_id=a.prompt_id, error=f"internal error: {e}")
        a.finished = True
        self.w.previews.clear(a.job_id)
        self.inflight.pop(a.prompt_id, None)
        self.wake.set()  # the slot is free: submit the next job before recording this one
        await self._conclude(a, outcome)

    async def _started(self, a: Attempt) -> None:
        # One job runs at a time on a backend: when this one starts, the one before has finished there.
        for other in list(self.inflight.values()):
            if other is not a and other.started and not other.finished:
                other.finished = True
                await self.db(self.store.move_attempt, "finished", other.job_id, other.prompt_id, self.fence)
        a.started = True
        await self.db(self.store.move_attempt, "start", a.job_id, a.prompt_id, self.fence)

    async def _conclude(self, a: Attempt, outcome: RunOutcome) -> None:
        st = self.store
        try:
            if outcome.status == "done":
                held = await self.db(st.holds, a.job_id, a.prompt_id, (JobState.RECORDING,))
                if held or await self.db(st.move_attempt, "finished", a.job_id, a.prompt_id, self.fence):
                    await self.w.recorder.record(a, self.name, outcome, self.fence)
                else:
                    self.w.recorder.discard(outcome)  # cancelled while it ran: the cancel wins
            elif outcome.status == "interrupted":
                await self.db(st.move_attempt, "interrupted", a.job_id, a.prompt_id, self.fence,
                              error=outcome.error or "interrupted on the server")
            elif outcome.extra.get("lost"):
                row = await self.db(st.maybe, a.job_id)
                if row is not None and row.prompt_id == a.prompt_id:
                    await self._withdraw_lost(row, a.prompt_id, outcome.error)
            else:
                await self.db(st.move_attempt, "fail", a.job_id, a.prompt_id, self.fence,
                              error=outcome.error or "failed on the backend")
        except Exception as e:  # noqa: BLE001
            self.say(f"job {a.job_id}: could not record the outcome: {e!r}")
            await self.db(st.move_attempt, "fail", a.job_id, a.prompt_id, self.fence,
                          error=f"internal error while recording: {e}")

    # -- control --------------------------------------------------------------
    async def _control_loop(self) -> None:
        last_reconcile = time.monotonic()
        while True:
            await asyncio.sleep(POLL_S)
            if self.lost:
                return
            try:
                await self._control_once()
                if self.down_since is None and time.monotonic() - last_reconcile > RECONCILE_S:
                    last_reconcile = time.monotonic()
                    await self._reconcile()  # a job this backend has out there that nobody follows
            except BackendUnavailable as e:
                self._down(e)
            except BackendError as e:
                self.say(f"control request failed: {e}")
            except Exception as e:  # noqa: BLE001 - keep polling: a locked catalog passes
                self.say(f"control poll failed, retrying: {e!r}")

    async def _control_once(self) -> None:
        paused = await self.db(self.store.paused, self.name)
        if not self.inflight:
            if not paused:
                self.wake.set()
            return
        seen = list(self.inflight.items())  # attempts added while we read are checked next time
        rows = await self.db(self.store.states, [a.job_id for _pid, a in seen])
        for pid, a in seen:
            if self.inflight.get(pid) is not a:
                continue  # finished or forgotten meanwhile
            state, current = rows.get(a.job_id, (None, None))
            if current != pid or state not in ON_BACKEND:
                await self._revoke(a)
            elif paused and state == JobState.SUBMITTED and not a.started and not a.lost and a.task is not None:
                if await self.backend.cancel_pending(pid) and await self.db(
                        self.store.move_attempt, "withdraw", a.job_id, pid, self.fence, note="paused"):
                    self._forget(a)
                    self.say(f"paused: job {a.job_id} taken back off the server")

    async def _revoke(self, a: Attempt) -> None:
        """The job no longer holds this attempt (the user cancelled, interrupted or retried it): take it off."""
        self._forget(a)
        if a.finished:
            return
        try:
            await self.backend.cancel(a.prompt_id)
            self.say(f"job {a.job_id}: stopped on the server")
        except BackendUnavailable:
            self.to_cancel.add(a.prompt_id)  # the server may run it when it is back: cancel it then
            raise

    def _forget(self, a: Attempt) -> None:
        self.inflight.pop(a.prompt_id, None)
        if a.task is not None and not a.task.done() and not a.finished:
            a.task.cancel()
        self.wake.set()
