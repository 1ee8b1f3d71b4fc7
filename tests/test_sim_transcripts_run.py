"""The simulator against the real-server captures: websocket sequences of whole runs.

Each test replays the HTTP requests of one capture and checks that every client
receives the same message types, in the same order, with the same keys in
`data` (ids and timestamps differ, shapes must not).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sim_support import (
    CAPTURE_MODELS,
    Recorder,
    captured_msgs,
    captured_shapes,
    http_events,
    load_capture,
    perturbed,
    settle,
    shape,
)

from gentui.simulator import Simulator


def _graph(capture: dict, label: str | None = None) -> dict:
    events = (
        http_events(capture, label=label, method="POST", path_prefix="/prompt")
        if label
        else http_events(capture, method="POST", path_prefix="/prompt")
    )
    return events[0]["request_json"]["prompt"]


def _states(msg: dict) -> dict:
    return {
        nid: (n["state"], n["value"], type(n["value"]).__name__, n["max"]) for nid, n in msg["data"]["nodes"].items()
    }


@pytest.fixture
async def sim():
    async with Simulator(step_ms=5, models=CAPTURE_MODELS) as s:
        yield s


async def _run(http: httpx.AsyncClient, rec: Recorder, graph: dict, client_id: str | None = "main") -> str:
    body = {"prompt": graph}
    if client_id:
        body["client_id"] = client_id
    reply = await http.post("/prompt", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()["prompt_id"]


async def test_fresh_then_cached_then_lora_change_match_captures(sim):
    first, cached, lora = (load_capture(n) for n in ("txt2img_first", "txt2img_cached_identical", "txt2img_lora_0.4"))
    async with (
        Recorder(sim.url, "main", features=True) as main,
        Recorder(sim.url, "observer") as obs,
        Recorder(sim.url, "legacy") as legacy,
        httpx.AsyncClient(base_url=sim.url) as http,
    ):
        marks = [r.mark() for r in (main, obs, legacy)]
        pid = await _run(http, main, _graph(first))
        await main.wait_done(pid)
        await settle()
        for rec, mark, name in zip((main, obs, legacy), marks, ("main", "observer", "legacy")):
            assert rec.shapes(mark) == captured_shapes(first, name), name
        mine = [m for m in main.msgs[marks[0] :] if m.get("type") == "progress_state"]
        theirs = captured_msgs(first, "main", "progress_state")
        assert [_states(m) for m in mine] == [_states(m) for m in theirs]
        assert [m["data"]["node"] for m in main.of_type("executing", marks[0])] == [
            m["data"]["node"] for m in captured_msgs(first, "main", "executing")
        ]
        first_file = main.of_type("executed", marks[0])[0]["data"]["output"]["images"][0]

        # The history entry exists once executing{node:null} arrived, shaped like the capture's.
        entry = (await http.get(f"/history/{pid}")).json()[pid]
        real = http_events(first, label="history_after_executing_null")[0]["response_json"]
        real_entry = next(iter(real.values()))
        assert sorted(entry) == sorted(real_entry)
        assert [m[0] for m in entry["status"]["messages"]] == [m[0] for m in real_entry["status"]["messages"]]
        assert entry["meta"] == {"9": {"node_id": "9", "display_node": "9", "parent_node": None, "real_node_id": "9"}}
        assert entry["prompt"][3] == {"client_id": "main"} and entry["prompt"][4] == ["9"]
        view = await http.get("/view", params=first_file)
        assert view.status_code == 200 and view.headers["content-type"] == "image/png"
        assert view.headers["content-disposition"] == f'filename="{first_file["filename"]}"'

        # Identical resubmit: everything cached, the OLD filename, no executing/progress, no new file.
        files_before = sorted(p.name for p in sim.dirs.output.iterdir())
        mark = main.mark()
        pid2 = await _run(http, main, _graph(cached))
        await main.wait_done(pid2)
        assert main.shapes(mark) == captured_shapes(cached, "main")
        assert (
            main.of_type("execution_cached", mark)[0]["data"]["nodes"]
            == captured_msgs(cached, "main", "execution_cached")[0]["data"]["nodes"]
        )
        assert main.of_type("executed", mark)[0]["data"]["output"]["images"][0] == first_file
        assert sorted(p.name for p in sim.dirs.output.iterdir()) == files_before

        # Only the LoRA strength changed: loaders 4 and 5 stay cached, the rest re-runs.
        mark = main.mark()
        pid3 = await _run(http, main, _graph(lora))
        await main.wait_done(pid3)
        assert main.shapes(mark) == captured_shapes(lora, "main")
        assert main.of_type("execution_cached", mark)[0]["data"]["nodes"] == ["4", "5"]
        new_file = main.of_type("executed", mark)[0]["data"]["output"]["images"][0]
        assert new_file["filename"] != first_file["filename"]


async def test_interrupt_running_matches_capture():
    cap = load_capture("interrupt_running")
    graph = _graph(cap)
    async with (
        Simulator(step_ms=30, models=CAPTURE_MODELS) as sim,
        Recorder(sim.url, "main", features=True) as main,
        httpx.AsyncClient(base_url=sim.url) as http,
    ):
        await main.wait_done(await _run(http, main, perturbed(graph, {"4", "10", "6", "7"})))
        mark = main.mark()
        pid = await _run(http, main, graph)
        await main.wait_for(lambda m: m.get("type") == "progress" and m["data"]["value"] == 3, mark)
        assert (await http.post("/interrupt")).status_code == 200
        await main.wait_done(pid, mark)
        assert main.shapes(mark) == captured_shapes(cap, "main")
        got = main.of_type("execution_interrupted", mark)[0]["data"]
        want = captured_msgs(cap, "main", "execution_interrupted")[0]["data"]
        assert (got["node_id"], got["node_type"], got["executed"]) == (
            want["node_id"],
            want["node_type"],
            want["executed"],
        )
        entry = (await http.get(f"/history/{pid}")).json()[pid]
        assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
        assert entry["outputs"] == {} and entry["meta"] == {}
        assert entry["status"]["messages"][-1][0] == "execution_interrupted"
        assert (await http.get("/queue")).json() == {"queue_running": [], "queue_pending": []}


async def test_runtime_error_matches_capture():
    cap = load_capture("runtime_error")
    graph = _graph(cap)
    models = {**CAPTURE_MODELS, "broken": {"loras": ["zz_broken_lora.safetensors"]}}
    async with (
        Simulator(step_ms=2, models=models) as sim,
        Recorder(sim.url, "main", features=True) as main,
        httpx.AsyncClient(base_url=sim.url) as http,
    ):
        listed = (await http.get("/models/loras")).json()
        assert listed == http_events(cap, method="GET", path_prefix="/models/loras")[0]["response_json"]
        await main.wait_done(await _run(http, main, perturbed(graph, {"4", "5"})))
        mark = main.mark()
        pid = await _run(http, main, graph)
        await main.wait_done(pid, mark)
        assert main.shapes(mark) == captured_shapes(cap, "main")
        got = main.of_type("execution_error", mark)[0]["data"]
        want = captured_msgs(cap, "main", "execution_error")[0]["data"]
        for key in ("node_id", "node_type", "executed", "exception_message", "exception_type"):
            assert got[key] == want[key], key
        assert sorted(got["current_inputs"]) == sorted(want["current_inputs"])
        assert sorted(got["current_outputs"]) == sorted(want["current_outputs"])
        entry = (await http.get(f"/history/{pid}")).json()[pid]
        assert entry["status"]["status_str"] == "error" and entry["status"]["messages"][-1][0] == "execution_error"


async def test_prompt_without_client_id_broadcasts_only_progress(sim):
    cap = load_capture("no_client_id_broadcast")
    graph = _graph(cap)
    async with (
        Recorder(sim.url, "main", features=True) as main,
        Recorder(sim.url, "observer") as obs,
        Recorder(sim.url, "legacy") as legacy,
        httpx.AsyncClient(base_url=sim.url) as http,
    ):
        warm = await _run(http, main, perturbed(graph, {"4", "5"}))
        await main.wait_done(warm)
        await settle()
        marks = [r.mark() for r in (main, obs, legacy)]
        pid = await _run(http, main, graph, client_id=None)
        for rec, mark in zip((main, obs, legacy), marks):
            await rec.wait_for(
                lambda m: m.get("type") == "status" and m["data"]["status"]["exec_info"]["queue_remaining"] == 0, mark
            )
        await settle()
        for rec, mark, name in zip((main, obs, legacy), marks, ("main", "observer", "legacy")):
            assert rec.shapes(mark) == captured_shapes(cap, name), name
        assert (await http.get(f"/history/{pid}")).json()[pid]["status"]["status_str"] == "success"


async def test_reconnect_mid_run_gets_status_then_bare_executing():
    cap = load_capture("reconnect_mid_run")
    graph = _graph(cap)
    reconnect_t = next(e["t"] for e in cap["events"] if e.get("note") == "client reconnected with same clientId")
    after = captured_shapes(cap, "main", start=reconnect_t)
    async with Simulator(step_ms=100, models=CAPTURE_MODELS) as sim, httpx.AsyncClient(base_url=sim.url) as http:
        async with Recorder(sim.url, "main", features=True) as main:
            await main.wait_done(await _run(http, main, perturbed(graph, {"4", "10", "6", "7"})))
            mark = main.mark()
            pid = await _run(http, main, graph)
            await main.wait_for(lambda m: m.get("type") == "progress" and m["data"]["value"] == 1, mark)
        await asyncio.sleep(0.15)
        async with Recorder(sim.url, "main", features=True) as again:
            await again.wait_done(pid)
            got = again.shapes()
        assert got[:3] == after[:3]  # status with sid, executing without prompt_id, feature_flags reply
        hello, executing = again.msgs[0], again.msgs[1]
        assert hello["data"]["sid"] == "main" and executing == {"type": "executing", "data": {"node": "3"}}
        values = [m["data"]["value"] for m in again.of_type("progress")]
        assert values == sorted(values) and values[-1] == 6 and 2 not in values  # events while away are lost

        def no_steps(shapes: list) -> list:
            return [s for s in shapes if s[0] not in ("progress", "progress_state")]

        assert no_steps(got[3:]) == no_steps(after[3:])


async def test_previews_metadata_before_progress_legacy_after():
    cap = load_capture("previews_previews_main_client")
    graph = _graph(cap)
    async with (
        Simulator(step_ms=5, models=CAPTURE_MODELS, preview=True) as sim,
        Recorder(sim.url, "main", features=True) as main,
        Recorder(sim.url, "legacy") as legacy,
        httpx.AsyncClient(base_url=sim.url) as http,
    ):
        await main.wait_done(await _run(http, main, perturbed(graph, {"4", "10", "6", "7", "5"})))
        mark, lmark = main.mark(), legacy.mark()
        pid = await _run(http, main, graph)
        await main.wait_done(pid, mark)
        await settle()
        assert main.shapes(mark) == captured_shapes(cap, "main")
        assert legacy.shapes(lmark) == captured_shapes(cap, "legacy")
        frames = [m for m in main.msgs[mark:] if m.get("binary")]
        want = next(e for e in cap["events"] if e.get("binary"))
        assert sorted(frames[0]["metadata"]) == sorted(want["metadata"])
        assert frames[0]["metadata"]["prompt_id"] == pid and frames[0]["image"][:2] == b"\xff\xd8"

        # A client that did not negotiate metadata gets event 1 (JPEG) right after each progress.
        graph2 = {**graph, "3": {**graph["3"], "inputs": {**graph["3"]["inputs"], "seed": 905}}}
        lmark = legacy.mark()
        pid2 = await _run(http, legacy, graph2, client_id="legacy")
        await legacy.wait_done(pid2, lmark)
        seq = [s for s in legacy.shapes(lmark) if s[0] in ("progress", "binary")]
        assert seq == [("progress", ("max", "node", "prompt_id", "value")), ("binary", 1)] * 4
        first = next(m for m in legacy.msgs[lmark:] if m.get("binary"))
        assert first["format"] == 1 and first["image"][:2] == b"\xff\xd8"


async def test_queue_delete_clear_and_targeted_interrupt_match_capture():
    cap = load_capture("queue_delete_clear_targeted_interrupt")
    req = {e["label"]: e for e in http_events(cap, method="POST", path_prefix="/prompt")}
    graph = req["submit_A"]["request_json"]["prompt"]

    def no_steps(shapes: list) -> list:
        return [s for s in shapes if s[0] not in ("progress", "progress_state")]

    async with (
        Simulator(step_ms=150, models=CAPTURE_MODELS) as sim,
        Recorder(sim.url, "main", features=True) as main,
        httpx.AsyncClient(base_url=sim.url) as http,
    ):
        await main.wait_done(await _run(http, main, perturbed(graph, {"4", "10", "6", "7", "5"})))
        mark = main.mark()
        ids = {}
        for label in ("submit_A", "submit_B", "submit_C", "submit_D_front_true"):
            body = {**req[label]["request_json"], "client_id": "main"}
            reply = (await http.post("/prompt", json=body)).json()
            ids[label[7]] = (reply["prompt_id"], reply["number"])
            if label == "submit_A":
                await main.wait_for(lambda m: m.get("type") == "executing" and m["data"].get("node") == "3", mark)
        a_num = ids["A"][1]
        assert [ids[k][1] - a_num for k in "BC"] == [1, 2] and ids["D"][1] == -(a_num + 3)
        queue = (await http.get("/queue")).json()
        assert [q[1] for q in queue["queue_running"]] == [ids["A"][0]]
        assert [q[0] for q in queue["queue_pending"]] == [ids["D"][1], ids["C"][1], ids["B"][1]]  # heap order
        assert queue["queue_pending"][0][3] == {"client_id": "main"} and queue["queue_pending"][0][4] == ["9"]
        await http.post("/queue", json={"delete": [ids["B"][0]]})
        await http.post("/interrupt", json={"prompt_id": ids["C"][0]})  # pending: a no-op
        await http.post("/queue", json={"delete": ["no-such-id"]})
        await http.post("/queue", json={"clear": True})
        assert [q[1] for q in (await http.get("/queue")).json()["queue_pending"]] == []
        await http.post("/interrupt", json={"prompt_id": ids["A"][0]})
        await main.wait_done(ids["A"][0], mark)
        await settle()
        assert no_steps(main.shapes(mark)) == no_steps(captured_shapes(cap, "main"))
        assert main.of_type("execution_interrupted", mark)[0]["data"]["executed"] == []
        for key in "BCD":
            assert (await http.get(f"/history/{ids[key][0]}")).json() == {}
        assert (await http.get("/queue")).json() == {"queue_running": [], "queue_pending": []}


async def test_history_is_written_before_executing_null(sim):
    graph = _graph(load_capture("txt2img_first"))
    async with Recorder(sim.url, "main") as main, httpx.AsyncClient(base_url=sim.url) as http:
        for seed in range(4):
            g = perturbed(graph, set(graph) - {"3", "8", "9"}) if seed % 2 else graph
            mark = main.mark()
            pid = await _run(http, main, g)
            await main.wait_done(pid, mark)
            assert pid in (await http.get(f"/history/{pid}")).json()
            tail = main.shapes(mark)[-3:]
            assert [t[0] for t in tail] == ["execution_success", "status", "executing"]
            assert shape(main.msgs[-1]) == ("executing", ("node", "prompt_id"))
