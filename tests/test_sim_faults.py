"""Fault switches of the threaded simulator handle: kill, restart, dropped sockets, a frozen server, hostile names."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from gentui.simulator import start_simulator


def graph(seed: int, steps: int) -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "waiIllustriousSDXL_v160.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "1girl", "clip": ["1", 1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "4": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": steps,
                "cfg": 6.0,
                "sampler_name": "euler_ancestral",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["1", 0],
                "positive": ["2", 0],
                "negative": ["2", 0],
                "latent_image": ["3", 0],
            },
        },
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"filename_prefix": "f", "images": ["5", 0]}},
    }


def recv_until(ws, pred, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        raw = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(raw, str):
            msg = json.loads(raw)
            if pred(msg):
                return msg


def done(pid: str):
    return lambda m: m["type"] == "executing" and m["data"].get("node") is None and m["data"].get("prompt_id") == pid


@pytest.fixture
def sim(tmp_path):
    handle = start_simulator(port=0, step_ms=20, output_dir=tmp_path / "out")
    yield handle
    handle.stop()


def ws_url(handle, cid: str) -> str:
    return handle.url.replace("http://", "ws://") + f"/ws?clientId={cid}"


def test_kill_mid_job_then_restart_on_the_same_port(sim, tmp_path):
    with httpx.Client(base_url=sim.url, timeout=5) as http, connect(ws_url(sim, "k")) as ws:
        pid = http.post("/prompt", json={"prompt": graph(1, 2), "client_id": "k"}).json()["prompt_id"]
        recv_until(ws, done(pid))
        long = http.post("/prompt", json={"prompt": graph(2, 500), "client_id": "k"}).json()["prompt_id"]
        recv_until(ws, lambda m: m["type"] == "progress")
        port = sim.port
        sim.kill()
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=5)
    with pytest.raises(httpx.ConnectError):
        httpx.get(sim.url + "/system_stats", timeout=2)
    sim.restart()
    assert sim.port == port
    with httpx.Client(base_url=sim.url, timeout=5) as http:
        assert http.get(f"/history/{long}").json() == {}  # history is lost on restart
        assert http.get("/history").json() == {}
        assert http.get("/queue").json() == {"queue_running": [], "queue_pending": []}
        with connect(ws_url(sim, "k")) as ws:
            pid = http.post("/prompt", json={"prompt": graph(3, 2), "client_id": "k"}).json()["prompt_id"]
            recv_until(ws, done(pid))
        image = http.get(f"/history/{pid}").json()[pid]["outputs"]["6"]["images"][0]
    assert image["filename"] == "f_00002_.png"  # files survive, the counter continues
    assert (tmp_path / "out" / "f_00001_.png").exists()


def test_dropped_websocket_does_not_stop_the_job(sim):
    with httpx.Client(base_url=sim.url, timeout=5) as http:
        with connect(ws_url(sim, "d")) as ws:
            pid = http.post("/prompt", json={"prompt": graph(4, 10), "client_id": "d"}).json()["prompt_id"]
            recv_until(ws, lambda m: m["type"] == "progress")
            assert sim.drop_websockets() == 1
            with pytest.raises(ConnectionClosed):
                while True:
                    ws.recv(timeout=5)
        with connect(ws_url(sim, "d")) as ws:
            first = json.loads(ws.recv(timeout=5))
            assert first["type"] == "status" and first["data"]["sid"] == "d"
            recv_until(ws, done(pid))
        assert http.get(f"/history/{pid}").json()[pid]["status"]["status_str"] == "success"


def test_frozen_server_stops_answering_until_thawed(sim):
    with httpx.Client(base_url=sim.url, timeout=5) as http, connect(ws_url(sim, "f")) as ws:
        pid = http.post("/prompt", json={"prompt": graph(5, 10), "client_id": "f"}).json()["prompt_id"]
        recv_until(ws, lambda m: m["type"] == "progress")
        sim.freeze()
        with pytest.raises(httpx.ReadTimeout):
            http.get("/system_stats", timeout=0.3)
        with pytest.raises(TimeoutError):
            recv_until(ws, done(pid), timeout=0.4)
        sim.thaw()
        recv_until(ws, done(pid))
        assert http.get("/system_stats").status_code == 200


def test_hostile_file_names_are_reported_but_not_served(sim, tmp_path):
    sim.report_filenames("../../evil.png", "../..")
    with httpx.Client(base_url=sim.url, timeout=5) as http, connect(ws_url(sim, "h")) as ws:
        pid = http.post("/prompt", json={"prompt": graph(6, 1), "client_id": "h"}).json()["prompt_id"]
        executed = recv_until(ws, lambda m: m["type"] == "executed")
        recv_until(ws, done(pid))
        image = http.get(f"/history/{pid}").json()[pid]["outputs"]["6"]["images"][0]
        assert executed["data"]["output"]["images"][0] == image
        assert image == {"filename": "../../evil.png", "subfolder": "../..", "type": "output"}
        assert http.get("/view", params=image).status_code == 400
    assert (tmp_path / "out" / "f_00001_.png").exists()
    sim.report_filenames(None, None)


def test_stop_removes_only_the_folders_it_created(tmp_path):
    own = start_simulator(port=0, step_ms=1)
    theirs = start_simulator(port=0, step_ms=1, output_dir=tmp_path / "keep")
    own_dir, their_dir = own.output_dir, theirs.output_dir
    assert own_dir.exists() and their_dir.exists()
    own.stop()
    theirs.stop()
    assert not own_dir.exists() and their_dir.exists()


def test_history_race_can_be_widened(sim):
    sim.delay_history(150)
    with httpx.Client(base_url=sim.url, timeout=5) as http, connect(ws_url(sim, "r")) as ws:
        pid = http.post("/prompt", json={"prompt": graph(7, 1), "client_id": "r"}).json()["prompt_id"]
        recv_until(ws, lambda m: m["type"] == "execution_success")
        assert http.get(f"/history/{pid}").json() == {}  # what a client reading too early gets
        recv_until(ws, done(pid))
        assert pid in http.get(f"/history/{pid}").json()
    sim.delay_history(0)
