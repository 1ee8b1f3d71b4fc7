"""HTTP routes of the simulator, each also under `/api`, shaped like server.py.

Action POSTs answer 200 with an empty body; JSON replies use aiohttp's
`application/json; charset=utf-8`; a body that is not JSON (or a `prompt` that
is not an object) falls through to aiohttp's plain-text 500, as on the real
server. `jobs_api=True` adds the newer server's `/api/jobs` family and its
stricter `prompt_id` and node-type errors.
"""

from __future__ import annotations

import io
import json
import logging
import mimetypes
import os
import platform
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web
from PIL import Image

from gentui.simulator import jobs
from gentui.simulator.hub import SERVER_FEATURES
from gentui.simulator.nodes import object_info
from gentui.simulator.validate import PromptShapeError, validate_prompt

if TYPE_CHECKING:
    from gentui.simulator.server import Simulator

log = logging.getLogger("gentui.sim")
OLD_VERSION = "0.3.64"
NEW_VERSION = "0.36.0"  # comfyui-protocol.md §7 was read from v0.36


def _bad(message: str, status: int = 400, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def build_routes(sim: "Simulator") -> web.RouteTableDef:
    """Every endpoint, bound to one simulator's engine, hub and catalogue."""
    r = web.RouteTableDef()
    engine, hub, cat = sim.engine, sim.hub, sim.catalogue

    @r.get("/ws")
    async def ws(request: web.Request) -> web.StreamResponse:
        return await hub.handle(request)

    @r.post("/prompt")
    async def post_prompt(request: web.Request) -> web.Response:
        body = await request.json()  # malformed JSON -> aiohttp's bare 500, like ComfyUI
        if not isinstance(body, dict):
            raise PromptShapeError("body is not an object")
        if "number" in body:
            number = float(body["number"])
        else:
            number = -engine.number if body.get("front") else engine.number
            engine.number += 1
        if "prompt" not in body:
            err = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return web.json_response({"error": err, "node_errors": {}}, status=400)
        prompt = body["prompt"]
        client_pid = body.get("prompt_id")
        if client_pid is None:
            prompt_id = str(uuid.uuid4())
        elif sim.jobs_api and not jobs.valid_job_id(client_pid):
            err = {
                "type": "invalid_prompt_id",
                "message": "prompt_id must be a valid UUID",
                "details": "prompt_id must be a UUID string in canonical lowercase hyphenated form; omit it to "
                "let the server generate one",
                "extra_info": {},
            }
            return web.json_response({"error": err, "node_errors": {}}, status=400)
        else:
            prompt_id = str(client_pid)
        verdict = validate_prompt(
            prompt, cat, newer=sim.jobs_api, partial_targets=body.get("partial_execution_targets")
        )
        extra = body.get("extra_data") or {}
        if not isinstance(extra, dict):
            extra = {}
        if "client_id" in body:
            extra["client_id"] = body["client_id"]
        if not verdict.ok:
            log.warning("invalid prompt: %s", verdict.error)
            return web.json_response({"error": verdict.error, "node_errors": verdict.node_errors}, status=400)
        if sim.jobs_api:  # newer servers keep API keys out of the queue and history
            for key in ("auth_token_comfy_org", "api_key_comfy_org"):
                extra.pop(key, None)
            extra["create_time"] = int(time.time() * 1000)
        engine.put(number, prompt_id, prompt, extra, verdict.outputs)
        log.info("got prompt %s (number %s)", prompt_id, number)
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": verdict.node_errors})

    @r.get("/prompt")
    async def get_prompt(request: web.Request) -> web.Response:
        return web.json_response(engine.status()["status"])

    @r.get("/queue")
    async def get_queue(request: web.Request) -> web.Response:
        running = [engine.running.as_list()] if engine.running else []
        return web.json_response({"queue_running": running, "queue_pending": [i.as_list() for i in engine.queue]})

    @r.post("/queue")
    async def post_queue(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            engine.wipe_queue()
        for pid in body.get("delete", []) or []:
            engine.delete_pending(pid)
        return web.Response(status=200)

    @r.post("/interrupt")
    async def post_interrupt(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = {}
        pid = body.get("prompt_id") if isinstance(body, dict) else None
        if pid:
            engine.interrupt(pid)
        else:
            log.info("Global interrupt (no prompt_id specified)")
            engine.interrupt(None)
        return web.Response(status=200)

    @r.post("/free")
    async def post_free(request: web.Request) -> web.Response:
        body = await request.json()
        engine.free(bool(body.get("free_memory")))
        return web.Response(status=200)

    @r.get("/history")
    async def get_history(request: web.Request) -> web.Response:
        q = request.rel_url.query
        max_items = int(q["max_items"]) if "max_items" in q else None
        offset = int(q["offset"]) if "offset" in q else -1
        return web.json_response(engine.get_history(max_items=max_items, offset=offset))

    @r.get("/history/{prompt_id}")
    async def get_history_item(request: web.Request) -> web.Response:
        return web.json_response(engine.get_history(request.match_info["prompt_id"]))

    @r.post("/history")
    async def post_history(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            engine.history.clear()
        for pid in body.get("delete", []) or []:
            engine.history.pop(pid, None)
        return web.Response(status=200)

    @r.get("/view")
    async def view(request: web.Request) -> web.StreamResponse:
        return _view(sim, request)

    @r.get("/object_info")
    async def get_object_info(request: web.Request) -> web.Response:
        return web.json_response(object_info(cat))

    @r.get("/object_info/{node_class}")
    async def get_object_info_node(request: web.Request) -> web.Response:
        return web.json_response(object_info(cat, request.match_info["node_class"]))

    @r.get("/models")
    async def get_models(request: web.Request) -> web.Response:
        return web.json_response(list(cat.folders))

    @r.get("/models/{folder}")
    async def get_models_folder(request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        if not cat.has_folder(folder):
            return web.Response(status=404)
        return web.json_response(cat.names(folder))

    @r.get("/experiment/models")
    async def get_experiment_models(request: web.Request) -> web.Response:
        return web.json_response(
            [
                {"name": f, "folders": [f"/simulated/models/{f}"]}
                for f in cat.folders
                if f not in ("configs", "custom_nodes")
            ]
        )

    @r.get("/experiment/models/{folder}")
    async def get_experiment_models_folder(request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        if not cat.has_folder(folder):
            return web.Response(status=404)
        return web.json_response(
            [
                {
                    "name": n,
                    "pathIndex": 0,
                    "modified": 1767225600.0,
                    "created": 1767225600.0,
                    "size": 1024 * (1 + len(n)),
                }
                for n in cat.names(folder)
            ]
        )

    @r.get("/embeddings")
    async def get_embeddings(request: web.Request) -> web.Response:
        return web.json_response([os.path.splitext(n)[0] for n in cat.names("embeddings")])

    @r.get("/features")
    async def get_features(request: web.Request) -> web.Response:
        return web.json_response(dict(SERVER_FEATURES))

    @r.get("/gentui/simulator/stats")
    async def simulator_stats(request: web.Request) -> web.Response:
        """Simulator only: what a real server would have re-done (model loads, LoRA patches, text encodes)."""
        return web.json_response(sim.ledger.to_dict())

    @r.get("/system_stats")
    async def system_stats(request: web.Request) -> web.Response:
        gib = 1024**3
        return web.json_response(
            {
                "system": {
                    "os": os.name,
                    "ram_total": 32 * gib,
                    "ram_free": 24 * gib,
                    "comfyui_version": NEW_VERSION if sim.jobs_api else OLD_VERSION,
                    "required_frontend_version": "1.27.10",
                    "installed_templates_version": "0.1.95",
                    "required_templates_version": "0.1.95",
                    "python_version": sys.version,
                    "pytorch_version": "simulated",
                    "embedded_python": False,
                    "argv": ["gentui", "sim"],
                    "simulator": True,
                    "simulator_note": "gentui-simulator: a test double of a ComfyUI server, not ComfyUI",
                },
                "devices": [
                    {
                        "name": "gentui-simulator",
                        "type": "cpu",
                        "index": None,
                        "vram_total": 8 * gib,
                        "vram_free": 8 * gib,
                        "torch_vram_total": 0,
                        "torch_vram_free": 0,
                    }
                ],
            }
        )

    @r.get("/")
    async def root(request: web.Request) -> web.Response:
        return web.Response(text=f"gentui simulator: a test double of the ComfyUI API ({platform.node()})\n")

    if sim.jobs_api:
        _add_jobs_routes(r, sim)
    return r


def _add_jobs_routes(r: web.RouteTableDef, sim: "Simulator") -> None:
    engine = sim.engine

    @r.get("/api/jobs")
    async def get_jobs(request: web.Request) -> web.Response:
        q = request.rel_url.query
        statuses = None
        if q.get("status"):
            statuses = [s.strip().lower() for s in q["status"].split(",") if s.strip()]
            bad = [s for s in statuses if s not in jobs.STATUSES]
            if bad:
                return _bad(f"Invalid status value(s): {', '.join(bad)}. Valid values: {', '.join(jobs.STATUSES)}")
        sort_by, sort_order = q.get("sort_by", "created_at").lower(), q.get("sort_order", "desc").lower()
        if sort_by not in ("created_at", "execution_duration"):
            return _bad("sort_by must be 'created_at' or 'execution_duration'")
        if sort_order not in ("asc", "desc"):
            return _bad("sort_order must be 'asc' or 'desc'")
        limit = None
        if "limit" in q:
            try:
                limit = int(q["limit"])
            except ValueError:
                return _bad("limit must be an integer")
            if limit <= 0:
                return _bad("limit must be a positive integer")
        try:
            offset = max(0, int(q.get("offset", "0")))
        except ValueError:
            return _bad("offset must be an integer")
        found, total = jobs.list_jobs(engine, statuses, q.get("workflow_id"), sort_by, sort_order, limit, offset)
        return web.json_response(
            {
                "jobs": found,
                "pagination": {
                    "offset": offset,
                    "limit": limit,
                    "total": total,
                    "has_more": offset + len(found) < total,
                },
            }
        )

    @r.get("/api/jobs/{job_id}")
    async def get_job(request: web.Request) -> web.Response:
        job = jobs.get_job(engine, request.match_info["job_id"])
        return web.json_response(job) if job is not None else _bad("Job not found", 404)

    @r.post("/api/jobs/{job_id}/cancel")
    async def cancel_one(request: web.Request) -> web.Response:
        return web.json_response({"cancelled": jobs.cancel(engine, request.match_info["job_id"])})

    @r.post("/api/jobs/cancel")
    async def cancel_many(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _bad("Request body must be valid JSON")
        ids = body.get("job_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list):
            return _bad("job_ids must be a list")
        invalid = [i if isinstance(i, str) else repr(i) for i in ids if not jobs.valid_job_id(i)]
        if invalid:
            return _bad("job_ids contains invalid id(s)", invalid_ids=invalid)
        cancelled = False
        for jid in ids:
            cancelled = jobs.cancel(engine, jid) or cancelled
        return web.json_response({"cancelled": cancelled})


def _view(sim: "Simulator", request: web.Request) -> web.StreamResponse:
    """`GET /view` with ComfyUI's checks: 400 for `..`, `/` or an unknown type, 403 for an escaping subfolder."""
    q = request.rel_url.query
    if "filename" not in q:
        return web.Response(status=404)
    filename = q["filename"]
    root = None
    for kind in ("output", "input", "temp"):
        if filename.endswith(f" [{kind}]"):
            filename, root = filename[: -len(kind) - 3], sim.dirs.by_type(kind)
    if not filename or filename[0] == "/" or ".." in filename:
        return web.Response(status=400)
    if root is None:
        root = sim.dirs.by_type(q.get("type", "output"))
    if root is None:
        return web.Response(status=400)
    base = os.path.abspath(root)
    folder = base
    if "subfolder" in q:
        folder = os.path.join(base, q["subfolder"])
        if os.path.commonpath((os.path.abspath(folder), base)) != base:
            return web.Response(status=403)
    filename = os.path.basename(filename)
    path = os.path.join(folder, filename)
    if not os.path.isfile(path):
        return web.Response(status=404)
    headers = {"Content-Disposition": f'filename="{filename}"'}
    channel = q.get("channel", "rgba")
    if "preview" in q or channel in ("rgb", "a"):
        with Image.open(path) as img:
            buf = io.BytesIO()
            if "preview" in q:
                info = q["preview"].split(";")
                fmt = info[0] if info[0] in ("webp", "jpeg") and "a" not in channel else "webp"
                quality = int(info[-1]) if info[-1].isdigit() else 90
                out = img.convert("RGB") if fmt == "jpeg" or channel == "rgb" else img
                out.save(buf, format=fmt, quality=quality)
                ctype = f"image/{fmt}"
            elif channel == "rgb":
                img.convert("RGB").save(buf, format="PNG")
                ctype = "image/png"
            else:
                alpha = img.getchannel("A") if img.mode == "RGBA" else Image.new("L", img.size, 255)
                out = Image.new("RGBA", img.size)
                out.putalpha(alpha)
                out.save(buf, format="PNG")
                ctype = "image/png"
        return web.Response(body=buf.getvalue(), content_type=ctype, headers=headers)
    ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if ctype in ("text/html", "text/html-sandboxed", "application/xhtml+xml", "text/javascript", "text/css"):
        ctype = "application/octet-stream"
    return web.FileResponse(path, headers={**headers, "Content-Type": ctype})
