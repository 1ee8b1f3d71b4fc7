"""Node classes beyond the captures: the built-in workflows, SaveImageWebsocket, KSamplerAdvanced and friends."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sim_support import Recorder

from gentui.simulator import Simulator

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"


@pytest.fixture
async def sim():
    async with Simulator(step_ms=1) as s:
        yield s


async def run(sim: Simulator, graph: dict, rec: Recorder, http: httpx.AsyncClient) -> tuple[str, int]:
    mark = rec.mark()
    reply = await http.post("/prompt", json={"prompt": graph, "client_id": rec.client_id})
    assert reply.status_code == 200, reply.text
    pid = reply.json()["prompt_id"]
    await rec.wait_done(pid, mark)
    return pid, mark


@pytest.mark.parametrize("name", ["anima", "sdxl"])
async def test_builtin_workflows_run_in_topological_order(sim, name):
    graph = json.loads((WORKFLOWS / f"{name}.json").read_text())
    for node in graph.values():
        if node["class_type"].startswith("LoraLoader") and not node["inputs"]["lora_name"]:
            node["inputs"]["lora_name"] = "lily-v2.safetensors"
    async with Recorder(sim.url, "w") as rec, httpx.AsyncClient(base_url=sim.url) as http:
        pid, mark = await run(sim, graph, rec, http)
        order = [m["data"]["node"] for m in rec.of_type("executing", mark) if m["data"]["node"]]
        assert sorted(order) == sorted(graph)
        for position, nid in enumerate(order):  # every input ran before its consumer
            for value in graph[nid]["inputs"].values():
                if isinstance(value, list):
                    assert order.index(value[0]) < position
        entry = (await http.get(f"/history/{pid}")).json()[pid]
        image = next(iter(entry["outputs"].values()))["images"][0]
        png = (await http.get("/view", params=image)).content
        latent = next(n for n in graph.values() if n["class_type"] == "EmptyLatentImage")["inputs"]
        assert Image.open(io.BytesIO(png)).size == (latent["width"], latent["height"])


async def test_save_image_websocket_sends_the_png_and_never_caches(sim):
    graph = {
        "1": {
            "class_type": "UNETLoader",
            "inputs": {"unet_name": "anima-base-v1.0.safetensors", "weight_dtype": "default"},
        },
        "2": {
            "class_type": "CLIPLoader",
            "inputs": {"clip_name": "qwen_3_06b_base.safetensors", "type": "stable_diffusion"},
        },
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": "qwen_image_vae.safetensors"}},
        "4": {"class_type": "ModelSamplingAuraFlow", "inputs": {"model": ["1", 0], "shift": 3.0}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "a girl", "clip": ["2", 0]}},
        "6": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["5", 0]}},
        "7": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 48, "batch_size": 1}},
        "8": {
            "class_type": "KSamplerAdvanced",
            "inputs": {
                "model": ["4", 0],
                "add_noise": "enable",
                "noise_seed": 3,
                "steps": 10,
                "cfg": 1.0,
                "sampler_name": "euler",
                "scheduler": "simple",
                "positive": ["5", 0],
                "negative": ["6", 0],
                "latent_image": ["7", 0],
                "start_at_step": 2,
                "end_at_step": 6,
                "return_with_leftover_noise": "disable",
            },
        },
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["3", 0]}},
        "11": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["9", 0]}},
    }
    async with (
        Recorder(sim.url, "m", features=True) as rec,
        Recorder(sim.url, "l") as legacy,
        httpx.AsyncClient(base_url=sim.url) as http,
    ):
        _, mark = await run(sim, graph, rec, http)
        steps = [m["data"]["value"] for m in rec.of_type("progress", mark) if m["data"]["node"] == "8"]
        assert steps == [1, 2, 3, 4]  # end_at_step - start_at_step
        shapes = rec.shapes(mark)
        i = shapes.index(("binary", 4))
        assert shapes[i + 1] == ("progress", ("max", "node", "prompt_id", "value"))
        frame = next(m for m in rec.msgs[mark:] if m.get("binary"))
        assert frame["metadata"]["image_type"] == "image/png" and frame["metadata"]["node_id"] == "11"
        image = Image.open(io.BytesIO(frame["image"]))
        assert image.size == (64, 48) and not image.text  # no metadata in websocket images
        ws_progress = [m["data"] for m in rec.of_type("progress", mark) if m["data"]["node"] == "11"]
        assert [(p["value"], p["max"]) for p in ws_progress] == [(0, 1)]
        assert not rec.of_type("executed", mark)
        # Resubmitting: everything but the websocket saver is cached; it runs again.
        _, mark = await run(sim, graph, rec, http)
        cached = rec.of_type("execution_cached", mark)[0]["data"]["nodes"]
        assert "11" not in cached and {"8", "9"} <= set(cached)
        assert [m["data"]["node"] for m in rec.of_type("executing", mark)] == ["11", None]
        # A legacy client asking for the same run gets event 1 with format 2 (PNG).
        lmark = legacy.mark()
        await run(sim, graph, legacy, http)
        frame = next(m for m in legacy.msgs[lmark:] if m.get("binary"))
        assert (frame["event_type"], frame["format"], frame["image"][:4]) == (1, 2, b"\x89PNG")


async def test_clip_set_last_layer_changes_the_picture(sim):
    graph = json.loads((WORKFLOWS / "sdxl.json").read_text())
    graph["2"]["inputs"]["lora_name"] = "kanachan-v4.safetensors"
    async with Recorder(sim.url, "c") as rec, httpx.AsyncClient(base_url=sim.url) as http:
        pid1, _ = await run(sim, graph, rec, http)
        clip_users = [nid for nid, n in graph.items() if n["inputs"].get("clip") == ["2", 1]]
        graph["20"] = {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["2", 1], "stop_at_clip_layer": -2}}
        for nid in clip_users:
            graph[nid]["inputs"]["clip"] = ["20", 0]
        pid2, _ = await run(sim, graph, rec, http)
        files = []
        for pid in (pid1, pid2):
            image = next(iter((await http.get(f"/history/{pid}")).json()[pid]["outputs"].values()))["images"][0]
            files.append(Image.open(io.BytesIO((await http.get("/view", params=image)).content)).tobytes())
    assert files[0] != files[1]


async def test_experiment_models_listing(sim):
    async with httpx.AsyncClient(base_url=sim.url) as http:
        folders = (await http.get("/experiment/models")).json()
        loras = (await http.get("/experiment/models/loras")).json()
        assert (await http.get("/experiment/models/nope")).status_code == 404
    assert "loras" in [f["name"] for f in folders] and "configs" not in [f["name"] for f in folders]
    assert [entry["name"] for entry in loras] == (await _names(sim, "loras"))
    assert set(loras[0]) == {"name", "pathIndex", "modified", "created", "size"}


async def _names(sim: Simulator, folder: str) -> list[str]:
    async with httpx.AsyncClient(base_url=sim.url) as http:
        return (await http.get(f"/models/{folder}")).json()
