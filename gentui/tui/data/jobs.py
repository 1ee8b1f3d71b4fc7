"""A snapshot of the queue for the queue panel, read from the catalog's job table.

The queue runs in `gentui worker` (possibly another process, possibly started
by another TUI); the TUI only reads the rows the worker writes, twice a
second, in a thread. The snapshot is a frozen value so the poller can tell
whether anything changed and post nothing when it did not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func
from sqlmodel import select

from gentui.catalog.db import Catalog
from gentui.catalog.models import Job, Lease, QueueControl, Result, Sweep

ACTIVE = ("queued", "submitted", "running")
FINISHED = ("done", "failed", "cancelled", "interrupted")


@dataclass(frozen=True)
class JobLine:
    id: int
    label: str
    state: str
    step: int
    total: int
    sweep_id: int | None
    error: str
    elapsed_s: float | None
    backend: str


@dataclass(frozen=True)
class SweepProgress:
    id: int
    name: str
    done: int
    failed: int
    total: int
    eta_s: float | None


@dataclass(frozen=True)
class QueueSnapshot:
    jobs: tuple[JobLine, ...] = ()
    sweeps: tuple[SweepProgress, ...] = ()
    active: int = 0
    paused: tuple[str, ...] = ()
    """Backends whose lane is paused."""
    workers: tuple[str, ...] = ()
    """`backend: holder` of every live lease."""
    max_result_id: int = 0
    result_count: int = 0


def _aware(dt: datetime | None) -> datetime | None:
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    a, b = _aware(a), _aware(b)
    return (b - a).total_seconds() if a and b else None


def live_workers(catalog: Catalog, now: datetime | None = None) -> list[str]:
    """`backend: holder` for each lease with a fresh heartbeat and a live holder."""
    from gentui.queue.lease import is_live, read_lease

    with catalog.session() as s:
        backends = list(s.exec(select(Lease.backend)))
    out = []
    for backend in backends:
        info = read_lease(catalog, backend)
        if info is not None and is_live(info):
            out.append(f"{backend}: {info.holder}")
    return out


def poll_queue(catalog: Catalog, last: QueueSnapshot | None = None, recent: int = 6,
               limit: int = 300) -> QueueSnapshot:
    """Read the queue (blocking). The result count is recounted only when results were added."""
    now = datetime.now(timezone.utc)
    with catalog.session() as s:
        active = list(s.exec(select(Job).where(Job.state.in_(ACTIVE))  # type: ignore[attr-defined]
                             .order_by(Job.position, Job.id).limit(limit)))
        n_active = s.exec(select(func.count()).select_from(Job)
                          .where(Job.state.in_(ACTIVE))).one()  # type: ignore[attr-defined]
        done = list(s.exec(select(Job).where(Job.state.in_(FINISHED))  # type: ignore[attr-defined]
                           .order_by(Job.updated_at.desc()).limit(recent)))  # type: ignore[attr-defined]
        sweep_ids = {j.sweep_id for j in active if j.sweep_id is not None}
        sweeps = []
        names = {sid: s.get(Sweep, sid) for sid in sorted(sweep_ids)}
        paused = tuple(sorted(c.backend for c in s.exec(select(QueueControl)) if c.paused))
        max_id = s.exec(select(func.max(Result.id))).one() or 0
        if last is not None and last.max_result_id == max_id:
            n_results = last.result_count
        else:
            n_results = s.exec(select(func.count()).select_from(Result)).one()
    from gentui.queue.jobs import sweep_progress

    for sid, sweep in names.items():
        if sweep is None:
            continue
        p = sweep_progress(catalog, sweep.name)
        sweeps.append(SweepProgress(sid, sweep.name, p.counts.get("done", 0), p.counts.get("failed", 0),
                                    p.total, p.eta_s))
    running = sorted((j for j in active if j.state != "queued"), key=lambda j: j.id or 0)
    queued = [j for j in active if j.state == "queued"]
    lines = []
    for j in running + queued + done:
        end = j.finished_at if j.state in FINISHED else now
        lines.append(JobLine(int(j.id or 0), j.label or f"job {j.id}", j.state, j.step, j.total,
                             j.sweep_id, j.error or "", _seconds(j.started_at, end), j.backend or ""))
    return QueueSnapshot(tuple(lines), tuple(sweeps), int(n_active), paused,
                         tuple(live_workers(catalog, now)), int(max_id), int(n_results))
