"""The simulator's images: deterministic bytes, every parameter visible, SaveImage's naming and metadata."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sim_support import Recorder

from gentui.simulator import Simulator
from gentui.simulator.render import encode_png, render_scene

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"


def anima(seed: int = 1293127692, weight: float = 0.8, text: str = "2girls, kanachan left, lily right") -> dict:
    g = json.loads((WORKFLOWS / "anima.json").read_text())
    g["3"]["inputs"].update(lora_name="kanachan-v4.safetensors", strength_model=weight)
    g["6"]["inputs"]["text"] = text
    g["9"]["inputs"]["seed"] = seed
    return g


async def _render(sim: Simulator, graph: dict, extra: dict | None = None) -> tuple[dict, bytes]:
    async with httpx.AsyncClient(base_url=sim.url) as http, Recorder(sim.url, "r") as rec:
        body = {"prompt": graph, "client_id": "r", **({"extra_data": extra} if extra else {})}
        reply = await http.post("/prompt", json=body)
        assert reply.status_code == 200, reply.text
        pid = reply.json()["prompt_id"]
        await rec.wait_done(pid)
        entry = (await http.get(f"/history/{pid}")).json()[pid]
        assert entry["status"]["status_str"] == "success", entry["status"]
        image = next(iter(entry["outputs"].values()))["images"][0]
        return image, (await http.get("/view", params=image)).content


def pixels(png: bytes) -> bytes:
    return Image.open(io.BytesIO(png)).convert("RGB").tobytes()


async def test_same_graph_gives_identical_bytes_on_two_servers(tmp_path):
    async with (
        Simulator(step_ms=1, output_dir=tmp_path / "a") as one,
        Simulator(step_ms=1, output_dir=tmp_path / "b") as two,
    ):
        (img1, png1), (img2, png2) = await _render(one, anima()), await _render(two, anima())
    assert img1 == img2 == {"filename": "gentui_00001_.png", "subfolder": "", "type": "output"}
    assert png1 == png2
    assert Image.open(io.BytesIO(png1)).size == (888, 768)


async def test_weight_sweep_1_0_4_1_recomputes_and_reproduces_the_first_image():
    async with Simulator(step_ms=1) as sim:
        a = await _render(sim, anima(weight=1.0))
        b = await _render(sim, anima(weight=0.4))
        c = await _render(sim, anima(weight=1.0))
    assert a[0]["filename"] != b[0]["filename"] != c[0]["filename"]  # recomputed, new files
    assert a[1] == c[1] and pixels(a[1]) != pixels(b[1])


async def test_png_carries_prompt_and_workflow_chunks():
    graph = anima()
    workflow = {"id": "wf-1", "nodes": []}
    async with Simulator(step_ms=1) as sim:
        _, png = await _render(sim, graph, {"extra_pnginfo": {"workflow": workflow}})
    text = Image.open(io.BytesIO(png)).text
    assert json.loads(text["prompt"]) == graph and json.loads(text["workflow"]) == workflow
    assert list(text) == ["prompt", "workflow"]


BASE = {
    "width": 256,
    "height": 192,
    "batch": 1,
    "seed": 7,
    "steps": 8,
    "cfg": 1.0,
    "sampler": "er_sde",
    "scheduler": "simple",
    "denoise": 1.0,
    "positive": "2girls",
    "negative": "blurry",
    "models": ["waiANIMA_v10.safetensors", "qwen_3_06b_base.safetensors", "stable_diffusion"],
    "loras": [["anima-turbo-lora-v0.2.safetensors", 1.0, None], ["kanachan-v4.safetensors", 0.8, None]],
    "extra": {"dtype": "default"},
    "vae": "qwen_image_vae.safetensors",
}


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 8},
        {"positive": "2girls, smiling"},
        {"negative": "lowres"},
        {"steps": 30},
        {"cfg": 4.0},
        {"sampler": "euler"},
        {"scheduler": "karras"},
        {"models": ["anima-base-v1.0.safetensors"]},
        {"vae": "other.safetensors"},
        {"loras": [["anima-turbo-lora-v0.2.safetensors", 1.0, None], ["kanachan-v4.safetensors", 0.6, None]]},
        {"loras": [["anima-turbo-lora-v0.2.safetensors", 1.0, None], ["lily-v2.safetensors", 0.8, None]]},
        {"loras": [["anima-turbo-lora-v0.2.safetensors", 0.5, None], ["kanachan-v4.safetensors", 0.8, None]]},
    ],
)
def test_every_parameter_changes_the_pixels(change):
    base = render_scene(BASE).tobytes()
    assert render_scene({**copy.deepcopy(BASE), **change}).tobytes() != base
    assert render_scene(copy.deepcopy(BASE)).tobytes() == base


def test_size_follows_the_latent():
    # speed is measured in bench/simulator.py, not asserted here
    img = render_scene({**BASE, "width": 888, "height": 768})
    assert img.size == (888, 768)
    assert encode_png(img, {"prompt": "{}"}).startswith(b"\x89PNG")


async def test_lora_at_zero_is_the_unpatched_model_and_bypass_matches():
    with_zero = anima(weight=0.0)
    bypassed = copy.deepcopy(with_zero)
    del bypassed["3"]
    bypassed["9"]["inputs"]["model"] = ["2", 0]
    async with Simulator(step_ms=1) as sim:
        zero = await _render(sim, with_zero)
        none = await _render(sim, bypassed)
    assert pixels(zero[1]) == pixels(none[1])


async def test_counter_grows_across_prompts_and_continues_after_existing_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "gentui_00007_.png").write_bytes(b"old")
    (out / "gentuix_00099_.png").write_bytes(b"other prefix")
    async with Simulator(step_ms=1, output_dir=out) as sim:
        first = await _render(sim, anima(seed=1))
        second = await _render(sim, anima(seed=2))
        sub = anima(seed=3)
        sub["11"]["inputs"]["filename_prefix"] = "sweep-a/kana"
        third = await _render(sim, sub)
        batch = anima(seed=4)
        batch["8"]["inputs"]["batch_size"] = 2
        async with httpx.AsyncClient(base_url=sim.url) as http, Recorder(sim.url, "b") as rec:
            pid = (await http.post("/prompt", json={"prompt": batch, "client_id": "b"})).json()["prompt_id"]
            await rec.wait_done(pid)
            images = (await http.get(f"/history/{pid}")).json()[pid]["outputs"]["11"]["images"]
    assert [first[0]["filename"], second[0]["filename"]] == ["gentui_00008_.png", "gentui_00009_.png"]
    assert third[0] == {"filename": "kana_00001_.png", "subfolder": "sweep-a", "type": "output"}
    assert (out / "sweep-a" / "kana_00001_.png").read_bytes() == third[1]
    assert [i["filename"] for i in images] == ["gentui_00010_.png", "gentui_00011_.png"]
    assert pixels((out / images[0]["filename"]).read_bytes()) != pixels((out / images[1]["filename"]).read_bytes())


async def test_preview_image_goes_to_temp_and_escaping_prefix_fails_the_run(tmp_path):
    out = tmp_path / "out"
    graph = anima()
    graph["12"] = {"class_type": "PreviewImage", "inputs": {"images": ["10", 0]}}
    del graph["11"]
    async with Simulator(step_ms=1, output_dir=out) as sim:
        image, png = await _render(sim, graph)
        assert image["type"] == "temp" and image["filename"].startswith("ComfyUI_temp_") and png[:4] == b"\x89PNG"
        evil = anima(seed=5)
        evil["11"]["inputs"]["filename_prefix"] = "../../escaped"
        async with httpx.AsyncClient(base_url=sim.url) as http, Recorder(sim.url, "e") as rec:
            pid = (await http.post("/prompt", json={"prompt": evil, "client_id": "e"})).json()["prompt_id"]
            err = await rec.wait_for(lambda m: m.get("type") == "execution_error")
            await rec.wait_done(pid)
    assert err["data"]["node_type"] == "SaveImage" and "outside the output folder" in err["data"]["exception_message"]
    assert not list(tmp_path.glob("escaped*")) and not list(tmp_path.parent.glob("escaped*"))


async def test_unwritable_output_fails_the_run_with_the_reason(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "blocker").write_text("a file where a folder should be")
    graph = anima()
    graph["11"]["inputs"]["filename_prefix"] = "blocker/kana"
    async with Simulator(step_ms=1, output_dir=out) as sim:
        async with httpx.AsyncClient(base_url=sim.url) as http, Recorder(sim.url, "u") as rec:
            pid = (await http.post("/prompt", json={"prompt": graph, "client_id": "u"})).json()["prompt_id"]
            err = await rec.wait_for(lambda m: m.get("type") == "execution_error")
            await rec.wait_done(pid)
            entry = (await http.get(f"/history/{pid}")).json()[pid]
    assert err["data"]["node_id"] == "11" and err["data"]["exception_type"] in ("FileExistsError", "NotADirectoryError")
    assert entry["status"]["status_str"] == "error" and entry["outputs"] == {}
    assert sorted(p.name for p in out.iterdir()) == ["blocker"]
