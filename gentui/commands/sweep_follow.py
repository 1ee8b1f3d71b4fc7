"""`gentui sweep` following its sweep: run it here, or watch the worker that does.

If no worker holds a backend the sweep needs, this process takes the lease and
runs the lane itself until the sweep is finished; otherwise it reads progress
from the catalog. Either way the display is the same rich progress bar.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from gentui.catalog.db import Catalog
from gentui.config import Settings
from gentui.queue.lease import Lease, LeaseHeld, acquire
from gentui.queue.store import JobError, JobStore, SweepProgress

REFRESH_S = 0.25


def _eta_text(p: SweepProgress) -> str:
    if p.eta_s is None:
        return "ETA -"
    s = int(p.eta_s + 0.5)
    return f"ETA {s // 60}m{s % 60:02d}s" if s >= 60 else f"ETA {s}s"


@dataclass(frozen=True)
class Followed:
    """What is followed: a whole sweep, or some of its jobs (`ids`)."""

    name: str
    ids: tuple[int, ...] = ()

    def progress(self, store: JobStore) -> SweepProgress:
        return store.jobs_progress(self.ids, self.name) if self.ids else store.sweep_progress(self.name)

    def jobs(self, store: JobStore, states: list[str]) -> list[Any]:
        jobs = store.list(sweep=self.name, states=states)
        return [j for j in jobs if j.id in self.ids] if self.ids else jobs


def _running_text(store: JobStore, what: Followed) -> str:
    try:
        jobs = what.jobs(store, ["running", "submitted"])
    except JobError:
        return ""
    for j in jobs:
        if j.state == "running":
            return f"{j.label} {j.step}/{j.total}" if j.total else j.label
    return f"{jobs[0].label} (on the server's queue)" if jobs else ""


def _summary(console: Console, p: SweepProgress, store: JobStore, what: Followed) -> int:
    parts = [f"{n} {s}" for s, n in sorted(p.counts.items())]
    name = what.name
    console.print(f"{'sweep ' + name if not what.ids else 'job ' + ', '.join(map(str, what.ids))}: " + ", ".join(parts))
    bad = what.jobs(store, ["failed", "interrupted"])
    for j in bad[:10]:
        console.print(f"  job {j.id} {j.label}: {j.state}: {j.error}")
    if bad:
        console.print(f"  retry with: gentui jobs retry --sweep {name}")
    return 0 if p.counts.get("done", 0) == p.total else 1


def _take_leases(catalog: Catalog, settings: Settings, backends: list[str | None]) -> tuple[list[Lease], list[str]]:
    names: list[str] = []
    for b in backends:
        if b is None:
            names += [n for n, s in settings.backends.items() if s.enabled and n not in names]
        elif b not in names:
            names.append(b)
    got: list[Lease] = []
    held: list[str] = []
    for n in names:
        try:
            got.append(acquire(catalog, n, settings.worker.lease_stale_s))
        except LeaseHeld as e:
            held.append(str(e))
    return got, held


def follow_sweep(settings: Settings, catalog: Catalog, name: str, backends: list[str | None],
                 console: Console | None = None, only: tuple[int, ...] = ()) -> int:
    """Show the sweep's progress (or that of its jobs `only`) until they are finished; returns the exit status."""
    console = console or Console(stderr=False)
    what = Followed(name, tuple(only))
    leases, held = _take_leases(catalog, settings, backends)
    for h in held:
        console.print(f"following: {h}")
    try:
        return asyncio.run(_follow(settings, catalog, what, leases, console, backends))
    except KeyboardInterrupt:
        console.print(f"stopped following; unfinished jobs stay queued (run `gentui worker`, or "
                      f"`gentui sweep` again, or `gentui jobs list --sweep {name}`)")
        return 130


async def _follow(settings: Settings, catalog: Catalog, what: Followed, leases: list[Lease], console: Console,
                  backends: list[str | None]) -> int:
    from gentui.queue.worker import Worker

    store = JobStore(catalog)
    name = what.name

    def finished() -> bool:
        return what.progress(store).is_finished

    worker = None
    task = None
    if leases:
        worker = Worker(settings, catalog, [lease.backend for lease in leases], stop_when=finished,
                        log=lambda m: console.print(m, highlight=False))
        task = asyncio.create_task(worker.run(leases))
        worker.stop_on_signals()
    with Progress(TextColumn("[bold]{task.fields[sweep]}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[eta]}"), TimeElapsedColumn(), TextColumn("{task.fields[now]}"),
                  console=console, transient=False) as bar:
        prog = what.progress(store)
        tid = bar.add_task("sweep", total=prog.total, sweep=name, eta="", now="")
        while True:
            prog = await asyncio.to_thread(what.progress, store)
            now = await asyncio.to_thread(_running_text, store, what)
            bar.update(tid, completed=prog.finished, total=prog.total, eta=_eta_text(prog), now=now)
            if prog.is_finished:
                break
            if task is not None and task.done():
                break
            if worker is None:
                # the other worker may die: take its lane over when its lease goes stale
                leases, _ = await asyncio.to_thread(_take_leases, catalog, settings, backends)
                if leases:
                    console.print("the worker that held the backend is gone; running the sweep here")
                    bar.stop()
                    store.close()
                    return await _follow(settings, catalog, what, leases, console, backends)
            await asyncio.sleep(REFRESH_S)
    if task is not None:
        if worker is not None and worker.abandon:
            await asyncio.gather(task, return_exceptions=True)
            console.print("stopped; unfinished jobs stay queued (run `gentui worker` or `gentui sweep` again)")
            return 130
        worker.stop()  # type: ignore[union-attr]
        (err,) = await asyncio.gather(task, return_exceptions=True)
        if isinstance(err, BaseException):
            console.print(f"the worker stopped: {err}")
    try:
        return _summary(console, what.progress(store), store, what)
    finally:
        store.close()

