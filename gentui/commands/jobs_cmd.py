"""`gentui jobs`: list and control the queue (through the same service the TUI uses).

    gentui jobs [list] [--sweep S] [--state S] [--backend B] [--limit N]
    gentui jobs cancel ID... | --sweep S
    gentui jobs interrupt [ID] [--backend B]
    gentui jobs pause [--backend B] / resume [--backend B]
    gentui jobs retry ID... | --sweep S | --failed
    gentui jobs front ID / up ID / down ID
    gentui jobs progress --sweep S
    gentui jobs show ID               # one job: its parameters, LoRAs and every attempt with its outcome
"""

from __future__ import annotations

import argparse
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
    c = sub.add_parser("cancel", help="cancel jobs (taken off the server when they are there)")
    c.add_argument("ids", nargs="*", type=int)
    c.add_argument("--sweep", help="cancel every unfinished job of this sweep")
    i = sub.add_parser("interrupt", help="interrupt the running job (it can be retried)")
    i.add_argument("id", nargs="?", type=int)
    i.add_argument("--backend")
    for name, help_text in (("pause", "finish the running job, start nothing new"), ("resume", "start jobs again")):
        x = sub.add_parser(name, help=help_text)
        x.add_argument("--backend", action="append", help="backend (default: every enabled one)")
    r = sub.add_parser("retry", help="queue failed, cancelled or interrupted jobs again")
    r.add_argument("ids", nargs="*", type=int)
    r.add_argument("--sweep")
    r.add_argument("--failed", action="store_true", help="every failed job")
    for name, help_text in (("front", "run a queued job next"), ("up", "move a queued job one place up"),
                            ("down", "move a queued job one place down")):
        f = sub.add_parser(name, help=help_text)
        f.add_argument("id", type=int)
    g = sub.add_parser("progress", help="a sweep's progress and ETA")
    g.add_argument("--sweep", required=True)
    s = sub.add_parser("show", help="one job: its parameters and every attempt with its outcome")
    s.add_argument("id", type=int)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.catalog.db import CatalogError, open_catalog
    from gentui.queue.store import JobError

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
    from gentui.queue.control import Action, QueueService

    action = args.action or "list"
    service = QueueService(settings, catalog)
    try:
        if action == "list":
            return _list(service.store, args)
        if action == "show":
            return _show(service.store, args.id)
        if action == "progress":
            p = service.store.sweep_progress(args.sweep)
            eta = "-" if p.eta_s is None else f"{p.eta_s:.0f} s"
            counts = ", ".join(f"{n} {s}" for s, n in sorted(p.counts.items()))
            print(f"sweep {p.name}: {p.finished}/{p.total} finished ({counts}); ETA {eta}")
            return 0
        if action == "cancel":
            if not args.ids and not args.sweep:
                print("gentui jobs cancel: give job ids or --sweep NAME", file=sys.stderr)
                return 2
            res = service.cancel(args.ids, args.sweep)
        elif action == "interrupt":
            res = service.interrupt(args.id, args.backend)
        elif action in ("pause", "resume"):
            res = service.pause(args.backend) if action == "pause" else service.resume(args.backend)
        elif action == "retry":
            if not args.ids and not args.sweep and not args.failed:
                print("gentui jobs retry: give job ids, --sweep NAME or --failed", file=sys.stderr)
                return 2
            res = service.retry(args.ids, args.sweep, args.failed)
        else:
            res = service.move(args.id, Action(action))
    finally:
        service.store.close()
    print(res.message())
    return 0 if res.changed or res.backends or not res.skipped else 1


def _list(store: Any, args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    jobs = store.list(sweep=args.sweep, states=args.state, backend=args.backend, limit=args.limit or None)
    sweeps = store.sweep_names({j.sweep_id for j in jobs})
    paused = set(store.paused_backends())
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


def _show(store: Any, job_id: int) -> int:
    from gentui.params import format_weight

    job = store.get(job_id)
    p = job.params
    sweep = store.sweep_names([job.sweep_id]).get(job.sweep_id, "") if job.sweep_id else ""
    print(f"job {job.id} {job.label}: {job.state}" + (f" ({job.step}/{job.total})" if job.total else "")
          + (f"; sweep {sweep}" if sweep else "") + f"; backend {job.backend or 'any'}")
    if job.error:
        print(f"  error: {job.error}")
    print(f"  {p.workflow} {p.main_model or '?'} {p.width}x{p.height} {p.steps} steps cfg {p.cfg} "
          f"{p.sampler or '-'}/{p.scheduler or '-'} seed {p.seed}")
    for lo in p.loras:
        who = f" for {lo.character}" if lo.character else ""
        print(f"  LoRA {lo.name} @ {format_weight(lo.strength_model)} ({lo.role}{who})")
    for a in store.attempts(job_id):
        end = a["outcome"] or "open"
        print(f"  attempt {a['attempt']} on {a['backend']} ({a['prompt_id']}): {end}"
              + (f": {a['error']}" if a["error"] else ""))
    return 0
