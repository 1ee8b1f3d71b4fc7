"""The queue under any sequence of actions: a hypothesis state machine drives real workers against the simulator.

Rules interleave what users, machines and networks do: queue sweeps, pause,
resume, cancel, retry, interrupt, reorder, SIGKILL a worker and start another,
SIGSTOP a worker past its lease (a closed laptop lid) and SIGCONT it, freeze
the server (a stall) and thaw it, kill the server (it forgets its queue) and
bring it back. Workers are real `gentui worker` processes; the server is the
simulator on 127.0.0.1, whose ledger counts every execution across restarts.

After every step: at most one job running per backend; every job on a backend
has exactly one open attempt and no other job has any; no prompt ever started
twice on the server; results exist only for attempts that finished there;
`PRAGMA integrity_check` is ok. At the end, with the server up and one worker
draining the queue: every job is finished, every done job has exactly one
image and one sidecar, cancelled attempts have none.

CI runs a few short sequences; `GENTUI_STATEFUL_EXAMPLES=200 GENTUI_STATEFUL_STEPS=40`
runs a long search.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from gentui.catalog.db import open_catalog
from gentui.config import load_settings
from gentui.queue.control import Action, QueueService
from gentui.queue.plan import plan_sweep, queue_plan
from gentui.queue.store import JobStore
from gentui.queue.sweep import sweep_from_dict
from gentui.simulator import start_simulator

EXAMPLES = int(os.environ.get("GENTUI_STATEFUL_EXAMPLES", "4"))
STEPS = int(os.environ.get("GENTUI_STATEFUL_STEPS", "18"))
STEP_MS = 8
DRAIN_S = 90

pytestmark = pytest.mark.timeout(60 + EXAMPLES * (STEPS * 3 + DRAIN_S))

CONFIG = """
[paths]
data_dir = "{home}"

[backends.comfyui]
url = "{url}"
connect_timeout_s = 1.0
read_timeout_s = 5.0
unreachable_timeout_s = 1.0

[worker]
prequeue = 1
heartbeat_s = 0.25
lease_stale_s = 1.5
"""


class QueueMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="gentui-queue-sm-"))
        self.sim = start_simulator(port=0, step_ms=STEP_MS)
        self.url = self.sim.url
        self.home = self.tmp / "home"
        self.home.mkdir()
        self.config = self.tmp / "config.toml"
        self.config.write_text(CONFIG.format(home=self.home, url=self.url))
        self.settings = load_settings(self.config)
        self.catalog = open_catalog(self.settings.catalog_path)
        self.store = JobStore(self.catalog)
        self.service = QueueService(self.settings, self.catalog, self.store)
        self.workers: list[subprocess.Popen] = []
        self.sleeping: set[int] = set()
        self.killed: set[int] = set()
        self.stopped_by_user: set[int] = set()
        """Jobs a rule cancelled or interrupted: only these may end cancelled or interrupted."""
        self.server = "up"
        self.sweeps = 0
        self.log: list[str] = ["start worker"]
        self._spawn_worker()  # most users have one running; rules add, kill and stop more

    # -- helpers -------------------------------------------------------------------
    def _job_ids(self) -> list[int]:
        return [j.id for j in self.store.list()]

    def _pick(self, i: int) -> int | None:
        ids = self._job_ids()
        return ids[i % len(ids)] if ids else None

    def _live(self) -> list[subprocess.Popen]:
        """Workers the rules started and have not killed (preconditions read only the machine's own state:
        a worker that exited by itself, e.g. because another held the lease, still counts here)."""
        return [p for p in self.workers if p.pid not in self.killed]

    def _awake(self) -> list[subprocess.Popen]:
        return [p for p in self._live() if p.pid not in self.sleeping]

    def _spawn_worker(self, *extra: str) -> subprocess.Popen:
        out = open(self.tmp / f"worker-{len(self.workers)}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, "-m", "gentui.cli", "--config", str(self.config), "worker", *extra],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "GENTUI_HOME": str(self.home)})
        self.workers.append(proc)
        return proc

    def _do(self, what: str, fn, *args) -> None:
        self.log.append(what)
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - the service refusing (wrong state) is fine; say it
            if type(e).__name__ != "JobError":
                raise
            self.log.append(f"  -> {e}")

    # -- rules: users --------------------------------------------------------------------
    @rule(n=st.integers(1, 3), again=st.booleans())
    def queue_sweep(self, n: int, again: bool) -> None:
        if not again or not self.sweeps:
            self.sweeps += 1
        name = f"s{self.sweeps}"
        raw = {"name": name, "prompt": {"text": "2girls, side by side"},
               "params": {"lora_name": "kanachan-v4.safetensors", "skip_translate": True, "width": 64, "height": 64,
                          "steps": 4},
               "axes": {"weights": [round(0.2 * (k + 1), 1) for k in range(n)], "seeds": [self.sweeps]}}
        self.log.append(f"queue {name} x{n}")
        queue_plan(self.catalog, plan_sweep(sweep_from_dict(raw, f"{name}.toml"), self.settings, self.catalog))

    @rule(i=st.integers(0, 999))
    def cancel(self, i: int) -> None:
        job = self._pick(i)
        if job is not None:
            self.stopped_by_user.add(job)
            self._do(f"cancel {job}", self.service.cancel, [job])

    @rule(i=st.integers(0, 999))
    def retry(self, i: int) -> None:
        job = self._pick(i)
        if job is not None:
            self._do(f"retry {job}", self.service.retry, [job])

    @rule(i=st.integers(0, 999))
    def interrupt(self, i: int) -> None:
        job = self._pick(i)
        if job is not None:
            self.stopped_by_user.add(job)
            self._do(f"interrupt {job}", self.service.interrupt, job)

    @rule(i=st.integers(0, 999), where=st.sampled_from([Action.FRONT, Action.UP, Action.DOWN]))
    def move(self, i: int, where: Action) -> None:
        job = self._pick(i)
        if job is not None:
            self._do(f"{where} {job}", self.service.move, job, where)

    @rule()
    def pause(self) -> None:
        self._do("pause", self.service.pause)

    @rule()
    def resume(self) -> None:
        self._do("resume", self.service.resume)

    # -- rules: machines -------------------------------------------------------------------
    @precondition(lambda self: len(self._live()) < 3)
    @rule()
    def start_worker(self) -> None:
        self.log.append("start worker")
        self._spawn_worker()

    @precondition(lambda self: bool(self._live()))
    @rule(i=st.integers(0, 9))
    def kill_worker(self, i: int) -> None:
        proc = self._live()[i % len(self._live())]
        self.log.append(f"SIGKILL worker {proc.pid}")
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.sleeping.discard(proc.pid)
        self.killed.add(proc.pid)

    @precondition(lambda self: bool(self._awake()))
    @rule(i=st.integers(0, 9))
    def close_the_lid(self, i: int) -> None:
        proc = self._awake()[i % len(self._awake())]
        self.log.append(f"SIGSTOP worker {proc.pid}")
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGSTOP)
        self.sleeping.add(proc.pid)

    @precondition(lambda self: bool(self.sleeping))
    @rule()
    def open_the_lid(self) -> None:
        pid = sorted(self.sleeping)[0]
        self.log.append(f"SIGCONT worker {pid}")
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        self.sleeping.discard(pid)

    @precondition(lambda self: self.server == "up")
    @rule()
    def server_stalls(self) -> None:
        self.log.append("server freezes")
        self.sim.freeze()
        self.server = "frozen"

    @precondition(lambda self: self.server == "frozen")
    @rule()
    def server_thaws(self) -> None:
        self.log.append("server thaws")
        self.sim.thaw()
        self.server = "up"

    @precondition(lambda self: self.server == "up")
    @rule()
    def server_dies(self) -> None:
        self.log.append("server dies")
        self.sim.kill()
        self.server = "down"

    @precondition(lambda self: self.server == "down")
    @rule()
    def server_restarts(self) -> None:
        self.log.append("server restarts (empty queue and history)")
        self.sim.restart()
        self.server = "up"

    @rule(ms=st.sampled_from([30, 120, 400, 1200]))
    def time_passes(self, ms: int) -> None:
        self.log.append(f"wait {ms} ms")
        time.sleep(ms / 1000)

    # -- invariants ------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        return self.catalog.connect()

    @invariant()
    def the_queue_is_consistent(self) -> None:
        if not hasattr(self, "catalog"):
            return
        conn = self._db()
        try:
            self._check(conn)
        except AssertionError as e:
            raise AssertionError(f"{e}\n\nsteps:\n  " + "\n  ".join(self.log) + self._worker_logs()) from None
        finally:
            conn.close()

    def _check(self, conn: sqlite3.Connection) -> None:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        running = conn.execute("SELECT backend, COUNT(*) FROM job WHERE state='running' GROUP BY backend").fetchall()
        assert all(n <= 1 for _b, n in running), f"two jobs running on one backend: {running}"
        jobs = {r[0]: r[1:] for r in conn.execute("SELECT id, state, backend_prompt_id, attempts FROM job")}
        open_ = {}
        counts: dict[int, int] = {}
        for job_id, pid, outcome in conn.execute("SELECT job_id, prompt_id, outcome FROM job_attempt"):
            counts[job_id] = counts.get(job_id, 0) + 1
            if outcome is None:
                assert job_id not in open_, f"job {job_id} has two open attempts"
                open_[job_id] = pid
        for job_id, (state, pid, attempts) in jobs.items():
            assert counts.get(job_id, 0) == attempts, f"job {job_id}: {attempts} attempts, {counts.get(job_id, 0)} rows"
            if state in ("submitted", "running", "recording"):
                assert open_.get(job_id) == pid, f"job {job_id} is {state} without its open attempt"
            else:
                assert job_id not in open_, f"job {job_id} is {state} with an open attempt"
        executions = self.sim.ledger.executions
        twice = {p: n for p, n in executions.items() if n > 1}
        assert not twice, f"prompts started twice on the server: {twice}"
        attempt_of = {pid: (job, outcome) for job, pid, outcome in
                      conn.execute("SELECT job_id, prompt_id, outcome FROM job_attempt")}
        for job_id, outcome in conn.execute("SELECT job_id, outcome FROM job_attempt "
                                            "WHERE outcome IN ('cancelled', 'interrupted')"):
            assert job_id in self.stopped_by_user, f"job {job_id} ended {outcome} though nobody stopped it"
        for rid, job_id, pid in conn.execute("SELECT id, job_id, backend_prompt_id FROM result"):
            job, outcome = attempt_of.get(pid, (None, "none"))
            assert job == job_id and outcome in (None, "done"), \
                f"result {rid} belongs to attempt {pid} of job {job_id}, which ended {outcome}"

    def _worker_logs(self) -> str:
        out = []
        for p in sorted(self.tmp.glob("worker-*.log")):
            out.append(f"\n--- {p.name}\n" + p.read_text(errors="replace")[-3000:])
        return "".join(out)

    # -- the end ------------------------------------------------------------------------------
    def teardown(self) -> None:
        if not hasattr(self, "catalog"):
            return
        try:
            self._drain_and_check()
            if os.environ.get("GENTUI_STATEFUL_VERBOSE"):
                counts = dict(self.store.counts())
                print(f"\nsequence of {len(self.log)} steps -> {counts}, ledger {self.sim.ledger.to_dict()['work']}:\n  "
                      + "\n  ".join(self.log))
        finally:
            for proc in self.workers:
                if proc.poll() is None:
                    for sig in (signal.SIGCONT, signal.SIGKILL):
                        try:
                            os.kill(proc.pid, sig)
                        except ProcessLookupError:
                            pass
                    proc.wait(10)
            self.store.close()
            self.catalog.close()
            self.sim.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _drain_and_check(self) -> None:
        if self.server == "frozen":
            self.sim.thaw()
        elif self.server == "down":
            self.sim.restart()
        for pid in list(self.sleeping):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.sleeping.clear()
        self.service.resume()
        for proc in self.workers:  # a clean end: let one last worker drain the queue
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        drain = self._spawn_worker("--until-idle")
        try:
            drain.wait(DRAIN_S)
        except subprocess.TimeoutExpired:
            raise AssertionError("the queue did not drain\n  " + "\n  ".join(self.log) + self._worker_logs()) from None
        conn = self._db()
        try:
            self._check(conn)
            states = dict(conn.execute("SELECT state, COUNT(*) FROM job GROUP BY state").fetchall())
            assert not set(states) & {"queued", "submitted", "running", "recording"}, f"unfinished jobs: {states}"
            for job_id, error in conn.execute("SELECT id, error FROM job WHERE state='failed'"):
                assert "lost this job" in (error or ""), f"job {job_id} failed: {error}"
            done = {r[0]: (r[1], json.loads(r[2] or "[]")) for r in
                    conn.execute("SELECT id, backend_prompt_id, result_ids FROM job WHERE state='done'")}
            for job_id, (pid, ids) in done.items():
                assert len(ids) == 1, f"done job {job_id} has results {ids}"
                row = conn.execute("SELECT path, backend_prompt_id FROM result WHERE id=?", (ids[0],)).fetchone()
                assert row is not None and row[1] == pid, f"done job {job_id}: result {ids[0]} is not its attempt's"
            files: dict[int, list[str]] = {}
            for side in self.settings.output_dir.rglob("*.json"):
                data = json.loads(side.read_text())
                if side.with_suffix(".png").exists():
                    files.setdefault(data["job_id"], []).append(data["backend_prompt_id"])
            for job_id, (pid, _ids) in done.items():
                assert files.get(job_id) == [pid], f"done job {job_id}: image+sidecar pairs {files.get(job_id)}"
            extra = set(files) - set(done)
            assert not extra, f"images and sidecars of jobs that are not done: {sorted(extra)}"
        except AssertionError as e:
            raise AssertionError(f"{e}\n\nsteps:\n  " + "\n  ".join(self.log) + self._worker_logs()) from None
        finally:
            conn.close()


QueueMachine.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, derandomize=not os.environ.get("GENTUI_STATEFUL_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestQueueUnderAnySequence = QueueMachine.TestCase
