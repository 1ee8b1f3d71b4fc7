"""`gentui worker [--backend NAME ...]`: run queued jobs, one at a time per backend.

Takes each backend's lease (a backend another worker holds is reported with
its holder and left to it; exit 1 when every one is held), reconciles what a previous worker left on the backend, then runs jobs
until stopped with Ctrl-C or SIGTERM (or, with --until-idle, until the queue
is empty). Jobs left running on the server are picked up by the next worker.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime

from gentui.config import Settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", action="append", metavar="NAME",
                   help="backend to run (repeatable; default: every enabled backend in the config)")
    p.add_argument("--until-idle", action="store_true", help="exit once no job is queued or running")
    p.add_argument("--prequeue", type=int, default=None, metavar="N",
                   help="jobs kept waiting on the backend while one runs (default: [worker] prequeue, 1; 0 disables)")


def _log(msg: str) -> None:
    print(f"{datetime.now().strftime('%H:%M:%S')} {msg}", flush=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.catalog.db import CatalogError, open_catalog
    from gentui.queue.lease import LeaseHeld, acquire
    from gentui.queue.worker import Worker

    names = args.backend or [n for n, b in settings.backends.items() if b.enabled]
    unknown = [n for n in names if n not in settings.backends]
    if unknown:
        print(f"gentui worker: no backend named {', '.join(unknown)}; configured: "
              f"{', '.join(sorted(settings.backends))}", file=sys.stderr)
        return 2
    if not names:
        print("gentui worker: no enabled backend in the config", file=sys.stderr)
        return 2
    if args.prequeue is not None and args.prequeue < 0:
        print("gentui worker: --prequeue must be 0 or more", file=sys.stderr)
        return 2
    try:
        catalog = open_catalog(settings.catalog_path)
    except CatalogError as e:
        print(f"gentui worker: {e}", file=sys.stderr)
        return 2
    worker = Worker(settings, catalog, names, prequeue=args.prequeue, exit_when_idle=args.until_idle, log=_log)

    async def main() -> int:
        worker.stop_on_signals()
        await worker.warm_up()
        leases = []
        for name in names:  # run the lanes that are free; another worker keeps the others
            try:
                leases.append(acquire(catalog, name, settings.worker.lease_stale_s))
            except LeaseHeld as e:
                print(f"gentui worker: {e}", file=sys.stderr)
        if not leases:
            await worker.close_backends()
            return 1
        worker.backend_names = [lease.backend for lease in leases]
        _log(f"worker {leases[0].holder} running backend(s) {', '.join(worker.backend_names)}; "
             f"catalog {settings.catalog_path}")
        await worker.run(leases)
        return 0

    try:
        status = asyncio.run(main())
    finally:
        catalog.close()
    if status:
        return status
    _log("worker stopped" + ("; jobs still on the backend are picked up by the next worker" if worker.abandon else ""))
    return 0
