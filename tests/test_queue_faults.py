"""Faults: leases, kill -9 of the worker, a server that is down or dies, a dropped socket, a bad disk."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from queue_support import (
    catalog_for,
    job_states,
    make_worker,
    queue,
    queued,
    run_worker,
    server_history,
    sim_settings,
    wait_for,
    write_config,
)
from sqlmodel import select

from gentui.catalog.db import open_catalog
from gentui.catalog.models import Result
from gentui.config import settings_from_dict
from gentui.queue.lease import LeaseHeld, acquire, age_for_test, read_lease
from gentui.queue.store import JobStore


def _worker_proc(*extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gentui.cli", "worker", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def test_lease_is_atomic_across_threads(tmp_path):
    path = tmp_path / "c.db"
    open_catalog(path).close()
    winners: list[str] = []
    losers: list[str] = []
    barrier = threading.Barrier(6)

    def contender(i: int) -> None:
        catalog = open_catalog(path)
        barrier.wait()
        try:
            acquire(catalog, "comfyui", holder=f"{i}@test-host")
            winners.append(str(i))
        except LeaseHeld as e:
            losers.append(str(e))

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(losers) == 5
    assert all(f"held by worker {winners[0]}@test-host since" in m for m in losers)


def test_stale_or_dead_lease_is_taken_over(tmp_path):
    catalog = open_catalog(tmp_path / "c.db")
    acquire(catalog, "comfyui", holder="4242@elsewhere")
    with pytest.raises(LeaseHeld, match="held by worker 4242@elsewhere"):
        acquire(catalog, "comfyui")
    age_for_test(catalog, "comfyui", 60)
    lease = acquire(catalog, "comfyui")
    assert read_lease(catalog, "comfyui").holder == lease.holder
    lease.release()
    # a dead process on this host: taken over at once, heartbeat still fresh
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    acquire(catalog, "comfyui", holder=f"{dead.pid}@{socket.gethostname()}")
    assert acquire(catalog, "comfyui").holder != f"{dead.pid}@{socket.gethostname()}"


def test_two_workers_started_at_once_exactly_one_runs(simulator):
    write_config(simulator.url)
    settings = sim_settings(simulator.url)
    catalog = catalog_for(settings)
    queue(settings, catalog, weights=(0.5, 0.6))
    procs = [_worker_proc(), _worker_proc()]
    try:
        asyncio.run(wait_for(lambda: any(p.poll() is not None for p in procs), timeout=30))
        loser = next(p for p in procs if p.poll() is not None)
        winner = next(p for p in procs if p is not loser)
        err = loser.communicate(timeout=10)[1]
        assert loser.returncode == 1
        assert "backend comfyui is held by worker" in err and "since" in err
        asyncio.run(wait_for(lambda: set(job_states(catalog).values()) == {"done"}, timeout=30))
        assert winner.poll() is None  # still holding the backend
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.communicate(timeout=15)
    assert winner.returncode == 0


def test_kill_9_loses_nothing_and_runs_nothing_twice(simulator):
    simulator.sim.engine.step_ms = 30
    write_config(simulator.url)
    settings, catalog, ids = queued(simulator, weights=(0.4, 0.6, 0.8, 1.0), steps=8)
    proc = _worker_proc()
    try:
        asyncio.run(wait_for(lambda: job_states(catalog)[ids[1]] == "running", timeout=20))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    states = job_states(catalog)
    assert states[ids[1]] == "running" and states[ids[3]] in ("queued", "submitted")
    run_worker(settings, catalog)  # a fresh worker (another pid) takes over at once
    jobs = JobStore(catalog).list()
    assert {j.state for j in jobs} == {"done"}
    assert all(len(j.result_ids) == 1 for j in jobs)
    with catalog.session() as s:
        results = list(s.exec(select(Result)))
    assert sorted(r.job_id for r in results) == sorted(ids)
    assert len(list((settings.output_dir / "t").glob("*.png"))) == 4
    ran = server_history(simulator.url)
    assert len(ran) == 4 and {j.backend_prompt_id for j in jobs} == set(ran)


def test_server_down_jobs_stay_queued_and_run_when_it_is_back(simulator):
    settings, catalog, ids = queued(simulator, weights=(0.5, 0.6))
    simulator.kill()
    logs: list[str] = []

    async def go():
        worker = make_worker(settings, catalog, log=logs.append)
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0.8)
        assert set(job_states(catalog).values()) == {"queued"}
        await asyncio.to_thread(simulator.restart)
        await asyncio.wait_for(task, 20)

    asyncio.run(go())
    assert set(job_states(catalog).values()) == {"done"}
    assert any("not running" in m and "jobs stay queued" in m for m in logs), logs
    assert all(JobStore(catalog).get(i).attempts == 1 for i in ids)


def test_server_killed_mid_job_waits_then_runs_again_once(simulator):
    """The server dies mid-job: the job waits (never failed); the restarted server does not know it, so it runs again."""
    simulator.sim.engine.step_ms = 30
    settings, catalog, ids = queued(simulator, weights=(0.5,), steps=20)
    logs: list[str] = []

    async def go():
        worker = make_worker(settings, catalog, log=logs.append)
        task = asyncio.create_task(worker.run())
        await wait_for(lambda: job_states(catalog)[ids[0]] == "running")
        await asyncio.to_thread(simulator.kill)
        await wait_for(lambda: any("backend unavailable" in m for m in logs), timeout=10)
        assert job_states(catalog)[ids[0]] == "running"  # waiting for the server, not failed
        await asyncio.to_thread(simulator.restart)
        await asyncio.wait_for(task, 20)

    asyncio.run(go())
    job = JobStore(catalog).get(ids[0])
    assert job.state == "done" and job.attempts == 2 and len(job.result_ids) == 1
    first, second = JobStore(catalog).attempts(ids[0])
    assert first["outcome"] == "withdrawn" and first["error"].startswith("lost: the server does not know it")
    assert second["outcome"] == "done"


def test_websocket_drop_mid_job_still_recorded_once(simulator):
    simulator.sim.engine.step_ms = 30
    settings, catalog, ids = queued(simulator, weights=(0.5,), steps=20)

    def drop_sockets():
        for req in list(simulator.sim.hub.requests.values()):
            if req.transport is not None:
                req.transport.abort()

    async def go():
        worker = make_worker(settings, catalog)
        task = asyncio.create_task(worker.run())
        await wait_for(lambda: JobStore(catalog).get(ids[0]).step >= 3)
        simulator.call(drop_sockets)
        await asyncio.wait_for(task, 20)

    asyncio.run(go())
    job = JobStore(catalog).get(ids[0])
    assert job.state == "done" and job.attempts == 1 and len(job.result_ids) == 1
    with catalog.session() as s:
        assert len(list(s.exec(select(Result)))) == 1
    assert len(list((settings.output_dir / "t").iterdir())) == 2


def test_output_not_writable_fails_the_job_with_the_reason(simulator, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = settings_from_dict({"backends": {"comfyui": {"url": simulator.url}},
                                   "paths": {"output_dir": str(blocker / "out")}})
    catalog = catalog_for(settings)
    ids = queue(settings, catalog, weights=(0.5,)).added
    run_worker(settings, catalog)
    job = JobStore(catalog).get(ids[0])
    assert job.state == "failed" and "cannot write" in job.error and str(blocker) in job.error
    assert blocker.read_text() == "not a folder" and job.result_ids == []


def test_disk_full_leaves_no_partial_files(tmp_path):
    """A file size limit makes writes fail with EFBIG, as a full disk fails them with ENOSPC."""
    big = tmp_path / "incoming.png"
    big.write_bytes(os.urandom(64 * 1024))
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import resource, signal, sys
        from gentui.backends.base import OutputImage, RunOutcome
        from gentui.params import JobParams
        from gentui.queue.results import ResultWriteError, write_results
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))
        outcome = RunOutcome("done", "pid-1", images=[OutputImage(path={str(big)!r}, filename="x.png")])
        params = JobParams.from_flat({{"sweep": "s", "seed": 1, "lora_name": "k.safetensors", "lora_strength": 0.8}})
        try:
            write_results({str(out)!r}, 1, 1, "w0.8 s1", params, outcome, "comfyui")
        except ResultWriteError as e:
            print("ERR", e)
            sys.exit(0)
        sys.exit(3)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ERR cannot write the result")
    assert list((out / "s").iterdir()) == []


def test_unknown_lora_is_refused_when_queued(simulator, capsys):
    from gentui.cli import main

    write_config(simulator.url)
    code = main(["sweep", "--prompt", "1girl", "--lora", "nope-v9.safetensors", "--weights", "0.6,0.8", "--detach"])
    err = capsys.readouterr().err
    assert code == 2
    assert "nope-v9.safetensors" in err and "kanachan-v4.safetensors" in err
    settings = sim_settings(simulator.url)
    assert job_states(catalog_for(settings)) == {}


def test_translation_failure_fails_the_job_and_keeps_the_prompt(simulator):
    settings = settings_from_dict({"backends": {"comfyui": {"url": simulator.url}},
                                   "translate": {"host": "http://127.0.0.1:9", "timeout_s": 1.0}})
    catalog = catalog_for(settings)
    raw_prompt = "2人の女の子、左の子は赤いリボン"
    from gentui.queue.plan import plan_sweep, queue_plan
    from gentui.queue.sweep import sweep_from_dict

    sweep = sweep_from_dict({"name": "ja", "prompt": {"text": raw_prompt},
                             "params": {"lora_name": "kanachan-v4.safetensors", "width": 64, "height": 64,
                                        "steps": 2}}, "ja.toml")
    ids = queue_plan(catalog, plan_sweep(sweep, settings, catalog)).added
    run_worker(settings, catalog)
    job = JobStore(catalog).get(ids[0])
    assert job.state == "failed" and "translation failed" in job.error
    assert job.params.prompt_src == raw_prompt
    assert server_history(simulator.url) == {}


def test_a_sidecar_left_without_its_image_is_finished_not_duplicated(simulator):
    """Issue 15 item 8: a worker killed between the sidecar and the image; the next attempt writes no `_2`."""
    settings, catalog, ids = queued(simulator, weights=(0.5,))
    folder = settings.output_dir / "t"
    folder.mkdir(parents=True)
    stale = {"job_id": ids[0], "image_index": 0, "backend_prompt_id": "a-killed-attempt", "seed": 1293127692}
    (folder / "1293127692_w0.5.json").write_text(json.dumps(stale))
    incoming = settings.output_dir / ".incoming" / "comfyui"
    incoming.mkdir(parents=True)
    (incoming / ".x.png.1234.part").write_bytes(b"half a download")
    run_worker(settings, catalog)
    job = JobStore(catalog).get(ids[0])
    assert job.state == "done"
    assert sorted(p.name for p in folder.iterdir()) == ["1293127692_w0.5.json", "1293127692_w0.5.png"]
    assert json.loads((folder / "1293127692_w0.5.json").read_text())["backend_prompt_id"] == job.prompt_id
    assert list(incoming.iterdir()) == []  # a killed predecessor's partial download is gone


def test_a_locked_catalog_delays_done_until_the_result_is_indexed(simulator):
    """Issue 15 item 15: `done` means indexed; while the catalog is locked the job stays `recording`."""
    import sqlite3
    import threading

    simulator.sim.engine.step_ms = 20
    settings, catalog, ids = queued(simulator, weights=(0.5,), steps=10)
    store = JobStore(catalog)
    lock = sqlite3.connect(settings.catalog_path, timeout=30, isolation_level=None, check_same_thread=False)
    seen: list[str] = []

    async def go():
        worker = make_worker(settings, catalog)
        task = asyncio.create_task(worker.run())
        await wait_for(lambda: store.get(ids[0]).state == "running")
        await asyncio.to_thread(lock.execute, "BEGIN EXCLUSIVE")  # another process holds the catalog
        threading.Timer(2.0, lambda: lock.execute("COMMIT")).start()
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:  # WAL: readers see the job while writers wait
            seen.append(await asyncio.to_thread(lambda: store.get(ids[0]).state))
            await asyncio.sleep(0.1)
        await asyncio.wait_for(task, 30)

    asyncio.run(go())
    job = store.get(ids[0])
    assert "done" not in seen and seen[-1] in ("running", "recording"), seen
    assert job.state == "done" and len(job.result_ids) == 1
    with catalog.engine.connect() as conn:
        from sqlalchemy import text as sql

        assert conn.execute(sql("SELECT COUNT(*) FROM result WHERE id=:i"), {"i": job.result_ids[0]}).scalar() == 1
