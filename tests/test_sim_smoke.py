"""Smoke test of the ComfyUI simulator through the shared `simulator` fixture."""

from __future__ import annotations

import json

import httpx
from websockets.sync.client import connect


def _graph(seed: int = 42) -> dict:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "waiIllustriousSDXL_v160.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": 3,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "smoke", "images": ["8", 0]}},
    }


def test_fixture_runs_a_prompt_end_to_end(simulator):
    ws_url = simulator.url.replace("http://", "ws://") + "/ws?clientId=smoke"
    with connect(ws_url) as ws, httpx.Client(base_url=simulator.url, timeout=5) as http:
        hello = json.loads(ws.recv())
        assert hello == {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "smoke"}}
        reply = http.post("/prompt", json={"prompt": _graph(), "client_id": "smoke"}).json()
        pid = reply["prompt_id"]
        types = []
        while True:
            msg = json.loads(ws.recv(timeout=5))
            types.append(msg["type"])
            if msg["type"] == "executing" and msg["data"]["node"] is None:
                assert msg["data"]["prompt_id"] == pid
                break
        assert types.count("progress") == 3 and "execution_success" in types
        entry = http.get(f"/history/{pid}").json()[pid]
        image = entry["outputs"]["9"]["images"][0]
        assert image == {"filename": "smoke_00001_.png", "subfolder": "", "type": "output"}
        png = http.get("/view", params=image)
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        stats = http.get("/system_stats").json()
        assert stats["system"]["simulator"] is True and stats["devices"][0]["name"] == "gentui-simulator"
