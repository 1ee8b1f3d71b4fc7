"""The mflux backend: FLUX.2 Klein 4B/9B through the `mflux-generate-flux2` command line.

One mflux process at a time per backend (a lane): jobs submitted while one runs
wait in order. Each run gets its own folder under `runs_dir/<prompt id>/` and the
process writes its stdout/stderr to files there, not to pipes, and runs in its
own session: if gentui exits, the run goes on and the next gentui finds it
through `active.json` (`lookup` says `running`, `follow` picks it up), just as a
ComfyUI server keeps its queue. `active.json` also guarantees that a new run
never starts while an earlier process still holds the GPU.

Cancel is SIGINT (mflux stops at the next step, prints "Stopping image
generation at step k/N" and exits 0 with no image), then SIGTERM and SIGKILL
after grace periods. Success is judged by the image file, never the exit status.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import platform
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from gentui.backends.base import (
    BackendError,
    BackendUnavailable,
    EventCallback,
    Health,
    JobEvent,
    RunOutcome,
)
from gentui.backends.mflux_command import (
    KLEIN_MODELS,
    OUTPUT_NAME,
    MfluxJob,
    build_argv,
    command_prefix,
    job_from_params,
)
from gentui.backends.mflux_output import OutputFacts
from gentui.backends.mflux_runs import LogReader, alive, collect, public_argv, read_json, remove, touch, write_json
from gentui.config import BackendSettings
from gentui.params import JobParams

ACTIVE = "active.json"
INTERRUPT_MARK = "interrupt-requested"
POLL_S = 0.05
KEEP_RUNS_S = 24 * 3600.0
"""Finished run folders older than this are removed (the worker has copied the image by then)."""
PRUNE_EMPTY_S = 60.0
"""A finished folder with no image left (the worker took it) goes after this long."""


def this_platform() -> tuple[str, str]:
    return platform.system(), platform.machine()


def platform_problem(platform_id: tuple[str, str]) -> str:
    """Empty when mflux can run here, else the plain reason."""
    system, machine = platform_id
    if system == "Darwin" and machine == "arm64":
        return ""
    return f"mflux needs Apple Silicon (macOS arm64); this is {system.lower()} {machine}"


@dataclass
class _Run:
    prompt_id: str
    job: MfluxJob
    run_dir: Path
    state: str = "pending"  # pending, running, finished
    events: list[JobEvent] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    outcome: RunOutcome | None = None
    proc: asyncio.subprocess.Process | None = None
    interrupt_requested: bool = False
    argv: list[str] = field(default_factory=list)

    def emit(self, event: JobEvent) -> None:
        self.events.append(event)
        self.changed.set()


class MfluxBackend:
    """A `Backend` that runs mflux locally, one process at a time."""

    def __init__(
        self,
        name: str,
        settings: BackendSettings,
        runs_dir: Path,
        *,
        platform_id: tuple[str, str] | None = None,
        grace_s: float = 15.0,
        term_s: float = 5.0,
    ) -> None:
        self.name = name
        self.settings = settings
        self.runs_dir = Path(runs_dir)
        self.platform_id = platform_id or this_platform()
        self.grace_s = grace_s
        self.term_s = term_s
        self._runs: dict[str, _Run] = {}
        self._pending: list[str] = []
        self._runner: asyncio.Task | None = None
        self._escalations: set[asyncio.Task] = set()

    # -- readiness -----------------------------------------------------------
    def executable(self) -> str | None:
        """Full path of the configured command, or None when it is not on PATH."""
        try:
            first = command_prefix(self.settings)[0]
        except Exception:
            return None
        return shutil.which(first)

    async def health(self) -> Health:
        why = platform_problem(self.platform_id)
        exe = self.executable()
        features = {"platform": f"{self.platform_id[0]} {self.platform_id[1]}", "command": exe or "",
                    "model": self.settings.model, "models": list(KLEIN_MODELS)}  # fmt: skip
        if why:
            return Health(ok=False, detail=why, features=features)
        if exe is None:
            return Health(ok=False, detail=self.command_missing_message(), features=features)
        if self.settings.model not in KLEIN_MODELS:
            return Health(ok=False, detail=f"model {self.settings.model!r} is not one of {', '.join(KLEIN_MODELS)}",
                          features=features)  # fmt: skip
        return Health(ok=True, version="", detail=f"mflux at {exe}", features=features)

    def command_missing_message(self) -> str:
        return (
            f"{self.settings.command.split()[0] if self.settings.command.split() else '(empty command)'} "
            f"not found on PATH; install mflux (`uv tool install mflux`) or set backends.{self.name}.command"
        )

    async def ensure_ready(self) -> Health:
        """mflux has no server to start: ready means it can run here. Otherwise jobs stay queued."""
        health = await self.health()
        if not health.ok:
            raise BackendUnavailable(f"{self.name}: {health.detail}")
        return health

    async def validate(self, params: JobParams) -> None:
        job_from_params(params.binding_values(), self.settings)

    # -- running ---------------------------------------------------------------
    async def submit(self, params: JobParams, *, front: bool = False, prompt_id: str | None = None) -> str:
        """Queue a run; `prompt_id` (a UUID the worker recorded first) names its folder."""
        job = job_from_params(params.binding_values(), self.settings)
        try:
            prompt_id = str(uuid.UUID(prompt_id)) if prompt_id else str(uuid.uuid4())
        except ValueError:
            raise BackendError(f"prompt id {prompt_id!r} is not a UUID") from None
        if prompt_id in self._runs:
            raise BackendError(f"job {prompt_id} was already submitted to {self.name}")
        run = _Run(prompt_id, job, self.runs_dir / prompt_id)
        self._runs[prompt_id] = run
        if front:
            self._pending.insert(0, prompt_id)
        else:
            self._pending.append(prompt_id)
        run.emit(JobEvent("queued", prompt_id))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain())
        return prompt_id

    async def _drain(self) -> None:
        while self._pending:
            run = self._runs[self._pending.pop(0)]
            try:
                await self._execute(run)
            except Exception as e:  # noqa: BLE001 -- a broken run must not stop the lane
                self._finish(run, RunOutcome("failed", run.prompt_id, error=f"mflux run failed: {e}"))

    async def _execute(self, run: _Run) -> None:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._prune_old_runs()
        await self._wait_for_foreign_process()
        if run.state != "pending":
            return  # cancelled while it waited
        run.state = "starting"
        run.run_dir.mkdir(parents=True, exist_ok=True)
        prompt_file = None
        if run.job.needs_prompt_file():
            prompt_file = run.run_dir / "prompt.txt"
            prompt_file.write_text(run.job.prompt, encoding="utf-8")
        output = run.run_dir / OUTPUT_NAME
        run.argv = build_argv(command_prefix(self.settings), run.job, output, prompt_file)
        exe = self.executable()
        if exe is None:
            raise FileNotFoundError(self.command_missing_message())
        started = time.monotonic()
        with open(run.run_dir / "stdout.log", "wb") as out, open(run.run_dir / "stderr.log", "wb") as err:
            run.proc = await asyncio.create_subprocess_exec(
                exe, *run.argv[1:], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                cwd=run.run_dir, start_new_session=True,
            )  # fmt: skip
        write_json(self.runs_dir / ACTIVE, {"pid": run.proc.pid, "prompt_id": run.prompt_id,
                                             "run_dir": str(run.run_dir), "argv": public_argv(run.argv, run.run_dir)})  # fmt: skip
        run.state = "running"
        run.emit(JobEvent("started", run.prompt_id))
        if run.interrupt_requested:  # asked while the process was being started
            self._interrupt_running(run)
        facts = OutputFacts()
        waiter = asyncio.create_task(run.proc.wait())
        await self._tail(run, facts, lambda: waiter.done())
        rc = await waiter
        remove(self.runs_dir / ACTIVE)
        outcome = collect(run.prompt_id, run.run_dir, facts, rc, run.interrupt_requested)
        outcome.elapsed_s = round(time.monotonic() - started, 3)
        outcome.submitted_graph = {"backend": "mflux", "argv": public_argv(run.argv, run.run_dir)}
        outcome.extra.setdefault("mflux", {}).update(
            {"model": run.job.model, "loras": [{"path": p, "scale": s} for p, s in run.job.loras],
             "ignored": run.job.ignored, "returncode": rc}
        )  # fmt: skip
        self._finish(run, outcome)

    async def _tail(self, run: _Run, facts: OutputFacts, finished) -> None:
        """Follow stdout.log and stderr.log until the process ends, emitting progress."""
        readers = {n: LogReader(run.run_dir / n) for n in ("stderr.log", "stdout.log")}
        while True:
            done = finished()
            for reader in readers.values():
                for line in reader.read_lines(final=done):
                    step = facts.feed(line)
                    if step is not None:
                        run.emit(JobEvent("progress", run.prompt_id, step=step[0], total=step[1]))
            if done:
                return
            await asyncio.sleep(POLL_S)

    def _finish(self, run: _Run, outcome: RunOutcome) -> None:
        run.state = "finished"
        run.outcome = outcome
        if outcome.status == "done":
            kind, error = "done", ""
        else:
            kind, error = outcome.status, outcome.error
        run.emit(JobEvent(kind, run.prompt_id, error=error))
        if outcome.status != "done":
            shutil.rmtree(run.run_dir, ignore_errors=True)
        else:
            remove(run.run_dir / "prompt.txt")

    async def follow(self, prompt_id: str, on_event: EventCallback) -> RunOutcome:
        run = self._runs.get(prompt_id)
        if run is None:
            return await self._follow_foreign(prompt_id, on_event)
        seen = 0
        while True:
            run.changed.clear()
            while seen < len(run.events):
                result = on_event(run.events[seen])
                seen += 1
                if inspect.isawaitable(result):
                    await result
            if run.outcome is not None and seen >= len(run.events):
                return run.outcome
            await run.changed.wait()

    async def _follow_foreign(self, prompt_id: str, on_event: EventCallback) -> RunOutcome:
        """A run started by an earlier gentui: wait for its process, then read its folder."""
        run_dir = self.runs_dir / prompt_id
        facts = OutputFacts()
        active = read_json(self.runs_dir / ACTIVE)
        if active.get("prompt_id") == prompt_id and alive(active.get("pid"), prompt_id):
            await _call(on_event, JobEvent("started", prompt_id))
            pid = active["pid"]
            readers = {n: LogReader(run_dir / n) for n in ("stderr.log", "stdout.log")}
            while True:
                done = not alive(pid, prompt_id)
                for reader in readers.values():
                    for line in reader.read_lines(final=done):
                        step = facts.feed(line)
                        if step is not None:
                            await _call(on_event, JobEvent("progress", prompt_id, step=step[0], total=step[1]))
                if done:
                    break
                await asyncio.sleep(POLL_S * 4)
            remove(self.runs_dir / ACTIVE)
        elif run_dir.is_dir():
            for name in ("stderr.log", "stdout.log"):
                for line in LogReader(run_dir / name).read_lines(final=True):
                    facts.feed(line)
        else:
            outcome = RunOutcome("failed", prompt_id, error=f"mflux has no record of job {prompt_id}")
            await _call(on_event, JobEvent("failed", prompt_id, error=outcome.error))
            return outcome
        outcome = collect(prompt_id, run_dir, facts, None, (run_dir / INTERRUPT_MARK).exists())
        if outcome.status != "done":
            shutil.rmtree(run_dir, ignore_errors=True)
        await _call(on_event, JobEvent(outcome.status, prompt_id, error=outcome.error))
        return outcome

    async def lookup(self, prompt_id: str) -> str:
        run = self._runs.get(prompt_id)
        if run is not None:
            return "running" if run.state == "starting" else run.state
        run_dir = self.runs_dir / prompt_id
        active = read_json(self.runs_dir / ACTIVE)
        if active.get("prompt_id") == prompt_id and alive(active.get("pid"), prompt_id):
            return "running"
        if run_dir.is_dir() and (run_dir / "stderr.log").exists():
            return "finished"
        return "unknown"

    async def interrupt(self, prompt_id: str) -> None:
        run = self._runs.get(prompt_id)
        if run is not None and run.state == "pending":
            await self.cancel_pending(prompt_id)
            return
        if run is not None and run.state == "starting":
            run.interrupt_requested = True
            return
        if run is not None and run.state == "running" and run.proc is not None:
            run.interrupt_requested = True
            self._interrupt_running(run)
            return
        # A run owned by another gentui process: signal it through active.json.
        active = read_json(self.runs_dir / ACTIVE)
        run_dir = self.runs_dir / prompt_id
        if active.get("prompt_id") == prompt_id and alive(active.get("pid"), prompt_id):
            touch(run_dir / INTERRUPT_MARK)
            self._signal(active["pid"], signal.SIGINT)
            await self._escalate(active["pid"], prompt_id)

    def _interrupt_running(self, run: _Run) -> None:
        assert run.proc is not None
        touch(run.run_dir / INTERRUPT_MARK)
        self._signal(run.proc.pid, signal.SIGINT)
        task = asyncio.create_task(self._escalate(run.proc.pid, run.prompt_id))
        self._escalations.add(task)
        task.add_done_callback(self._escalations.discard)

    async def _escalate(self, pid: int, marker: str) -> None:
        """SIGINT was sent; if mflux has not stopped after the grace period, SIGTERM, then SIGKILL."""
        for sig, wait in ((signal.SIGTERM, self.grace_s), (signal.SIGKILL, self.term_s)):
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not alive(pid, marker):
                    return
                await asyncio.sleep(POLL_S)
            self._signal(pid, sig)

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    async def cancel_pending(self, prompt_id: str) -> None:
        run = self._runs.get(prompt_id)
        if run is None or run.state != "pending":
            return
        if prompt_id in self._pending:
            self._pending.remove(prompt_id)
        self._finish(run, RunOutcome("interrupted", prompt_id, error="cancelled before it started"))

    async def close(self) -> None:
        """Stop following; a running mflux process goes on and is picked up next time."""
        for task in list(self._escalations):
            try:
                await asyncio.wait_for(asyncio.shield(task), self.grace_s + self.term_s + 1)
            except Exception:  # noqa: BLE001
                pass
        if self._runner is not None and not self._runner.done():
            self._pending.clear()
            self._runner.cancel()

    # -- housekeeping ------------------------------------------------------------
    async def _wait_for_foreign_process(self) -> None:
        """Never two mflux processes on one machine's GPU: wait out one an earlier gentui started."""
        while True:
            active = read_json(self.runs_dir / ACTIVE)
            if not active or not alive(active.get("pid"), str(active.get("prompt_id") or "?")):
                remove(self.runs_dir / ACTIVE)
                return
            await asyncio.sleep(0.5)

    def _prune_old_runs(self) -> None:
        """Remove run folders whose image the worker has taken (or that are a day old)."""
        now = time.time()
        active = read_json(self.runs_dir / ACTIVE).get("prompt_id")
        for d in self.runs_dir.iterdir():
            if not d.is_dir() or d.name == active:
                continue
            run = self._runs.get(d.name)
            if run is not None and run.state != "finished":
                continue
            try:
                age = now - d.stat().st_mtime
                if age > KEEP_RUNS_S or (age > PRUNE_EMPTY_S and not any(d.glob("*.png"))):
                    shutil.rmtree(d, ignore_errors=True)
            except OSError:
                pass


async def _call(on_event: EventCallback, event: JobEvent) -> None:
    result = on_event(event)
    if inspect.isawaitable(result):
        await result
