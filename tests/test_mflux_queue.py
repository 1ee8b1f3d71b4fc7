"""The worker drives the mflux backend (stand-in executable): results land with mflux's metadata;
on a machine where mflux cannot run, the jobs stay queued."""

from __future__ import annotations

import asyncio
import json

from mflux_standin import standin_env, write_standin

from gentui.backends.mflux import MfluxBackend
from gentui.catalog.db import open_catalog
from gentui.config import settings_from_dict
from gentui.queue.plan import plan_sweep, queue_plan
from gentui.queue.store import JobStore
from gentui.queue.sweep import sweep_from_dict
from gentui.queue.worker import Worker


def setup(tmp_path, monkeypatch):
    write_standin(tmp_path / "bin")
    standin_env(monkeypatch, tmp_path / "bin")
    loras = tmp_path / "loras"
    loras.mkdir()
    (loras / "kanachan-v4.safetensors").write_bytes(b"lora")
    settings = settings_from_dict({
        "backends": {"mac": {"type": "mflux", "lora_dir": str(loras), "model": "flux2-klein-9b"}},
        "defaults": {"backend": "mac", "lora": "kanachan-v4.safetensors"},
    })  # fmt: skip
    catalog = open_catalog(settings.catalog_path)
    raw = {"name": "klein", "prompt": {"text": "2girls, side by side, red ribbon"},
           "params": {"skip_translate": True, "width": 128, "height": 128, "steps": 3, "cfg": 1.0},
           "axes": {"weights": [0.6, 1.0], "seeds": [42]}}
    queue_plan(catalog, plan_sweep(sweep_from_dict(raw, "klein.toml"), settings, catalog))
    return settings, catalog


def run(settings, catalog, platform_id, timeout=20.0, stop_after=None):
    def make(name, s):
        return MfluxBackend(name, s.backends[name], s.data_dir / "mflux-runs", platform_id=platform_id)

    worker = Worker(settings, catalog, ["mac"], exit_when_idle=True, log=lambda m: None, make_backend=make,
                    stop_when=stop_after)

    async def go():
        await asyncio.wait_for(worker.run(), timeout)

    asyncio.run(go())


def test_sweep_on_mflux_end_to_end(tmp_path, monkeypatch):
    settings, catalog = setup(tmp_path, monkeypatch)
    run(settings, catalog, ("Darwin", "arm64"))
    jobs = JobStore(catalog).list(sweep="klein")
    assert [j.state for j in jobs] == ["done", "done"], [j.error for j in jobs]
    side = json.loads(next((settings.output_dir / "klein").glob("*w0.6.json")).read_text())
    assert side["backend"] == "mac" and side["seed"] == 42 and side["lora_strength"] == 0.6
    meta = side["backend_extra"]["mflux_metadata"]
    assert meta["model"] == "black-forest-labs/FLUX.2-klein-9B" and meta["lora_scales"] == [0.6]
    assert meta["steps"] == 3 and meta["prompt"] == "2girls, side by side, red ribbon"
    assert side["workflow_api"]["argv"][:3] == ["mflux-generate-flux2", "-m", "flux2-klein-9b"]
    assert all(j.step == j.total == 3 for j in jobs)


def test_jobs_stay_queued_where_mflux_cannot_run(tmp_path, monkeypatch):
    settings, catalog = setup(tmp_path, monkeypatch)
    messages = []

    def stop():
        return any("Apple Silicon" in m for m in messages)  # the lane said why: enough

    def make(name, s):
        return MfluxBackend(name, s.backends[name], s.data_dir / "mflux-runs", platform_id=("Linux", "x86_64"))

    worker = Worker(settings, catalog, ["mac"], exit_when_idle=False, log=messages.append, make_backend=make,
                    stop_when=stop)

    async def go():
        await asyncio.wait_for(worker.run(), 20)

    asyncio.run(go())
    assert [j.state for j in JobStore(catalog).list(sweep="klein")] == ["queued", "queued"]
    assert any("Apple Silicon" in m for m in messages), messages
