"""After a crash: reconcile the jobs a dead worker left on a backend.

Jobs in `submitted`/`running` carry the prompt id they were (or were about to
be) sent with. The backend knows each one as finished, pending, running or
unknown: finished ones are collected and recorded, live ones followed again,
unknown ones (never sent, or lost with a restarted server) queued again. So
no job is lost and none runs twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text

from gentui.catalog.db import Catalog
from gentui.queue.jobs import now_text

SERVER_LOST = "server lost mid-job"
"""Prefix of the error of a job whose backend went away while it ran (retried once)."""
MAX_ATTEMPTS = 2


@dataclass
class Orphan:
    job_id: int
    prompt_id: str
    state: str


@dataclass
class Reconciled:
    follow: list[Orphan] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)


def orphans(catalog: Catalog, backend: str) -> list[Orphan]:
    """Jobs this backend's lane left in flight, in queue order."""
    with catalog.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, backend_prompt_id, state FROM job WHERE backend=:b "
                 "AND state IN ('submitted','running') ORDER BY position, id"), {"b": backend}).all()
    return [Orphan(r[0], r[1] or "", r[2]) for r in rows]


def requeue(catalog: Catalog, job_id: int, from_states: tuple[str, ...] = ("submitted", "running"),
            note: str | None = None) -> bool:
    """Put an in-flight job back in the queue (its position is kept)."""
    marks = ", ".join(f"'{s}'" for s in from_states)
    with catalog.engine.begin() as conn:
        n = conn.execute(
            text(f"UPDATE job SET state='queued', backend_prompt_id=NULL, step=0, total=0, "
                 f"submitted_at=NULL, started_at=NULL, error=:e, updated_at=:now, "
                 f"backend=json_extract(params, '$.backend') "
                 f"WHERE id=:i AND state IN ({marks})"), {"i": job_id, "e": note, "now": now_text()}).rowcount
    return n == 1


async def reconcile(catalog: Catalog, backend_name: str, backend, skip: set[int] | None = None) -> Reconciled:
    """Ask the backend about every orphan (but those in `skip`, followed already).

    BackendUnavailable propagates: try again once the backend answers.
    """
    out = Reconciled()
    for orphan in orphans(catalog, backend_name):
        if skip and orphan.job_id in skip:
            continue
        status = await backend.lookup(orphan.prompt_id) if orphan.prompt_id else "unknown"
        if status in ("finished", "pending", "running"):
            out.follow.append(orphan)
        elif requeue(catalog, orphan.job_id):
            out.requeued.append(orphan.job_id)
    return out


def rearm_server_lost(catalog: Catalog, backend: str) -> list[int]:
    """Queue again (once) the jobs that failed because the server went away mid-job."""
    with catalog.engine.begin() as conn:
        ids = [r[0] for r in conn.execute(
            text("SELECT id FROM job WHERE backend=:b AND state='failed' AND attempts < :m "
                 "AND error LIKE :p ORDER BY position"),
            {"b": backend, "m": MAX_ATTEMPTS, "p": SERVER_LOST + "%"})]
    return [i for i in ids if requeue(catalog, i, ("failed",), None)]
