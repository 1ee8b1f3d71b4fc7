"""ComfyBackend against the simulator over real sockets: runs, progress, outputs, faults."""

from __future__ import annotations

import asyncio
import copy
import socket
from pathlib import Path

import pytest
from comfyui_proxy import ComfyProxy

from gentui.backends.base import BackendUnavailable, ValidationFailed
from gentui.backends.comfyui import ComfyBackend
from gentui.backends.registry import make_backend
from gentui.config import BackendSettings, Settings
from gentui.params import JobParams

pytestmark = pytest.mark.timeout(60)

PARAMS = {"workflow": "anima", "prompt_en": "2girls, side ponytail", "seed": 1293127692,
          "lora_name": "kanachan-v4.safetensors", "lora_strength": 0.8, "width": 64, "height": 64,
          "use_speed_lora": True, "speed_lora_name": "anima-turbo-lora-v0.2.safetensors", "speed_lora_strength": 1.0}


def make(url: str, **kw) -> ComfyBackend:
    settings = Settings()
    settings.backends = {"comfyui": BackendSettings(url=url, connect_timeout_s=2, read_timeout_s=10)}
    return ComfyBackend("comfyui", settings, **kw)


class Recorder:
    def __init__(self) -> None:
        self.events = []

    def __call__(self, ev) -> None:
        self.events.append(ev)

    @property
    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


async def run_one(backend, params=PARAMS):
    pid = await backend.submit(JobParams.from_flat(params))
    rec = Recorder()
    out = await backend.follow(pid, rec)
    return pid, out, rec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_full_run_reports_progress_and_downloads_the_image(simulator):
    b = make(simulator.url)
    try:
        h = await b.health()
        assert h.ok and h.version and h.rtt_ms is not None
        assert h.features["simulator"] is True
        await b.validate(JobParams.from_flat(PARAMS))
        pid, out, rec = await run_one(b)
        assert out.status == "done", out.error
        assert out.prompt_id == pid and pid == pid.lower() and len(pid) == 36
        assert rec.kinds[0] == "started" and rec.kinds[-1] == "done"
        steps = [e for e in rec.events if e.kind == "progress"]
        assert steps and steps[-1].step == steps[-1].total == 8
        assert len(out.images) == 1
        data = Path(out.images[0].path).read_bytes()
        assert data.startswith(b"\x89PNG")
        assert Path(out.images[0].path).parent == b.download_dir
        assert out.submitted_graph and out.submitted_graph == b.bind(JobParams.from_flat(PARAMS))
        assert not list(b.download_dir.glob("*.part")) and not list(b.download_dir.glob(".*"))
        # the same job again is a cached run on the server: still a result
        _, again, rec2 = await run_one(b)
        assert again.status == "done" and len(again.images) == 1
        assert Path(again.images[0].path).read_bytes() == data
        assert await b.lookup(pid) == "finished"
        assert await b.lookup("00000000-0000-4000-8000-000000000000") == "unknown"
    finally:
        await b.close()


async def test_registry_makes_a_comfy_backend(simulator):
    settings = Settings()
    settings.backends = {"gpu": BackendSettings(url=simulator.url)}
    b = make_backend("gpu", settings)
    assert isinstance(b, ComfyBackend) and b.name == "gpu"
    await b.close()


async def test_unknown_lora_is_refused_listing_the_servers_loras(simulator):
    b = make(simulator.url)
    try:
        bad = {**PARAMS, "lora_name": "nope-v9.safetensors"}
        with pytest.raises(ValidationFailed) as ei:
            await b.validate(JobParams.from_flat(bad))
        msg = str(ei.value)
        assert "nope-v9.safetensors" in msg and "kanachan-v4.safetensors" in msg and "Character LoRA" in msg
        # the server says the same if the job is posted anyway
        with pytest.raises(ValidationFailed) as ei:
            await b.submit(JobParams.from_flat(bad))
        msg = str(ei.value)
        assert "nope-v9.safetensors" in msg and "kanachan-v4.safetensors" in msg and "Character LoRA" in msg
        with pytest.raises(ValidationFailed, match="unet|diffusion_models"):
            await b.validate(JobParams.from_flat({**PARAMS, "extra": {"unet": "missing.safetensors"}}))
    finally:
        await b.close()


async def test_unknown_node_class_is_explained(simulator):
    b = make(simulator.url)
    try:
        graph = b.bind(JobParams.from_flat(PARAMS))
        graph["9"]["class_type"] = "NoSuchSampler"
        with pytest.raises(ValidationFailed, match="no node class 'NoSuchSampler'"):
            await b.validate_graph(graph)
        with pytest.raises(ValidationFailed, match="no node class 'NoSuchSampler'"):
            await b.submit_graph(graph)
    finally:
        await b.close()


async def test_history_race_empty_history_after_finish_is_waited_out(simulator):
    calls = {"n": 0}

    def lagging(body):
        # the first two reads after the finish find nothing yet, like a real server sometimes does
        if body:
            calls["n"] += 1
            if calls["n"] <= 2:
                return {}
        return body

    async with ComfyProxy(simulator.url, rewrite_history=lagging) as proxy:
        b = make(proxy.url)
        try:
            _, out, _ = await run_one(b)
            assert out.status == "done" and len(out.images) == 1
            assert calls["n"] >= 3
        finally:
            await b.close()


@pytest.mark.parametrize(
    "filename, subfolder",
    [("../../escape.png", ""), ("/etc/passwd", ""), ("ok.png", "../.."), ("a\\..\\b.png", ""), ("ok.png", "/abs")],
)
async def test_view_path_attack_is_refused_and_nothing_written(simulator, tmp_path, filename, subfolder):
    def hostile(body):
        for entry in body.values():
            for out in entry.get("outputs", {}).values():
                for img in out.get("images", []):
                    img["filename"], img["subfolder"] = filename, subfolder
        return body

    async with ComfyProxy(simulator.url, rewrite_history=hostile) as proxy:
        b = make(proxy.url)
        try:
            _, out, rec = await run_one(b)
            assert out.status == "failed" and "refused" in out.error
            assert rec.kinds[-1] == "failed"
            assert not any("/view" in path for _, path, _ in proxy.seen)
            assert not b.download_dir.exists() or not any(b.download_dir.iterdir())
        finally:
            await b.close()


async def test_websocket_dropped_mid_job_still_completes_once():
    from gentui.simulator import start_simulator

    sim = start_simulator(port=0, step_ms=40)
    try:
        async with ComfyProxy(sim.url) as proxy:
            b = make(proxy.url, poll_s=0.5)
            try:
                pid = await b.submit(JobParams.from_flat({**PARAMS, "steps": 12}))
                rec = Recorder()
                task = asyncio.create_task(b.follow(pid, rec))
                while not any(e.kind == "progress" for e in rec.events):
                    await asyncio.sleep(0.01)
                assert await proxy.drop_websockets() >= 1
                out = await task
                assert out.status == "done" and len(out.images) == 1
                assert rec.kinds.count("done") == 1
                assert b.ws.connects >= 2
            finally:
                await b.close()
    finally:
        sim.stop()


async def test_missed_finish_while_socket_down_is_read_from_history():
    from gentui.simulator import start_simulator

    sim = start_simulator(port=0, step_ms=20)
    try:
        async with ComfyProxy(sim.url) as proxy:
            b = make(proxy.url, poll_s=0.3)
            try:
                pid = await b.submit(JobParams.from_flat({**PARAMS, "steps": 5}))
                await b.ws.close()  # nobody listening while it runs and finishes
                await asyncio.sleep(0.4)
                out = await b.follow(pid, Recorder())
                assert out.status == "done" and len(out.images) == 1
            finally:
                await b.close()
    finally:
        sim.stop()


async def _one_running_one_pending(b):
    """Two 40-step prompts: the first followed until it makes progress, the second waiting behind it."""
    a = await b.submit(JobParams.from_flat({**PARAMS, "steps": 40}))
    c = await b.submit(JobParams.from_flat({**PARAMS, "steps": 40, "seed": 7}))
    rec = Recorder()
    task = asyncio.create_task(b.follow(a, rec))
    while "progress" not in rec.kinds:
        await asyncio.sleep(0.01)
    return a, c, task


async def test_interrupt_and_cancel_pending_fallback_path():
    from gentui.simulator import start_simulator

    sim = start_simulator(port=0, step_ms=30, jobs_api=False)
    b = make(sim.url, poll_s=0.3)
    try:
        assert (await b.health()).features["jobs_api"] is False
        a, c, task = await _one_running_one_pending(b)
        assert await b.lookup(c) == "pending" and await b.lookup(a) == "running"
        await b.cancel_pending(c)
        assert await b.lookup(c) == "unknown"
        await b.interrupt(a)
        out = await task
        assert out.status == "interrupted"
        cancelled = await b.follow(c, Recorder())
        assert cancelled.status == "interrupted" and cancelled.extra.get("cancelled")
    finally:
        await b.close()
        sim.stop()


async def test_jobs_api_cancels_running_and_pending():
    from gentui.simulator import start_simulator

    sim = start_simulator(port=0, step_ms=30, jobs_api=True)
    b = make(sim.url, poll_s=0.3)
    try:
        assert (await b.health()).features["jobs_api"] is True
        a, c, task = await _one_running_one_pending(b)
        await b.cancel_pending(c)
        await b.interrupt(a)
        assert (await task).status == "interrupted"
        assert (await b.follow(c, Recorder())).status == "interrupted"
        assert await b.lookup(c) in ("unknown", "finished")
    finally:
        await b.close()
        sim.stop()


async def test_pre_queued_job_events_are_kept_until_followed(simulator):
    b = make(simulator.url)
    try:
        a = await b.submit(JobParams.from_flat(PARAMS))
        c = await b.submit(JobParams.from_flat({**PARAMS, "seed": 99}))
        out_a = await b.follow(a, Recorder())
        rec = Recorder()
        out_c = await b.follow(c, rec)
        assert out_a.status == out_c.status == "done"
        assert "progress" in rec.kinds or "started" in rec.kinds
        assert Path(out_a.images[0].path).read_bytes() != Path(out_c.images[0].path).read_bytes()
    finally:
        await b.close()


async def test_server_down_gives_a_clear_error():
    b = make(f"http://127.0.0.1:{free_port()}")
    try:
        h = await b.health()
        assert not h.ok and "not reachable" in h.detail
        with pytest.raises(BackendUnavailable, match=r"not running.*\[backends\.comfyui\.launch\]"):
            await b.ensure_ready()
        with pytest.raises(BackendUnavailable, match="not reachable"):
            await b.submit(JobParams.from_flat(PARAMS))
    finally:
        await b.close()


async def test_server_killed_mid_job_reports_unavailable_with_last_error():
    from gentui.simulator import start_simulator

    sim = start_simulator(port=0, step_ms=50)
    b = make(sim.url, poll_s=0.2, unreachable_timeout_s=1.0)
    try:
        pid = await b.submit(JobParams.from_flat({**PARAMS, "steps": 100}))
        rec = Recorder()
        task = asyncio.create_task(b.follow(pid, rec))
        while "progress" not in rec.kinds:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(sim.stop)
        with pytest.raises(BackendUnavailable, match="stopped answering"):
            await task
    finally:
        await b.close()


async def test_runtime_error_is_a_failed_outcome_with_the_reason(simulator):
    b = make(simulator.url)
    try:
        graph = copy.deepcopy(b.bind(JobParams.from_flat(PARAMS)))
        graph["9"]["inputs"]["steps"] = 0
        with pytest.raises(ValidationFailed, match="KSampler"):
            await b.submit_graph(graph)
    finally:
        await b.close()


@pytest.mark.parametrize("metadata", [True, False])
async def test_binary_previews_reach_the_follower(metadata):
    from gentui.simulator import start_simulator

    sim = start_simulator(port=0, step_ms=5, preview=True)
    b = make(sim.url)
    try:
        b.ws.preview_metadata = metadata  # False: legacy event-1 frames without a prompt id
        _, out, rec = await run_one(b, {**PARAMS, "steps": 4})
        assert out.status == "done"
        previews = [e for e in rec.events if e.kind == "preview"]
        assert previews and all(e.preview[:2] in (b"\xff\xd8", b"\x89P") for e in previews)
    finally:
        await b.close()
        sim.stop()


async def test_truncated_choice_list_is_completed_from_models_folder():
    from gentui.simulator import start_simulator

    loras = [f"char-{i:02d}.safetensors" for i in range(30)] + ["anima-turbo-lora-v0.2.safetensors"]
    models = {"diffusion_models": ["waiANIMA_v10.safetensors"], "text_encoders": ["qwen_3_06b_base.safetensors"],
              "vae": ["qwen_image_vae.safetensors"], "loras": loras}
    sim = start_simulator(port=0, step_ms=2, models=models, jobs_api=True)
    b = make(sim.url)
    try:
        with pytest.raises(ValidationFailed) as ei:
            await b.submit(JobParams.from_flat({**PARAMS, "lora_name": "nope.safetensors"}))
        msg = str(ei.value)
        assert "char-29.safetensors" in msg and "list of length" not in msg
    finally:
        await b.close()
        sim.stop()


async def test_broken_model_fails_at_run_time_with_the_reason():
    from gentui.simulator import start_simulator

    sim = start_simulator(port=0, step_ms=2, models={"models": {
        "diffusion_models": ["waiANIMA_v10.safetensors"], "text_encoders": ["qwen_3_06b_base.safetensors"],
        "vae": ["qwen_image_vae.safetensors"], "loras": ["anima-turbo-lora-v0.2.safetensors"]},
        "broken": {"loras": ["kanachan-v4.safetensors"]}})
    b = make(sim.url)
    try:
        await b.validate(JobParams.from_flat(PARAMS))
        _, out, rec = await run_one(b)
        assert out.status == "failed" and "Character LoRA" in out.error
        assert rec.kinds[-1] == "failed"
    finally:
        await b.close()
        sim.stop()


async def test_unwritable_output_dir_fails_the_job_without_partial_files(simulator, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    b = make(simulator.url)
    b.download_dir = blocker / "incoming"
    try:
        _, out, _ = await run_one(b)
        assert out.status == "failed" and "cannot write" in out.error
        assert out.images == []
    finally:
        await b.close()


async def test_a_restarted_client_recovers_a_finished_prompt(simulator):
    first = make(simulator.url)
    pid = await first.submit(JobParams.from_flat(PARAMS))
    await first.follow(pid, Recorder())
    await first.close()
    second = make(simulator.url)  # new process, new client id: no events for this prompt
    try:
        assert await second.lookup(pid) == "finished"
        t0 = asyncio.get_running_loop().time()
        out = await second.follow(pid, Recorder())
        assert out.status == "done" and len(out.images) == 1 and out.submitted_graph
        assert asyncio.get_running_loop().time() - t0 < 1.0
    finally:
        await second.close()
