"""The worker against the simulator: end to end, pipelining, control (cancel, pause, front)."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC
from pathlib import Path

from queue_support import (
    catalog_for,
    control,
    job_states,
    make_worker,
    queue,
    queued,
    run_worker,
    server_history,
    server_queue,
    sim_settings,
    wait_for,
)
from sqlmodel import select

from gentui.catalog.models import Result
from gentui.queue.control import Action
from gentui.queue.store import JobStore

GENSERVER_KEYS = ["model", "seed", "width", "height", "steps", "cfg", "use_lora", "lora_strength", "use_speed_lora", "skip_translate", "prompt_en", "elapsed_s"]


def test_sweep_runs_end_to_end(simulator):
    settings = sim_settings(simulator.url)
    catalog = catalog_for(settings)
    report = queue(settings, catalog, weights=(0.6, 0.8, 1.0))
    run_worker(settings, catalog)
    jobs = JobStore(catalog).list(sweep="t")
    assert [j.state for j in jobs] == ["done"] * 3
    assert sorted(j.id for j in jobs) == sorted(report.added)
    folder = settings.output_dir / "t"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(f"1293127692_w{w}.{ext}" for w in ("0.6", "0.8", "1.0") for ext in ("png", "json"))
    side = json.loads((folder / "1293127692_w0.8.json").read_text())
    for key in GENSERVER_KEYS:
        assert key in side, key
    assert side["lora_strength"] == 0.8 and side["seed"] == 1293127692 and side["use_lora"] is True
    assert side["model"] == "waiANIMA_v10.safetensors" and side["steps"] == 4
    assert side["workflow_api"] and any(n["class_type"] == "KSampler" for n in side["workflow_api"].values())
    assert side["backend"] == "comfyui" and side["sweep"] == "t" and side["job_id"]
    assert side["backend_prompt_id"] == JobStore(catalog).get(side["job_id"]).backend_prompt_id
    assert side["prompt_src"] == side["prompt_en"] == "2girls, side by side, red ribbon"
    assert "headers" not in json.dumps(side).lower()
    with catalog.session() as s:
        rows = list(s.exec(select(Result)))
    assert len(rows) == 3
    by_job = {r.job_id: r for r in rows}
    for j in jobs:
        assert j.result_ids == [by_job[j.id].id]
        assert j.step == j.total == 4
        assert j.started_at and j.finished_at
        assert Path(by_job[j.id].path).parent == folder
        assert by_job[j.id].thumb
    # re-queueing a finished sweep queues nothing
    again = queue(settings, catalog, weights=(0.6, 0.8, 1.0))
    assert again.queued == 0 and again.kept == {"done": 3}
    p = JobStore(catalog).sweep_progress("t")
    assert p.is_finished and p.eta_s == 0


def test_next_job_is_waiting_on_the_server_while_one_runs(simulator):
    simulator.sim.engine.step_ms = 40  # 4 steps: 160 ms a job
    settings, catalog, ids = queued(simulator, weights=(0.5, 0.6, 0.7))
    run_worker(settings, catalog)
    history = server_history(simulator.url)
    jobs = [JobStore(catalog).get(i) for i in ids]
    assert {j.state for j in jobs} == {"done"}

    def stamp(job, kind):
        msgs = {m[0]: m[1] for m in history[job.backend_prompt_id]["status"]["messages"]}
        return msgs[kind]["timestamp"] / 1000

    for prev, nxt in itertools.pairwise(jobs):
        submitted = nxt.submitted_at.replace(tzinfo=UTC).timestamp()
        # sent while the previous one was still executing, so the server never waited for us
        # (the idle gap itself is measured by bench/queue.py, not asserted here)
        assert submitted < stamp(prev, "execution_success")
        assert stamp(prev, "execution_success") <= stamp(nxt, "execution_start")


def test_cancel_pending_removes_it_on_the_server(simulator):
    simulator.sim.engine.step_ms = 60
    settings, catalog, ids = queued(simulator, weights=(0.5, 0.6), steps=15)

    async def go():
        worker = make_worker(settings, catalog)
        task = asyncio.create_task(worker.run())
        await wait_for(lambda: server_queue(simulator.url)[1])  # the second is pending there
        pending_pid = server_queue(simulator.url)[1][0]
        assert pending_pid == JobStore(catalog).get(ids[1]).backend_prompt_id
        control(catalog).cancel([ids[1]])
        await wait_for(lambda: not server_queue(simulator.url)[1], timeout=3)
        await asyncio.wait_for(task, 20)
        return pending_pid

    pid = asyncio.run(go())
    assert job_states(catalog) == {ids[0]: "done", ids[1]: "cancelled"}
    assert pid not in server_history(simulator.url)
    assert JobStore(catalog).get(ids[1]).result_ids == []


def test_pause_resume_and_front(simulator):
    settings, catalog, ids = queued(simulator, weights=(0.5, 0.6, 0.7))
    control(catalog).pause(["comfyui"])
    control(catalog).move(ids[2], Action.FRONT)

    async def go():
        worker = make_worker(settings, catalog, prequeue=0)
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0.6)
        assert set(job_states(catalog).values()) == {"queued"}
        assert server_history(simulator.url) == {}
        control(catalog).resume(["comfyui"])
        await asyncio.wait_for(task, 20)

    asyncio.run(go())
    jobs = sorted(JobStore(catalog).list(), key=lambda j: j.started_at)
    assert [j.id for j in jobs] == [ids[2], ids[0], ids[1]]
    assert {j.state for j in jobs} == {"done"}


def test_interrupt_and_retry(simulator):
    simulator.sim.engine.step_ms = 50
    settings, catalog, ids = queued(simulator, weights=(0.5,), steps=20)

    async def go():
        worker = make_worker(settings, catalog)
        task = asyncio.create_task(worker.run())
        await wait_for(lambda: job_states(catalog)[ids[0]] == "running")
        control(catalog).interrupt(backend="comfyui")
        await asyncio.wait_for(task, 20)

    asyncio.run(go())
    job = JobStore(catalog).get(ids[0])
    assert job.state == "interrupted" and job.result_ids == []
    simulator.sim.engine.step_ms = 1
    assert control(catalog).retry(sweep="t").ids == [ids[0]]
    run_worker(settings, catalog)
    job = JobStore(catalog).get(ids[0])
    assert job.state == "done" and job.attempts == 2 and len(job.result_ids) == 1


def test_jobs_for_any_backend_go_to_idle_backends_that_have_the_models(simulator):
    from queue_support import fast_backend

    from gentui.config import settings_from_dict
    from gentui.queue.plan import plan_sweep, queue_plan, validate_plan
    from gentui.queue.sweep import sweep_from_dict
    from gentui.queue.worker import Worker
    from gentui.simulator import start_simulator
    from gentui.simulator.catalogue import DEFAULT_MODELS

    without = {k: [n for n in v if n != "kanachan-v4.safetensors"] for k, v in DEFAULT_MODELS.items()}
    other = start_simulator(port=0, step_ms=30, models=without)
    simulator.sim.engine.step_ms = 30
    try:
        settings = settings_from_dict({"backends": {"a": {"url": simulator.url}, "b": {"url": other.url}},
                                       "defaults": {"backend": "a"}})
        catalog = catalog_for(settings)

        def sweep(name, lora, n):
            raw = {"name": name, "prompt": {"text": "1girl"}, "axes": {"weights": [0.1 * (i + 1) for i in range(n)]},
                   "params": {"backend": "any", "lora_name": lora, "skip_translate": True, "width": 64,
                              "height": 64, "steps": 4}}
            plan = plan_sweep(sweep_from_dict(raw, name), settings, catalog)
            assert asyncio.run(validate_plan(plan, settings)) == []
            return queue_plan(catalog, plan).added

        kana = sweep("kana", "kanachan-v4.safetensors", 3)
        lily = sweep("lily", "lily-v2.safetensors", 6)
        worker = Worker(settings, catalog, ["a", "b"], exit_when_idle=True, log=lambda m: None,
                        make_backend=fast_backend)
        asyncio.run(asyncio.wait_for(worker.run(), 30))
        jobs = {j.id: j for j in JobStore(catalog).list()}
        assert {j.state for j in jobs.values()} == {"done"}
        assert {jobs[i].backend for i in kana} == {"a"}
        assert {jobs[i].backend for i in lily} == {"a", "b"}
    finally:
        other.stop()


def test_a_two_lora_sweep_runs_on_the_simulator(simulator):
    """examples/kana-reina-2loras.toml: validated as ComfyUI validates, run, and recorded with its stack."""
    from gentui.queue.plan import plan_sweep, queue_plan, validate_plan
    from gentui.queue.sweep import load_sweep_file

    settings = sim_settings(simulator.url)
    catalog = catalog_for(settings)
    sweep = load_sweep_file(Path(__file__).resolve().parents[1] / "examples" / "kana-reina-2loras.toml")
    sweep.params.update(width=64, height=64, steps=2)
    sweep.axes["weight.Kanachan"] = [0.4, 1.2]
    plan = plan_sweep(sweep, settings, catalog)
    assert asyncio.run(validate_plan(plan, settings)) == []
    ids = queue_plan(catalog, plan).added
    run_worker(settings, catalog)
    jobs = [JobStore(catalog).get(i) for i in ids]
    assert [j.state for j in jobs] == ["done"] * 4
    side = json.loads((settings.output_dir / "kana-reina-2loras" / "1293127692_wKanachan1.2+Reina0.8.json").read_text())
    assert [(lo["name"], lo["strength_model"], lo["character"]) for lo in side["loras"][:2]] == [
        ("kanachan-v4.safetensors", 1.2, "Kanachan"), ("reina-v1.safetensors", 0.8, "Reina")]
    loaders = [n for n in side["workflow_api"].values() if n["class_type"] == "LoraLoaderModelOnly"]
    assert sorted(n["inputs"]["lora_name"] for n in loaders) == [
        "anima-turbo-lora-v0.2.safetensors", "kanachan-v4.safetensors", "reina-v1.safetensors"]


def test_an_unknown_lora_in_a_stack_is_refused_before_queueing(simulator):
    from gentui.queue.plan import plan_sweep, validate_plan
    from gentui.queue.sweep import SweepError, sweep_from_dict

    settings = sim_settings(simulator.url)
    raw = {"name": "x", "prompt": {"text": "2girls"}, "params": {"skip_translate": True, "loras": [
        {"name": "kanachan-v4.safetensors", "character": "Kanachan"}, {"name": "nobody-v9.safetensors"}]}}
    plan = plan_sweep(sweep_from_dict(raw, "x.toml"), settings)
    try:
        asyncio.run(validate_plan(plan, settings))
    except SweepError as e:
        assert "nobody-v9.safetensors" in str(e) and "reina-v1.safetensors" in str(e)  # lists what it has
    else:
        raise AssertionError("an unknown LoRA was not refused")


def test_the_running_jobs_sampler_previews_are_kept_for_the_tui(tmp_path):
    """ComfyUI's preview frames: the latest one per running job, in <data dir>/previews, gone when it ends."""
    from gentui.queue.previews import Previews
    from gentui.simulator import start_simulator

    sim = start_simulator(port=0, step_ms=60, preview=True)
    try:
        settings = sim_settings(sim.url)
        catalog = catalog_for(settings)
        ids = queue(settings, catalog, weights=(0.5,), steps=12).added
        previews = Previews(settings.data_dir / "previews")
        seen: list[bytes] = []

        async def go():
            worker = make_worker(settings, catalog)
            task = asyncio.create_task(worker.run())
            await wait_for(lambda: previews.latest(ids[0]) is not None, what="a preview of the running job")
            seen.append(previews.latest(ids[0]).read_bytes())
            await asyncio.wait_for(task, 20)

        asyncio.run(go())
        assert seen[0][:2] == b"\xff\xd8"  # a JPEG, as the server sent it
        assert previews.latest(ids[0]) is None and JobStore(catalog).get(ids[0]).state == "done"
    finally:
        sim.stop()
