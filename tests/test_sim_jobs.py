"""The simulator's Jobs API (newer ComfyUI), on and off."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sim_support import Recorder

from gentui.simulator import Simulator


def graph(seed: int, steps: int = 3, prefix: str = "jobs") -> dict:
    return {
        "1": {
            "class_type": "UNETLoader",
            "inputs": {"unet_name": "waiANIMA_v10.safetensors", "weight_dtype": "default"},
        },
        "2": {
            "class_type": "CLIPLoader",
            "inputs": {"clip_name": "qwen_3_06b_base.safetensors", "type": "stable_diffusion"},
        },
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": "qwen_image_vae.safetensors"}},
        "4": {
            "class_type": "LoraLoaderModelOnly",
            "inputs": {"model": ["1", 0], "lora_name": "anima-turbo-lora-v0.2.safetensors", "strength_model": 1.0},
        },
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "two girls", "clip": ["2", 0]}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 0]}},
        "7": {"class_type": "EmptyLatentImage", "inputs": {"width": 96, "height": 64, "batch_size": 1}},
        "8": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": steps,
                "cfg": 1.0,
                "sampler_name": "er_sde",
                "scheduler": "simple",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["5", 0],
                "negative": ["6", 0],
                "latent_image": ["7", 0],
            },
        },
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["3", 0]}},
        "10": {"class_type": "SaveImage", "inputs": {"filename_prefix": prefix, "images": ["9", 0]}},
    }


@pytest.fixture
async def jobs_sim():
    async with Simulator(step_ms=40, jobs_api=True) as s:
        yield s


async def _submit(http: httpx.AsyncClient, seed: int, steps: int = 3) -> str:
    pid = str(uuid.uuid4())
    reply = await http.post("/prompt", json={"prompt": graph(seed, steps), "client_id": "main", "prompt_id": pid})
    assert reply.status_code == 200, reply.text
    return pid


async def test_cancel_running_pending_finished_and_unknown(jobs_sim):
    async with httpx.AsyncClient(base_url=jobs_sim.url) as http, Recorder(jobs_sim.url, "main") as main:
        done = await _submit(http, 1, steps=1)
        await main.wait_done(done)
        running = await _submit(http, 2, steps=50)
        pending = await _submit(http, 3)
        await main.wait_for(lambda m: m.get("type") == "progress" and m["data"]["prompt_id"] == running)
        assert (await http.get(f"/api/jobs/{running}")).json()["status"] == "in_progress"
        assert (await http.get(f"/api/jobs/{pending}")).json()["status"] == "pending"

        assert (await http.post(f"/api/jobs/{pending}/cancel")).json() == {"cancelled": True}
        assert (await http.get(f"/api/jobs/{pending}")).status_code == 404
        assert (await http.post(f"/api/jobs/{running}/cancel")).json() == {"cancelled": True}
        interrupted = await main.wait_for(lambda m: m.get("type") == "execution_interrupted")
        assert interrupted["data"]["prompt_id"] == running
        await main.wait_done(running)
        assert (await http.post(f"/api/jobs/{done}/cancel")).json() == {"cancelled": False}
        assert (await http.post(f"/api/jobs/{uuid.uuid4()}/cancel")).json() == {"cancelled": False}

        job = (await http.get(f"/api/jobs/{running}")).json()
        assert job["status"] == "cancelled" and job["execution_status"]["status_str"] == "error"
        finished = (await http.get(f"/api/jobs/{done}")).json()
        assert finished["status"] == "completed" and finished["outputs_count"] == 1
        assert finished["preview_output"]["nodeId"] == "10" and finished["preview_output"]["mediaType"] == "images"
        assert finished["execution_end_time"] >= finished["execution_start_time"] >= finished["create_time"]
        assert finished["workflow"]["prompt"]["8"]["inputs"]["seed"] == 1
        assert "execution_error" not in finished  # None values are pruned like the real server's


async def test_batch_cancel_and_listing(jobs_sim):
    async with httpx.AsyncClient(base_url=jobs_sim.url) as http, Recorder(jobs_sim.url, "main") as main:
        first = await _submit(http, 10, steps=50)
        rest = [await _submit(http, 11 + i) for i in range(3)]
        await main.wait_for(lambda m: m.get("type") == "executing" and m["data"].get("prompt_id") == first)
        listed = (await http.get("/api/jobs", params={"status": "pending,in_progress"})).json()
        assert listed["pagination"] == {"offset": 0, "limit": None, "total": 4, "has_more": False}
        assert {j["id"]: j["status"] for j in listed["jobs"]} == {first: "in_progress", **{p: "pending" for p in rest}}
        page = (await http.get("/api/jobs", params={"limit": 2, "sort_order": "asc"})).json()
        assert [j["id"] for j in page["jobs"]] == [first, rest[0]] and page["pagination"]["has_more"] is True

        reply = await http.post("/api/jobs/cancel", json={"job_ids": [first, *rest[:2], str(uuid.uuid4())]})
        assert reply.json() == {"cancelled": True}
        await main.wait_done(first)
        await main.wait_done(rest[2])
        statuses = {j["id"]: j["status"] for j in (await http.get("/api/jobs")).json()["jobs"]}
        assert statuses == {first: "cancelled", rest[2]: "completed"}
        assert (await http.post("/api/jobs/cancel", json={"job_ids": [rest[2]]})).json() == {"cancelled": False}


@pytest.mark.parametrize(
    ("body", "status"),
    [({"job_ids": "x"}, 400), ({"job_ids": ["not-a-uuid"]}, 400), ({"job_ids": [{"a": 1}]}, 400), ({}, 400)],
)
async def test_batch_cancel_rejects_malformed_ids(jobs_sim, body, status):
    async with httpx.AsyncClient(base_url=jobs_sim.url) as http:
        reply = await http.post("/api/jobs/cancel", json=body)
        assert reply.status_code == status and "error" in reply.json()
        bad = await http.get("/api/jobs", params={"status": "bogus"})
        assert bad.status_code == 400 and "Invalid status" in bad.json()["error"]
        assert (await http.get("/api/jobs", params={"limit": 0})).status_code == 400


async def test_jobs_api_absent_on_the_older_server():
    async with Simulator(step_ms=2) as s, httpx.AsyncClient(base_url=s.url) as http:
        assert (await http.get("/api/jobs")).status_code == 404
        assert (await http.post(f"/api/jobs/{uuid.uuid4()}/cancel")).status_code in (404, 405)
        stats = (await http.get("/system_stats")).json()["system"]
        assert stats["comfyui_version"] == "0.3.64"
        # Older servers take any prompt_id verbatim and add no create_time.
        reply = await http.post("/prompt", json={"prompt": graph(1), "prompt_id": "Not-A-UUID"})
        assert reply.json()["prompt_id"] == "Not-A-UUID"
        queue = (await http.get("/queue")).json()
        item = (queue["queue_running"] + queue["queue_pending"])[0]
        assert "create_time" not in item[3]


async def test_queue_items_carry_create_time_on_the_newer_server(jobs_sim):
    async with httpx.AsyncClient(base_url=jobs_sim.url) as http:
        await _submit(http, 5, steps=30)
        queue = (await http.get("/queue")).json()
        item = (queue["queue_running"] + queue["queue_pending"])[0]
        assert isinstance(item[3]["create_time"], int)
        await http.post("/interrupt")


async def test_newer_server_keeps_api_keys_out_of_queue_and_history(jobs_sim):
    async with httpx.AsyncClient(base_url=jobs_sim.url) as http, Recorder(jobs_sim.url, "main") as main:
        pid = str(uuid.uuid4())
        body = {
            "prompt": graph(9, 1),
            "client_id": "main",
            "prompt_id": pid,
            "extra_data": {"api_key_comfy_org": "s3cret", "auth_token_comfy_org": "t0ken"},
        }
        assert (await http.post("/prompt", json=body)).status_code == 200
        await main.wait_done(pid)
        text = (await http.get("/history")).text + (await http.get(f"/api/jobs/{pid}")).text
    assert "s3cret" not in text and "t0ken" not in text
