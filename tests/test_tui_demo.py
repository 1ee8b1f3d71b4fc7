"""`gentui --demo` preparation: simulator started detached, demo config written, the sweep queued."""

from __future__ import annotations

import json
import os
import signal

import httpx
from sqlmodel import select

from gentui.catalog.db import open_catalog
from gentui.catalog.models import Job
from gentui.config import load_settings
from gentui.params import JobParams
from gentui.tui.demo import prepare_demo
from gentui.tui.launch import prepare_images


def test_prepare_demo_starts_the_simulator_and_queues_the_sweep(gentui_home):
    settings = prepare_demo(load_settings())
    demo = gentui_home / "demo"
    info = json.loads((demo / "sim.json").read_text())
    try:
        assert settings.data_dir == demo and settings.source == demo / "config.toml"
        assert settings.backends["comfyui"].url == info["url"]
        assert httpx.get(info["url"] + "/system_stats", timeout=2).status_code == 200
        catalog = open_catalog(settings.catalog_path)
        with catalog.session() as s:
            jobs = list(s.exec(select(Job)))
        assert sorted(JobParams.from_json(j.params).weight for j in jobs) == [0.4, 0.6, 0.8, 1.0, 1.2]
        assert {j.state for j in jobs} == {"queued"}
        # a second demo reuses the simulator and queues the same sweep with a fresh seed
        again = prepare_demo(load_settings())
        assert json.loads((demo / "sim.json").read_text())["pid"] == info["pid"]
        with catalog.session() as s:
            assert len(list(s.exec(select(Job)))) == 10
        assert again.catalog_path == settings.catalog_path
        catalog.close()
    finally:
        os.kill(int(info["pid"]), signal.SIGTERM)


def test_prepare_images_never_raises():
    prepare_images("halfblock")
    prepare_images("auto")
