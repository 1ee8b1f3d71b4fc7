"""The job store and queue control, shared by the CLI, the worker and the TUI.

Jobs are rows before anything is sent. Every state change is a compare-and-set
(`UPDATE ... WHERE state IN (...)`), so a user's cancel always wins over a
worker's progress write, and two processes never both move the same job.
Requests that need the worker (interrupt, pause) go through `queue_control`.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import select

from gentui.catalog.db import Catalog
from gentui.catalog.models import Job, QueueControl, Sweep
from gentui.params import JobParams

ACTIVE = ("submitted", "running")
PENDING = ("queued", "submitted", "running")
RETRYABLE = ("failed", "cancelled", "interrupted")
TERMINAL = ("done", "failed", "cancelled", "interrupted")
STATES = ("queued", "submitted", "running", "done", "failed", "cancelled", "interrupted")


class JobError(ValueError):
    """A job command that cannot be done (unknown id, wrong state); the message says why."""


def now_text() -> str:
    return datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _in(values: Iterable[Any], prefix: str) -> tuple[str, dict[str, Any]]:
    vals = list(values)
    names = [f"{prefix}{i}" for i in range(len(vals))]
    return ", ".join(f":{n}" for n in names) or "NULL", dict(zip(names, vals))


# -- reading --------------------------------------------------------------------
def get_job(catalog: Catalog, job_id: int) -> Job:
    with catalog.session() as s:
        job = s.get(Job, job_id)
    if job is None:
        raise JobError(f"no job {job_id}")
    return job


def find_sweep(catalog: Catalog, name: str) -> Sweep:
    with catalog.session() as s:
        sweep = s.exec(select(Sweep).where(Sweep.name == name)).first()
    if sweep is None:
        with catalog.session() as s:
            names = [n for n in s.exec(select(Sweep.name).order_by(Sweep.id.desc()).limit(20))]
        raise JobError(f"no sweep named {name!r}; recent sweeps: {', '.join(names) or 'none'}")
    return sweep


def list_jobs(catalog: Catalog, sweep: str | None = None, state: str | Iterable[str] | None = None,
              backend: str | None = None, limit: int | None = None) -> list[Job]:
    """Jobs in queue order: running first, then queued by position, then the rest newest first."""
    q = select(Job)
    if sweep is not None:
        q = q.where(Job.sweep_id == find_sweep(catalog, sweep).id)
    if state is not None:
        states = [state] if isinstance(state, str) else list(state)
        for st in states:
            if st not in STATES:
                raise JobError(f"unknown state {st!r}; states are {', '.join(STATES)}")
        q = q.where(Job.state.in_(states))  # type: ignore[attr-defined]
    if backend is not None:
        q = q.where(Job.backend == backend)
    with catalog.session() as s:
        jobs = list(s.exec(q))
    order = {"running": 0, "submitted": 1, "queued": 2}
    jobs.sort(key=lambda j: (order.get(j.state, 3), j.position if j.state in order else -(j.id or 0)))
    return jobs[:limit] if limit else jobs


# -- queueing ---------------------------------------------------------------------
@dataclass
class QueueReport:
    sweep_id: int
    added: list[int] = field(default_factory=list)
    rearmed: list[int] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)
    """State -> number of cells already there (not queued again)."""

    @property
    def queued(self) -> int:
        return len(self.added) + len(self.rearmed)


def enqueue(catalog: Catalog, name: str, spec: dict[str, Any], axes: dict[str, Any],
            jobs: list[Any], backend: str | None = None, workflow: str | None = None) -> QueueReport:
    """Insert a sweep's cells as queued jobs in one transaction.

    A cell whose key hash exists is left alone when done/queued/running, and
    re-armed when failed/cancelled/interrupted: re-queueing never duplicates.
    """
    with catalog.session() as s:
        sweep = s.exec(select(Sweep).where(Sweep.name == name)).first()
        if sweep is None:
            sweep = Sweep(name=name, spec=spec, axes=axes, backend=backend, workflow=workflow)
            s.add(sweep)
            s.flush()
        else:
            sweep.spec = dict(spec)
            merged = dict(sweep.axes or {})
            merged.update(axes)
            sweep.axes = merged
        report = QueueReport(sweep_id=sweep.id)  # type: ignore[arg-type]
        top = s.exec(text("SELECT COALESCE(MAX(position), 0) FROM job")).first()  # type: ignore[call-overload]
        position = float(top[0] if top else 0)
        hashes = [j.key_hash for j in jobs]
        existing: dict[str, Job] = {}
        for i in range(0, len(hashes), 500):
            chunk = hashes[i:i + 500]
            for job in s.exec(select(Job).where(Job.key_hash.in_(chunk))):  # type: ignore[attr-defined]
                existing[job.key_hash] = job
        for spec_job in jobs:
            position += 1
            old = existing.get(spec_job.key_hash)
            if old is None:
                job = Job(sweep_id=sweep.id, key_hash=spec_job.key_hash, params=spec_job.params.to_json(),
                          label=spec_job.label, state="queued", backend=spec_job.params.backend,
                          position=position)
                s.add(job)
                s.flush()
                report.added.append(job.id)  # type: ignore[arg-type]
            elif old.state in RETRYABLE:
                _rearm(old, position)
                s.add(old)
                report.rearmed.append(old.id)  # type: ignore[arg-type]
            else:
                report.kept[old.state] = report.kept.get(old.state, 0) + 1
        s.commit()
    return report


def _rearm(job: Job, position: float | None) -> None:
    job.state = "queued"
    job.error = None
    job.step = job.total = 0
    job.backend_prompt_id = None
    job.backend = JobParams.from_json(job.params or {}).backend
    job.submitted_at = job.started_at = job.finished_at = None
    job.updated_at = datetime.now(UTC)
    if position is not None:
        job.position = position


# -- control ----------------------------------------------------------------------
def _job_ids(catalog: Catalog, ids: Iterable[int] | None, sweep: str | None) -> list[int]:
    out = [int(i) for i in ids or []]
    if sweep is not None:
        sid = find_sweep(catalog, sweep).id
        with catalog.engine.connect() as conn:
            out += [r[0] for r in conn.execute(text("SELECT id FROM job WHERE sweep_id=:s ORDER BY position"), {"s": sid})]
    with catalog.engine.connect() as conn:
        for i in out:
            if conn.execute(text("SELECT 1 FROM job WHERE id=:i"), {"i": i}).first() is None:
                raise JobError(f"no job {i}")
    return out


def cancel(catalog: Catalog, ids: Iterable[int] | None = None, sweep: str | None = None) -> list[Job]:
    """Cancel queued, submitted and running jobs; returns those cancelled.

    Queued jobs simply never run. For a job already on a backend, the worker
    holding that backend sees the state change and removes it there (pending)
    or interrupts it (running); `cancel_on_backend` does it when no worker runs.
    """
    targets = _job_ids(catalog, ids, sweep)
    if not targets:
        return []
    marks, params = _in(targets, "j")
    with catalog.engine.begin() as conn:
        before = [r[0] for r in conn.execute(
            text(f"SELECT id FROM job WHERE id IN ({marks}) AND state IN ('queued','submitted','running')"), params)]
        if before:
            m2, p2 = _in(before, "k")
            conn.execute(text(f"UPDATE job SET state='cancelled', error='cancelled by the user', "
                              f"finished_at=:now, updated_at=:now WHERE id IN ({m2}) "
                              f"AND state IN ('queued','submitted','running')"), {**p2, "now": now_text()})
    return [get_job(catalog, i) for i in before]


def interrupt(catalog: Catalog, job_id: int | None = None, backend: str | None = None) -> Job:
    """Ask the worker to interrupt the running job (the one given, or the backend's)."""
    if job_id is not None:
        job = get_job(catalog, job_id)
        if job.state not in ACTIVE:
            raise JobError(f"job {job_id} is {job.state}, not running; cancel it instead")
    else:
        running = list_jobs(catalog, state=list(ACTIVE), backend=backend)
        running = [j for j in running if j.state == "running"] or running
        if not running:
            raise JobError("no job is running" + (f" on backend {backend}" if backend else ""))
        job = running[0]
    _control(catalog, job.backend or "", interrupt_job_id=job.id)
    return job


def _control(catalog: Catalog, backend: str, **values: Any) -> None:
    with catalog.session() as s:
        row = s.get(QueueControl, backend) or QueueControl(backend=backend)
        for k, v in values.items():
            setattr(row, k, v)
        row.updated_at = datetime.now(UTC)
        s.add(row)
        s.commit()


def read_control(catalog: Catalog, backend: str) -> tuple[bool, int | None]:
    """(paused, interrupt_job_id) for a backend, in one cheap query."""
    with catalog.engine.connect() as conn:
        row = conn.execute(text("SELECT paused, interrupt_job_id FROM queue_control WHERE backend=:b"),
                           {"b": backend}).first()
    return (bool(row[0]), row[1]) if row else (False, None)


def clear_interrupt(catalog: Catalog, backend: str, job_id: int) -> None:
    with catalog.engine.begin() as conn:
        conn.execute(text("UPDATE queue_control SET interrupt_job_id=NULL WHERE backend=:b AND interrupt_job_id=:j"),
                     {"b": backend, "j": job_id})


def set_paused(catalog: Catalog, backend: str, paused: bool) -> None:
    """Pause: the running job finishes, nothing new starts on that backend."""
    _control(catalog, backend, paused=paused)


def retry(catalog: Catalog, ids: Iterable[int] | None = None, sweep: str | None = None,
          failed: bool = False) -> list[int]:
    """Queue failed, cancelled or interrupted jobs again (at the end of the queue)."""
    targets = _job_ids(catalog, ids, sweep)
    if failed:
        with catalog.engine.connect() as conn:
            targets += [r[0] for r in conn.execute(text("SELECT id FROM job WHERE state='failed' ORDER BY position"))]
    done: list[int] = []
    with catalog.session() as s:
        top = s.exec(text("SELECT COALESCE(MAX(position), 0) FROM job")).first()  # type: ignore[call-overload]
        position = float(top[0] if top else 0)
        for i in dict.fromkeys(targets):
            job = s.get(Job, i)
            if job is not None and job.state in RETRYABLE:
                position += 1
                _rearm(job, position)
                s.add(job)
                done.append(i)
        s.commit()
    return done


def move_to_front(catalog: Catalog, job_id: int) -> Job:
    """Give a queued job the smallest position so it runs next."""
    job = get_job(catalog, job_id)
    if job.state != "queued":
        raise JobError(f"job {job_id} is {job.state}; only queued jobs can move to the front")
    with catalog.engine.begin() as conn:
        low = conn.execute(text("SELECT COALESCE(MIN(position), 0) FROM job WHERE state='queued'")).first()[0]
        conn.execute(text("UPDATE job SET position=:p, updated_at=:now WHERE id=:i"),
                     {"p": float(low) - 1, "i": job_id, "now": now_text()})
    return get_job(catalog, job_id)


# -- progress ----------------------------------------------------------------------
@dataclass
class SweepProgress:
    name: str
    total: int
    counts: dict[str, int]
    eta_s: float | None
    """Seconds until the remaining jobs are done, from the durations of done ones."""
    mean_s: float | None

    @property
    def finished(self) -> int:
        return sum(self.counts.get(s, 0) for s in TERMINAL)

    @property
    def is_finished(self) -> bool:
        return self.finished == self.total


def sweep_progress(catalog: Catalog, name: str) -> SweepProgress:
    sweep = find_sweep(catalog, name)
    with catalog.engine.connect() as conn:
        rows = conn.execute(text("SELECT state, started_at, finished_at, step, total FROM job WHERE sweep_id=:s"),
                            {"s": sweep.id}).all()
    counts: dict[str, int] = {}
    durations: list[float] = []
    running_left = 0.0
    for state, started, finished, step, total in rows:
        counts[state] = counts.get(state, 0) + 1
        if state == "done" and started and finished:
            durations.append((_dt(finished) - _dt(started)).total_seconds())
    mean = statistics.fmean(durations) if durations else None
    eta = None
    if mean is not None:
        left = counts.get("queued", 0) + counts.get("submitted", 0)
        for state, _s, _f, step, total in rows:
            if state == "running":
                running_left += mean * (1 - (step / total if total else 0))
        eta = left * mean + running_left
    return SweepProgress(name=name, total=len(rows), counts=counts, eta_s=eta, mean_s=mean)


def _dt(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
