"""A snapshot of the queue for the queue panel, read from the catalog's job table.

The queue runs in `gentui worker` (possibly another process, possibly started
by another TUI); the TUI only reads the rows the worker writes, twice a
second, in a thread. The snapshot is a frozen value so the poller can tell
whether anything changed and post nothing when it did not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from gentui.catalog.db import Catalog
from gentui.queue.store import PENDING, TERMINAL, JobStore

ACTIVE = tuple(PENDING)
FINISHED = tuple(TERMINAL)


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
    from gentui.queue.lease import is_live, list_leases

    return [f"{info.backend}: {info.holder}" for info in list_leases(catalog) if is_live(info)]


def poll_queue(catalog: Catalog, last: QueueSnapshot | None = None, recent: int = 6,
               limit: int = 300) -> QueueSnapshot:
    """Read the queue (blocking). The result count is recounted only when results were added."""
    now = datetime.now(timezone.utc)
    store = JobStore(catalog)
    try:
        active, n_active = store.active(limit)
        done = store.recent_finished(recent)
        names = store.sweep_names(j.sweep_id for j in active)
        paused = tuple(store.paused_backends())
        sweeps = []
        for sid, name in sorted(names.items()):
            p = store.sweep_progress(name)
            sweeps.append(SweepProgress(sid, name, p.counts.get("done", 0), p.counts.get("failed", 0), p.total, p.eta_s))
    finally:
        store.close()
    max_id, n_results = _result_counts(catalog, last)
    lines = []
    for j in active + done:
        end = j.finished_at if j.state in FINISHED else now
        lines.append(JobLine(j.id, j.label or f"job {j.id}", j.state.value, j.step, j.total, j.sweep_id,
                             j.error or "", _seconds(j.started_at, end), j.backend or ""))
    return QueueSnapshot(tuple(lines), tuple(sweeps), int(n_active), paused,
                         tuple(live_workers(catalog, now)), int(max_id), int(n_results))


def _result_counts(catalog: Catalog, last: QueueSnapshot | None) -> tuple[int, int]:
    """(largest result id, number of results); counted again only when a result was added."""
    conn = catalog.connect()
    try:
        max_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM result").fetchone()[0]
        if last is not None and last.max_result_id == max_id:
            return max_id, last.result_count
        return max_id, conn.execute("SELECT COUNT(*) FROM result").fetchone()[0]
    finally:
        conn.close()
