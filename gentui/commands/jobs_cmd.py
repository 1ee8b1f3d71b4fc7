"""`gentui jobs`: list and control the queue.

    gentui jobs [list] [--sweep S] [--state S] [--backend B] [--limit N]
    gentui jobs cancel ID... | --sweep S
    gentui jobs interrupt [ID] [--backend B]
    gentui jobs pause [--backend B] / resume [--backend B]
    gentui jobs retry ID... | --sweep S | --failed
    gentui jobs front ID
    gentui jobs progress --sweep S
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from gentui.config import Settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    ls = sub.add_parser("list", help="list jobs (the default)")
    for q in (p, ls):
        q.add_argument("--sweep", help="only this sweep's jobs")
        q.add_argument("--state", action="append", help="only jobs in this state (repeatable)")
        q.add_argument("--backend", help="only jobs on this backend")
        q.add_argument("--limit", type=int, default=0, help="at most N jobs")
    c = sub.add_parser("cancel", help="cancel jobs (removed from the server when pending there)")
    c.add_argument("ids", nargs="*", type=int)
    c.add_argument("--sweep", help="cancel every unfinished job of this sweep")
    i = sub.add_parser("interrupt", help="interrupt the running job")
    i.add_argument("id", nargs="?", type=int)
    i.add_argument("--backend")
    for name, help_text in (("pause", "finish the running job, start nothing new"), ("resume", "start jobs again")):
        x = sub.add_parser(name, help=help_text)
        x.add_argument("--backend", action="append", help="backend (default: every configured one)")
    r = sub.add_parser("retry", help="queue failed, cancelled or interrupted jobs again")
    r.add_argument("ids", nargs="*", type=int)
    r.add_argument("--sweep")
    r.add_argument("--failed", action="store_true", help="every failed job")
    f = sub.add_parser("front", help="move a queued job to the front of the queue")
    f.add_argument("id", type=int)
    g = sub.add_parser("progress", help="a sweep's progress and ETA")
    g.add_argument("--sweep", required=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.catalog.db import CatalogError, open_catalog
    from gentui.queue.jobs import JobError

    try:
        catalog = open_catalog(settings.catalog_path)
    except CatalogError as e:
        print(f"gentui jobs: {e}", file=sys.stderr)
        return 2
    try:
        return _dispatch(args, settings, catalog)
    except JobError as e:
        print(f"gentui jobs: {e}", file=sys.stderr)
        return 2
    finally:
        catalog.close()


def _dispatch(args: argparse.Namespace, settings: Settings, catalog: Any) -> int:
    from gentui.queue import jobs as J

    action = args.action or "list"
    if action == "list":
        return _list(catalog, args)
    if action == "cancel":
        if not args.ids and not args.sweep:
            print("gentui jobs cancel: give job ids or --sweep NAME", file=sys.stderr)
            return 2
        cancelled = J.cancel(catalog, args.ids, args.sweep)
        print(f"cancelled {len(cancelled)} job(s)")
        on_server = [j for j in cancelled if j.backend_prompt_id]
        if on_server:
            _cancel_without_worker(settings, catalog, on_server)
        return 0
    if action == "interrupt":
        job = J.interrupt(catalog, args.id, args.backend)
        print(f"interrupt requested for job {job.id} {job.label} on {job.backend}")
        _interrupt_without_worker(settings, catalog, job)
        return 0
    if action in ("pause", "resume"):
        names = args.backend or list(settings.backends)
        for n in names:
            J.set_paused(catalog, n, action == "pause")
        print(f"{'paused' if action == 'pause' else 'resumed'}: {', '.join(names)}")
        return 0
    if action == "retry":
        if not args.ids and not args.sweep and not args.failed:
            print("gentui jobs retry: give job ids, --sweep NAME or --failed", file=sys.stderr)
            return 2
        ids = J.retry(catalog, args.ids, args.sweep, args.failed)
        print(f"queued {len(ids)} job(s) again")
        return 0
    if action == "front":
        job = J.move_to_front(catalog, args.id)
        print(f"job {job.id} {job.label} is next")
        return 0
    if action == "progress":
        p = J.sweep_progress(catalog, args.sweep)
        eta = "-" if p.eta_s is None else f"{p.eta_s:.0f} s"
        counts = ", ".join(f"{n} {s}" for s, n in sorted(p.counts.items()))
        print(f"sweep {p.name}: {p.finished}/{p.total} finished ({counts}); ETA {eta}")
        return 0
    print(f"gentui jobs: unknown action {action!r}", file=sys.stderr)
    return 2


def _list(catalog: Any, args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from sqlmodel import select

    from gentui.catalog.models import Sweep
    from gentui.queue import jobs as J

    jobs = J.list_jobs(catalog, sweep=args.sweep, state=args.state, backend=args.backend, limit=args.limit or None)
    with catalog.session() as s:
        sweeps = {sw.id: sw.name for sw in s.exec(select(Sweep))}
    paused = {b for b in {j.backend for j in jobs if j.backend} if J.read_control(catalog, b)[0]}
    if not jobs:
        print("no jobs" + (" match" if args.sweep or args.state or args.backend else " yet; queue some with "
                           "`gentui sweep FILE.toml`"))
        return 0
    table = Table(title=f"{len(jobs)} job(s)" + (f"; paused: {', '.join(sorted(paused))}" if paused else ""))
    for col in ("id", "sweep", "label", "state", "progress", "backend", "try", "error"):
        table.add_column(col, overflow="fold", no_wrap=col in ("id", "label", "state"))
    for j in jobs:
        prog = f"{j.step}/{j.total}" if j.total else ""
        table.add_row(str(j.id), sweeps.get(j.sweep_id, ""), j.label, j.state, prog, j.backend or "any",
                      str(j.attempts), (j.error or "")[:120])
    Console().print(table)
    return 0


def _live_holder(catalog: Any, backend: str | None) -> bool:
    from gentui.queue.lease import is_live, read_lease

    info = read_lease(catalog, backend) if backend else None
    return info is not None and is_live(info)


def _cancel_without_worker(settings: Settings, catalog: Any, jobs: list[Any]) -> None:
    """No worker is watching: remove pending prompts from the server (and stop a running one) here."""
    from gentui.backends.base import BackendError
    from gentui.backends.registry import make_backend

    todo = [j for j in jobs if j.backend in settings.backends and not _live_holder(catalog, j.backend)]
    if not todo:
        return

    async def go() -> None:
        for name in {j.backend for j in todo}:
            backend = make_backend(name, settings)
            try:
                for j in todo:
                    if j.backend == name:
                        await backend.cancel_pending(j.backend_prompt_id)
                        await backend.interrupt(j.backend_prompt_id)
            except BackendError as e:
                print(f"warning: could not reach backend {name} to remove the jobs there: {e}", file=sys.stderr)
            finally:
                await backend.close()

    asyncio.run(go())


def _interrupt_without_worker(settings: Settings, catalog: Any, job: Any) -> None:
    if job.backend_prompt_id and job.backend in settings.backends and not _live_holder(catalog, job.backend):
        _cancel_without_worker(settings, catalog, [job])
