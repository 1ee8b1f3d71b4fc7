"""The simulator against the real-server captures: HTTP status codes, bodies and error shapes."""

from __future__ import annotations

import json

import httpx
import pytest
from sim_support import CAPTURE_MODELS, Recorder, http_events, load_capture

from gentui.simulator import Simulator


@pytest.fixture
async def sim():
    async with Simulator(step_ms=2, models=CAPTURE_MODELS) as s:
        yield s


async def test_validation_errors_match_capture(sim):
    cap = load_capture("validation_errors")
    async with httpx.AsyncClient(base_url=sim.url) as http, Recorder(sim.url, "main") as main:
        queued = []
        for e in http_events(cap, method="POST", path_prefix="/prompt"):
            if "request_raw" in e:
                reply = await http.post("/prompt", content=e["request_raw"].encode())
            else:
                body = dict(e["request_json"])
                if "client_id" in body:
                    body["client_id"] = "main"
                reply = await http.post("/prompt", json=body)
            assert reply.status_code == e["status"], e["label"]
            assert reply.headers.get("content-type") == e["content_type"], e["label"]
            if e["status"] == 500:
                assert reply.text == e["response_text"]
                continue
            got, want = reply.json(), e["response_json"]
            if e["status"] == 400:
                assert got == want, e["label"]
            else:
                assert got["node_errors"] == want["node_errors"], e["label"]
                if e["label"] == "client_supplied_prompt_id":
                    assert got["prompt_id"] == "my-own-id-123"
                queued.append(got["prompt_id"])
        for pid in queued:
            await main.wait_done(pid)
        # The half-valid prompt ran only its good outputs (9 and 12, not the broken PreviewImage 13).
        entry = (await http.get(f"/history/{queued[0]}")).json()[queued[0]]
        assert sorted(entry["outputs"]) == ["12", "9"] and entry["prompt"][4] in (["9", "12"], ["12", "9"])
        # The client-chosen id is used verbatim everywhere.
        assert "my-own-id-123" in (await http.get("/history/my-own-id-123")).json()


async def test_long_combo_lists_are_summarised_and_short_ones_listed(sim):
    graph = json.loads(
        json.dumps(http_events(load_capture("validation_errors"), label="bad_combo_value")[0]["request_json"]["prompt"])
    )
    graph["3"]["inputs"]["scheduler"] = "nope"
    graph["3"]["inputs"]["sampler_name"] = "euler"
    async with httpx.AsyncClient(base_url=sim.url) as http:
        err = (await http.post("/prompt", json={"prompt": graph})).json()["node_errors"]["3"]["errors"][0]
    assert err["details"].startswith("scheduler: 'nope' not in ['simple', 'sgm_uniform'")
    assert err["extra_info"]["input_config"][0][0] == "simple"


async def test_newer_server_errors_in_jobs_api_mode():
    cap = load_capture("validation_errors")
    bodies = {e["label"]: e.get("request_json") for e in http_events(cap, method="POST", path_prefix="/prompt")}
    async with (
        Simulator(step_ms=2, models=CAPTURE_MODELS, jobs_api=True) as s,
        httpx.AsyncClient(base_url=s.url) as http,
    ):
        reply = await http.post("/prompt", json=bodies["bad_node_class_in_chain"])
        err = reply.json()["error"]
        assert reply.status_code == 400 and err["type"] == "missing_node_type"
        assert err["extra_info"] == {"node_id": "5", "class_type": "NoSuchNode", "node_title": "NoSuchNode"}
        assert err["details"] == "Node ID '#5'"
        reply = await http.post("/prompt", json=bodies["client_supplied_prompt_id"])
        assert reply.status_code == 400 and reply.json()["error"]["type"] == "invalid_prompt_id"
        upper = {**bodies["client_supplied_prompt_id"], "prompt_id": "0E1A2B3C-4D5E-4F60-8172-839405A6B7C8"}
        assert (await http.post("/prompt", json=upper)).status_code == 400
        good = {**bodies["client_supplied_prompt_id"], "prompt_id": "0e1a2b3c-4d5e-4f60-8172-839405a6b7c8"}
        reply = await http.post("/prompt", json=good)
        assert reply.status_code == 200 and reply.json()["prompt_id"] == good["prompt_id"]
        assert (await http.get("/system_stats")).json()["system"]["comfyui_version"] != "0.3.64"


async def test_history_and_view_match_capture(sim):
    cap = load_capture("history_and_view")
    graph = http_events(load_capture("txt2img_first"), method="POST", path_prefix="/prompt")[0]["request_json"][
        "prompt"
    ]
    async with httpx.AsyncClient(base_url=sim.url) as http, Recorder(sim.url, "main") as main:
        pids = []
        for prefix in ("harness", "harness_rc"):
            g = {**graph, "9": {**graph["9"], "inputs": {**graph["9"]["inputs"], "filename_prefix": prefix}}}
            pid = (await http.post("/prompt", json={"prompt": g, "client_id": "main"})).json()["prompt_id"]
            await main.wait_done(pid)
            pids.append(pid)
        assert list((await http.get("/history", params={"max_items": 2})).json()) == pids
        assert list((await http.get("/history", params={"max_items": 1})).json()) == pids[1:]
        assert list((await http.get("/history")).json()) == pids
        for e in http_events(cap):
            path = e["path"].replace("90ba14ea-6bcc-4e04-8cf8-ae8729a952df", pids[1])
            if e["method"] == "GET":
                reply = await http.get(path)
            else:
                reply = await http.post(
                    path,
                    json=json.loads(
                        json.dumps(e["request_json"]).replace("90ba14ea-6bcc-4e04-8cf8-ae8729a952df", pids[1])
                    ),
                )
            assert reply.status_code == e["status"], path
            assert reply.headers.get("content-type") == e.get("content_type"), path
            want_disp = (e.get("response_headers") or {}).get("Content-Disposition")
            if want_disp:
                assert reply.headers["content-disposition"] == want_disp
            if e.get("response_text") == "":
                assert reply.content == b""
            if e.get("label") == "deleted_item_gone" or path.endswith("does-not-exist"):
                assert reply.json() == {}
        assert list((await http.get("/history")).json()) == pids[:1]
        await http.post("/history", json={"clear": True})
        assert (await http.get("/history")).json() == {}


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"filename": "/etc/passwd", "type": "output"}, 400),
        ({"filename": "..", "type": "output"}, 400),
        ({"filename": "a/../../x.png", "type": "output"}, 400),
        ({"filename": "x.png", "type": "output", "subfolder": "../.."}, 403),
        ({"filename": "x.png", "type": "output", "subfolder": "/etc"}, 403),
        ({"filename": "passwd", "type": "output", "subfolder": "../../../../../../etc"}, 403),
        ({"filename": "x.png", "type": "nope"}, 400),
        ({"filename": "missing.png"}, 404),
        ({}, 404),
    ],
)
async def test_view_refuses_paths_outside_its_folders(sim, params, status):
    async with httpx.AsyncClient(base_url=sim.url) as http:
        reply = await http.get("/view", params=params)
        assert reply.status_code == status and reply.content == b""


async def test_every_route_also_answers_under_api(sim):
    async with httpx.AsyncClient(base_url=sim.url) as http:
        for path in (
            "/queue",
            "/prompt",
            "/history",
            "/object_info/KSampler",
            "/models",
            "/models/loras",
            "/system_stats",
            "/embeddings",
            "/features",
        ):
            plain, api = await http.get(path), await http.get("/api" + path)
            assert plain.status_code == api.status_code == 200, path
            assert plain.json() == api.json() or path == "/system_stats", path
        assert (await http.get("/models/nope")).status_code == 404
        assert (await http.get("/api/jobs")).status_code == 404  # only with jobs_api=True
        assert (await http.get("/features")).json() == {"supports_preview_metadata": True, "max_upload_size": 104857600}
        assert (await http.get("/prompt")).json() == {"exec_info": {"queue_remaining": 0}}


async def test_object_info_lists_the_configured_models(sim):
    async with httpx.AsyncClient(base_url=sim.url) as http:
        lora = (await http.get("/object_info/LoraLoader")).json()["LoraLoader"]
        everything = (await http.get("/object_info")).json()
        unknown = (await http.get("/object_info/NoSuchNode")).json()
    assert lora["input"]["required"]["lora_name"][0] == CAPTURE_MODELS["loras"]
    assert lora["input"]["required"]["strength_model"][1]["min"] == -100.0
    assert lora["input_order"]["required"] == ["model", "clip", "lora_name", "strength_model", "strength_clip"]
    assert (lora["output"], lora["output_node"], lora["category"]) == (["MODEL", "CLIP"], False, "loaders")
    assert {
        "UNETLoader",
        "CLIPLoader",
        "VAELoader",
        "LoraLoaderModelOnly",
        "EmptySD3LatentImage",
        "KSamplerAdvanced",
        "SaveImage",
        "PreviewImage",
        "ModelSamplingAuraFlow",
    } <= set(everything)
    assert everything["SaveImage"]["output_node"] is True
    assert len(everything["KSampler"]["input"]["required"]["sampler_name"][0]) == 42
    assert "er_sde" in everything["KSampler"]["input"]["required"]["sampler_name"][0]
    assert unknown == {}


async def test_loopback_host_with_a_foreign_origin_is_refused(sim):
    async with httpx.AsyncClient(base_url=sim.url) as http:
        assert (await http.get("/queue", headers={"Origin": "http://evil.example"})).status_code == 403
        same = f"http://127.0.0.1:{sim.port}"
        assert (await http.get("/queue", headers={"Origin": same})).status_code == 200
        assert (await http.get("/queue")).status_code == 200  # no Origin: what API clients send


async def test_a_reused_prompt_id_overwrites_its_history_entry_in_place(sim):
    graph = http_events(load_capture("txt2img_first"), method="POST", path_prefix="/prompt")[0]["request_json"][
        "prompt"
    ]
    async with httpx.AsyncClient(base_url=sim.url) as http, Recorder(sim.url, "main") as main:
        for pid in ("a", "b", "a"):
            mark = main.mark()
            await http.post("/prompt", json={"prompt": graph, "client_id": "main", "prompt_id": pid})
            await main.wait_done(pid, mark)
        history = (await http.get("/history")).json()
    assert list(history) == ["a", "b"] and history["a"]["prompt"][0] == 2


async def test_a_dependency_cycle_is_refused_not_hung(sim):
    graph = http_events(load_capture("txt2img_first"), method="POST", path_prefix="/prompt")[0]["request_json"][
        "prompt"
    ]
    graph = json.loads(json.dumps(graph))
    graph["20"] = {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["21", 0], "stop_at_clip_layer": -1}}
    graph["21"] = {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["20", 0], "stop_at_clip_layer": -1}}
    graph["6"]["inputs"]["clip"] = ["20", 0]
    async with httpx.AsyncClient(base_url=sim.url) as http:
        reply = await http.post("/prompt", json={"prompt": graph})
    assert reply.status_code == 400
    errors = reply.json()["node_errors"]
    assert errors["20"]["errors"][0]["type"] == "dependency_cycle"
    assert errors["20"]["errors"][0]["extra_info"]["cycle_nodes"] == ["20", "21"]
