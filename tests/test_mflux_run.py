"""The mflux backend against a stand-in `mflux-generate-flux2` (tests/mflux_standin.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from mflux_standin import standin_env, write_standin

from gentui.backends.base import BackendUnavailable, ValidationFailed
from gentui.backends.mflux import MfluxBackend
from gentui.config import BackendSettings
from gentui.params import JobParams

MAC = ("Darwin", "arm64")


@pytest.fixture
def bin_dir(tmp_path, monkeypatch):
    d = tmp_path / "bin"
    write_standin(d)
    standin_env(monkeypatch, d)
    return d


@pytest.fixture
def loras(tmp_path):
    d = tmp_path / "loras"
    d.mkdir()
    (d / "kanachan-v4.safetensors").write_bytes(b"lora")
    return d


def backend(tmp_path, loras=None, **kw):
    cfg = BackendSettings(type="mflux", lora_dir=str(loras or ""), quantize=kw.pop("quantize", 0))
    return MfluxBackend("mac", cfg, tmp_path / "runs", platform_id=kw.pop("platform_id", MAC), **kw)


def params(**kw):
    p = {"prompt_en": "2girls, simple background", "seed": 1293127692, "steps": 4, "cfg": 1.0,
         "width": 256, "height": 192}
    p.update(kw)
    if p.get("use_lora") and p.get("lora_name") and p.get("lora_strength") is None:
        p["lora_strength"] = 1.0
    return JobParams.from_flat(p)


async def run(b, p, on_event=None):
    events = []
    pid = await b.submit(p)
    outcome = await b.follow(pid, on_event or events.append)
    return pid, outcome, events


async def test_done_with_progress_image_and_metadata(tmp_path, bin_dir, loras, monkeypatch):
    log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_MFLUX_ARGV_LOG", str(log))
    b = backend(tmp_path, loras, quantize=8)
    await b.ensure_ready()
    pid, outcome, events = await run(b, params(use_lora=True, lora_name="kanachan-v4", lora_strength=0.8))
    kinds = [e.kind for e in events]
    assert kinds[0] == "queued" and kinds[1] == "started" and kinds[-1] == "done"
    steps = [(e.step, e.total) for e in events if e.kind == "progress"]
    assert steps == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]  # the "Fetching 4 files" bar is not denoising
    assert outcome.status == "done" and outcome.prompt_id == pid
    img = Path(outcome.images[0].path)
    assert img.read_bytes().startswith(b"\x89PNG") and outcome.images[0].filename == "image.png"
    meta = outcome.extra["mflux_metadata"]
    assert meta["seed"] == 1293127692 and meta["steps"] == 4 and meta["quantize"] == 8
    assert meta["lora_paths"] == [str((loras / "kanachan-v4.safetensors").resolve())] and meta["lora_scales"] == [0.8]
    assert meta["prompt"] == "2girls, simple background"
    assert outcome.extra["mflux"]["peak_memory_gb"] == 7.42
    argv = json.loads(log.read_text().splitlines()[0])
    assert argv[argv.index("--lora") + 2] == "0.8"
    assert outcome.submitted_graph["argv"][-3:] == ["--output", "{run_dir}/image.png", "--metadata"]
    assert not (tmp_path / "runs" / "active.json").exists()
    await b.close()


async def test_multiline_prompt_goes_through_a_file(tmp_path, bin_dir):
    b = backend(tmp_path)
    _, outcome, _ = await run(b, params(prompt_en="2girls\nLeft girl: side ponytail\nRight girl: ahoge"))
    assert outcome.status == "done"
    assert outcome.extra["mflux_metadata"]["prompt"].splitlines()[2] == "Right girl: ahoge"
    assert not (Path(outcome.images[0].path).parent / "prompt.txt").exists()


async def test_jobs_run_one_at_a_time_in_order(tmp_path, bin_dir, monkeypatch):
    monkeypatch.setenv("FAKE_MFLUX_STEP_S", "0.02")
    b = backend(tmp_path)
    order = []
    started = asyncio.Event()

    def track(ev):
        if ev.kind in ("started", "done"):
            order.append((ev.kind, ev.prompt_id))
        if ev.kind == "started":
            started.set()

    a, c = [await b.submit(params(seed=s)) for s in (1, 2)]
    follow_a = asyncio.create_task(b.follow(a, track))
    await started.wait()
    front = await b.submit(params(seed=3), front=True)
    outcomes = [await follow_a, *(await asyncio.gather(b.follow(c, track), b.follow(front, track)))]
    assert [o.status for o in outcomes] == ["done"] * 3
    # strictly serial: each start is followed by its own done before the next start
    assert [k for k, _ in order] == ["started", "done"] * 3
    assert [i for k, i in order if k == "started"] == [a, front, c]  # front jumps the pending queue
    assert [o.extra["mflux_metadata"]["seed"] for o in outcomes] == [1, 2, 3]


async def test_interrupt_stops_at_a_step_and_cleans_up(tmp_path, bin_dir, monkeypatch):
    monkeypatch.setenv("FAKE_MFLUX_STEP_S", "0.3")
    b = backend(tmp_path)
    pid = await b.submit(params(steps=20))
    events = []

    async def on_event(ev):
        events.append(ev)
        if ev.kind == "progress" and ev.step == 1:
            await b.interrupt(pid)

    outcome = await b.follow(pid, on_event)
    assert outcome.status == "interrupted" and "stopped at step" in outcome.error
    assert events[-1].kind == "interrupted"
    assert not (tmp_path / "runs" / pid).exists()


async def test_stuck_process_is_escalated_to_sigterm(tmp_path, bin_dir, monkeypatch):
    monkeypatch.setenv("FAKE_MFLUX_STEP_S", "0.3")
    monkeypatch.setenv("FAKE_MFLUX_FAIL", "ignore_sigint")
    b = backend(tmp_path, grace_s=0.3, term_s=0.3)
    pid = await b.submit(params(steps=50))

    async def on_event(ev):
        if ev.kind == "started":
            await b.interrupt(pid)

    outcome = await asyncio.wait_for(b.follow(pid, on_event), 10)
    assert outcome.status == "interrupted"
    await b.close()


async def test_cancel_pending_never_starts(tmp_path, bin_dir, monkeypatch):
    monkeypatch.setenv("FAKE_MFLUX_ARGV_LOG", str(tmp_path / "argv.jsonl"))
    b = backend(tmp_path)
    first = await b.submit(params(seed=1))
    second = await b.submit(params(seed=2))
    await b.cancel_pending(second)
    assert await b.lookup(second) == "finished"
    out2 = await b.follow(second, lambda e: None)
    out1 = await b.follow(first, lambda e: None)
    assert out1.status == "done" and out2.status == "interrupted" and "before it started" in out2.error
    assert len((tmp_path / "argv.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize("mode, match", [("crash", "Insufficient Memory"), ("noimage", "without writing an image")])
async def test_failures_carry_the_reason(tmp_path, bin_dir, monkeypatch, mode, match):
    monkeypatch.setenv("FAKE_MFLUX_FAIL", mode)
    b = backend(tmp_path)
    pid, outcome, events = await run(b, params())
    assert outcome.status == "failed" and match in outcome.error
    assert events[-1].kind == "failed" and match in events[-1].error
    assert not (tmp_path / "runs" / pid).exists()


async def test_parser_error_from_mflux_is_reported(tmp_path, bin_dir, loras):
    b = backend(tmp_path, loras)
    lora = loras / "kanachan-v4.safetensors"
    p = params(use_lora=True, lora_name=str(lora))
    pid = await b.submit(p)
    # the file vanishes between validation and the run: mflux's parser refuses it (exit 2)
    lora.unlink()
    outcome = await b.follow(pid, lambda e: None)
    assert outcome.status == "failed" and "LoRA file not found" in outcome.error


async def test_missing_lora_refused_before_queueing(tmp_path, bin_dir, loras):
    b = backend(tmp_path, loras)
    with pytest.raises(ValidationFailed, match="reina"):
        await b.validate(params(use_lora=True, lora_name="reina"))
    with pytest.raises(ValidationFailed, match="reina"):
        await b.submit(params(use_lora=True, lora_name="reina"))


async def test_linux_keeps_the_job_queued(tmp_path, bin_dir):
    b = backend(tmp_path, platform_id=("Linux", "x86_64"))
    health = await b.health()
    assert not health.ok and health.detail == "mflux needs Apple Silicon (macOS arm64); this is linux x86_64"
    with pytest.raises(BackendUnavailable, match="Apple Silicon"):
        await b.ensure_ready()


async def test_missing_command_is_unavailable_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    b = backend(tmp_path)
    health = await b.health()
    assert not health.ok and "not found on PATH" in health.detail and "backends.mac.command" in health.detail
    with pytest.raises(BackendUnavailable):
        await b.ensure_ready()


async def test_run_survives_its_follower_and_is_picked_up_again(tmp_path, bin_dir, monkeypatch):
    """A second backend object (a restarted gentui) finds the running job and its image."""
    monkeypatch.setenv("FAKE_MFLUX_STEP_S", "0.05")
    first = backend(tmp_path)
    pid = await first.submit(params(steps=10))
    seen = []
    started = asyncio.Event()
    task = asyncio.create_task(first.follow(pid, lambda e: (seen.append(e), e.kind == "started" and started.set())))
    await started.wait()
    second = backend(tmp_path)
    assert await second.lookup(pid) == "running"
    events = []
    outcome = await second.follow(pid, events.append)
    assert outcome.status == "done" and outcome.extra["mflux_metadata"]["steps"] == 10
    assert events[0].kind == "started" and events[-1].kind == "done"
    assert (await task).status == "done"
    assert await second.lookup(pid) == "finished"
    assert await second.lookup("no-such-job") == "unknown"


async def test_worker_chosen_prompt_id_names_the_run(tmp_path, bin_dir):
    import uuid

    b = backend(tmp_path)
    chosen = str(uuid.uuid4())
    assert await b.submit(params(), prompt_id=chosen) == chosen
    outcome = await b.follow(chosen, lambda e: None)
    assert outcome.status == "done" and Path(outcome.images[0].path).parent.name == chosen


async def test_interrupt_right_after_submit_never_leaves_a_process(tmp_path, bin_dir, monkeypatch):
    monkeypatch.setenv("FAKE_MFLUX_STEP_S", "0.2")
    b = backend(tmp_path, grace_s=2.0)
    pid = await b.submit(params(steps=30))
    await asyncio.sleep(0)  # let the lane pick it up
    await b.interrupt(pid)
    outcome = await asyncio.wait_for(b.follow(pid, lambda e: None), 10)
    assert outcome.status == "interrupted"
    assert not (tmp_path / "runs" / "active.json").exists()
