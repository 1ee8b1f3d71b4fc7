"""Helpers shared by the queue tests: settings for a simulator, queueing a small sweep, running a worker."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import httpx

from gentui.catalog.db import open_catalog
from gentui.config import settings_from_dict
from gentui.queue.plan import plan_sweep, queue_plan
from gentui.queue.sweep import sweep_from_dict
from gentui.queue.worker import Worker


def sim_settings(url: str, **backend: Any):
    b = {"url": url, "unreachable_timeout_s": 1.0, **backend}
    return settings_from_dict({"backends": {"comfyui": b}})


def write_config(url: str, **backend: Any) -> Path:
    """A config file in GENTUI_HOME so subprocess workers find the simulator."""
    home = Path(os.environ["GENTUI_HOME"])
    lines = ["[backends.comfyui]", f'url = "{url}"', "unreachable_timeout_s = 1.0"]
    lines += [f"{k} = {v!r}" for k, v in backend.items()]
    path = home / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def queue(settings, catalog, weights=(0.6, 0.8, 1.0), steps: int = 4, name: str = "t", **params: Any):
    raw = {"name": name, "prompt": {"text": "2girls, side by side, red ribbon"},
           "params": {"lora_name": "kanachan-v4.safetensors", "skip_translate": True, "width": 64,
                      "height": 64, "steps": steps, **params},
           "axes": {"weights": list(weights), "seeds": [1293127692]}}
    return queue_plan(catalog, plan_sweep(sweep_from_dict(raw, f"{name}.toml"), settings, catalog))


def catalog_for(settings):
    return open_catalog(settings.catalog_path)


def queued(simulator, weights=(0.6, 0.8, 1.0), **kw: Any):
    """Settings for `simulator`, their catalog, and the ids of a sweep queued in it."""
    settings = sim_settings(simulator.url)
    catalog = catalog_for(settings)
    return settings, catalog, queue(settings, catalog, weights, **kw).added


def fast_backend(name, settings):
    """The real ComfyUI client, polling more often so fault tests finish quickly."""
    from gentui.backends.registry import make_backend

    return make_backend(name, settings, poll_s=0.25)


def make_worker(settings, catalog, **kw: Any) -> Worker:
    kw.setdefault("log", lambda m: None)
    kw.setdefault("make_backend", fast_backend)
    kw.setdefault("exit_when_idle", True)
    return Worker(settings, catalog, ["comfyui"], **kw)


def run_worker(settings, catalog, timeout: float = 20, **kw: Any) -> Worker:
    worker = make_worker(settings, catalog, **kw)

    async def go() -> None:
        await asyncio.wait_for(worker.run(), timeout)

    asyncio.run(go())
    return worker


def server_queue(url: str) -> tuple[list[str], list[str]]:
    q = httpx.get(f"{url}/queue", timeout=5).json()
    return [i[1] for i in q["queue_running"]], [i[1] for i in q["queue_pending"]]


def server_history(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/history", timeout=5).json()


async def wait_for(cond, timeout: float = 10.0, every: float = 0.01, what: str = "") -> None:
    t0 = time.monotonic()
    while True:
        res = await asyncio.to_thread(cond)  # conditions do blocking I/O: keep the loop free
        if res:
            return
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"condition not met in time: {what}" if what else "condition not met in time")
        await asyncio.sleep(every)


def job_states(catalog) -> dict[int, str]:
    from sqlalchemy import text

    with catalog.engine.connect() as conn:
        return {r[0]: r[1] for r in conn.execute(text("SELECT id, state FROM job ORDER BY id"))}


def control(catalog, settings=None):
    """The queue-control service the TUI and `gentui jobs` use, on this catalog."""
    from gentui.config import Settings
    from gentui.queue.control import QueueService

    return QueueService(settings or Settings(), catalog)
