"""The queue-control service: cancel, interrupt, pause, resume, retry and reorder, for the TUI and `gentui jobs`.

Both front ends call this and nothing else, so a job behaves the same whoever
asks. A change is made in the job store first (a compare-and-set, so it wins
over any worker's late write); then the backend is told. When a live worker
holds the backend's lease, that worker sees the change within a poll and acts
on the server (it alone talks to its backend); when none does, this service
removes the prompt from the server itself (Jobs API cancel, or queue delete and
a targeted interrupt). Pause and resume act on every enabled backend unless
some are named.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gentui.catalog.db import Catalog
from gentui.config import Settings
from gentui.queue.lease import is_live, read_lease
from gentui.queue.store import ON_BACKEND, PENDING, RETRYABLE, JobError, JobRow, JobState, JobStore


class Action(StrEnum):
    CANCEL = "cancel"
    INTERRUPT = "interrupt"
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"
    FRONT = "front"
    UP = "up"
    DOWN = "down"


@dataclass
class ControlResult:
    """What a control request did, in the user's terms."""

    action: Action
    changed: list[JobRow] = field(default_factory=list)
    """The jobs it changed (as they were before)."""
    skipped: list[tuple[int, str]] = field(default_factory=list)
    """(job id, why it was left alone)."""
    backends: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What happened on the servers, and warnings."""

    @property
    def ids(self) -> list[int]:
        return [j.id for j in self.changed]

    def message(self) -> str:
        """One line (or a few) for a toast or the command line."""
        verb = {Action.CANCEL: "cancelled", Action.INTERRUPT: "interrupted", Action.RETRY: "queued again",
                Action.FRONT: "moved to the front", Action.UP: "moved up", Action.DOWN: "moved down"}
        if self.action in (Action.PAUSE, Action.RESUME):
            head = (f"paused {', '.join(self.backends)}: the running job finishes, nothing new starts"
                    if self.action == Action.PAUSE else f"resumed {', '.join(self.backends)}")
        elif self.changed:
            names = ", ".join(f"{j.id} ({j.label})" if j.label else str(j.id) for j in self.changed[:5])
            more = f" and {len(self.changed) - 5} more" if len(self.changed) > 5 else ""
            head = f"{verb[self.action]} job{'s' if len(self.changed) > 1 else ''} {names}{more}"
        else:
            head = f"no job {verb[self.action]}"
        lines = [head]
        lines += [f"job {i}: {why}" for i, why in self.skipped[:5]]
        if len(self.skipped) > 5:
            lines.append(f"... and {len(self.skipped) - 5} more left alone")
        return "\n".join(lines + self.notes)


BackendFactory = Callable[[str, Settings], Any]


class QueueService:
    """Every queue control a user has; one instance per front end (cheap to make)."""

    def __init__(self, settings: Settings, catalog: Catalog, store: JobStore | None = None,
                 make_backend: BackendFactory | None = None):
        self.settings = settings
        self.catalog = catalog
        self.store = store or JobStore(catalog)
        self._make_backend = make_backend

    # -- requests ----------------------------------------------------------------------
    def cancel(self, ids: Iterable[int] = (), sweep: str | None = None) -> ControlResult:
        """Cancel unfinished jobs (given, or every one of a sweep): queued ones never run, others leave the server."""
        targets = self._targets(ids, sweep)
        res = ControlResult(Action.CANCEL)
        states = self.store.states(targets)
        for i in targets:
            state = states[i][0]
            if state == JobState.RECORDING:
                res.skipped.append((i, "it has finished on the server and its image is being saved; "
                                       "remove the result afterwards if you do not want it"))
            elif state not in PENDING and not sweep:
                res.skipped.append((i, f"it is {state}; only unfinished jobs can be cancelled"))
        res.changed = self.store.cancel(targets)
        self._reach_servers(res, interrupt=False)
        return res

    def interrupt(self, job_id: int | None = None, backend: str | None = None) -> ControlResult:
        """Stop the running job (the one given, or the backend's); it ends `interrupted` and can be retried."""
        res = ControlResult(Action.INTERRUPT)
        if job_id is None:
            running = [j for j in self.store.list(states=[JobState.RUNNING, JobState.SUBMITTED], backend=backend)]
            running = [j for j in running if j.state == JobState.RUNNING] or running
            if not running:
                raise JobError("no job is running" + (f" on backend {backend}" if backend else ""))
            job_id = running[0].id
        job = self.store.get(job_id)
        if job.state == JobState.RECORDING:
            raise JobError(f"job {job_id} has finished on the server and is being recorded; cancel it to discard it")
        if job.state not in (JobState.SUBMITTED, JobState.RUNNING):
            raise JobError(f"job {job_id} is {job.state}, not running" +
                           ("; cancel it instead" if job.state == JobState.QUEUED else ""))
        res.changed = self.store.cancel([job_id], interrupt=True)
        self._reach_servers(res, interrupt=True)
        return res

    def pause(self, backends: Sequence[str] | None = None) -> ControlResult:
        """Finish the running job, start nothing new; a job waiting on the server is taken back off it."""
        res = ControlResult(Action.PAUSE, backends=self._backends(backends))
        self.store.set_paused(res.backends, True)
        for name in res.backends:
            if not self._worker_holds(name):
                self._withdraw_prequeued(name, res)
        return res

    def resume(self, backends: Sequence[str] | None = None) -> ControlResult:
        res = ControlResult(Action.RESUME, backends=self._backends(backends))
        self.store.set_paused(res.backends, False)
        return res

    def retry(self, ids: Iterable[int] = (), sweep: str | None = None, failed: bool = False) -> ControlResult:
        """Queue failed, cancelled or interrupted jobs again (given, of a sweep, or every failed one)."""
        targets = self._targets(ids, sweep)
        if failed:
            targets += self.store.ids_in_state(JobState.FAILED)
        res = ControlResult(Action.RETRY)
        before = {i: self.store.get(i) for i in dict.fromkeys(targets)}
        for i, j in before.items():
            if j.state not in RETRYABLE and not (sweep or failed):
                what = "already queued" if j.state == JobState.QUEUED else (
                    "done; its result is in the catalog" if j.state == JobState.DONE else "still running")
                res.skipped.append((i, f"it is {what}; only failed, cancelled or interrupted jobs can be retried"))
        res.changed = [before[i] for i in self.store.retry(before)]
        return res

    def move(self, job_id: int, where: Action) -> ControlResult:
        """Front, up or down among the queued jobs: the worker then takes it exactly in that order."""
        if where not in (Action.FRONT, Action.UP, Action.DOWN):
            raise JobError(f"cannot move a job {where}")
        row = self.store.move(job_id, where.value)
        return ControlResult(where, changed=[row])

    def do(self, action: Action | str, job_id: int | None = None, backend: str | None = None) -> ControlResult:
        """One action on one job (or backend): the TUI's keys and palette come through here."""
        action = Action(action)
        if action == Action.CANCEL:
            return self.cancel([job_id] if job_id is not None else [])
        if action == Action.INTERRUPT:
            return self.interrupt(job_id, backend)
        if action in (Action.PAUSE, Action.RESUME):
            names = [backend] if backend else None
            return self.pause(names) if action == Action.PAUSE else self.resume(names)
        if action == Action.RETRY:
            return self.retry([job_id] if job_id is not None else [])
        if job_id is None:
            raise JobError(f"{action}: which job?")
        return self.move(job_id, action)

    # -- the servers ----------------------------------------------------------------------
    def _targets(self, ids: Iterable[int], sweep: str | None) -> list[int]:
        out = self.store.existing(ids)
        if sweep is not None:
            out += self.store.sweep_job_ids(sweep)
        return out

    def _backends(self, names: Sequence[str] | None) -> list[str]:
        if names:
            unknown = [n for n in names if n not in self.settings.backends]
            if unknown:
                raise JobError(f"no backend named {', '.join(map(repr, unknown))}; configured: "
                               f"{', '.join(sorted(self.settings.backends))}")
            return list(dict.fromkeys(names))
        return [n for n, b in self.settings.backends.items() if b.enabled]

    def _worker_holds(self, backend: str | None) -> bool:
        info = read_lease(self.catalog, backend) if backend else None
        return info is not None and is_live(info, self.settings.worker.lease_stale_s)

    def _reach_servers(self, res: ControlResult, interrupt: bool) -> None:
        """Jobs that were on a backend leave it: the worker does it, or we do when no worker holds the backend."""
        on_server = [j for j in res.changed if j.state in ON_BACKEND and j.prompt_id and j.backend]
        todo = [j for j in on_server if j.backend in self.settings.backends and not self._worker_holds(j.backend)]
        if len(on_server) > len(todo):
            res.notes.append("the worker removes it from the server")
        if not todo:
            return

        async def go() -> None:
            for name in dict.fromkeys(j.backend for j in todo):
                backend = self._backend(name)
                try:
                    for j in todo:
                        if j.backend == name:
                            await (backend.interrupt(j.prompt_id) if interrupt else backend.cancel(j.prompt_id))
                    res.notes.append(f"removed from backend {name}")
                except Exception as e:  # noqa: BLE001 - the job is cancelled either way; say what the server did
                    res.notes.append(f"warning: could not reach backend {name} to stop it there: {e}")
                finally:
                    await backend.close()

        _run(go())

    def _withdraw_prequeued(self, name: str, res: ControlResult) -> None:
        waiting = [j for j in self.store.in_flight(name) if j.state == JobState.SUBMITTED and j.prompt_id]
        if not waiting:
            return

        async def go() -> None:
            backend = self._backend(name)
            try:
                for j in waiting:
                    if await backend.withdraw(j.prompt_id):
                        self.store.move_attempt("withdraw", j.id, j.prompt_id, None, note="paused")
                        res.notes.append(f"job {j.id} taken back off backend {name}")
            except Exception as e:  # noqa: BLE001
                res.notes.append(f"warning: could not reach backend {name} to take waiting jobs back: {e}")
            finally:
                await backend.close()

        _run(go())

    def _backend(self, name: str) -> Any:
        if self._make_backend is not None:
            return self._make_backend(name, self.settings)
        from gentui.backends.registry import make_backend

        return make_backend(name, self.settings)


def _run(coro: Any) -> None:
    """Run backend calls from synchronous code (the CLI, or a TUI thread worker)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    raise RuntimeError("QueueService talks to servers from a thread, not from inside an event loop")
