"""The Jobs API of newer ComfyUI releases (comfy_execution/jobs.py), for `jobs_api=True`.

Job dicts carry the same keys as the real server's (`id`, `status`, `priority`,
`create_time`, execution times, `outputs_count`, `preview_output`, ...), with
`None` values pruned; cancel is atomic because the simulator's engine runs on
one event loop, like the real one holding its queue lock.
"""

from __future__ import annotations

import uuid
from typing import Any

from gentui.simulator.engine import Engine

STATUSES = ["pending", "in_progress", "completed", "failed", "cancelled"]


def valid_job_id(value: Any) -> bool:
    """A canonical lowercase hyphenated UUID, as newer servers require."""
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _prune(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _meta(extra: dict[str, Any]) -> tuple[Any, Any]:
    workflow = (extra.get("extra_pnginfo") or {}).get("workflow") or {}
    return extra.get("create_time"), workflow.get("id") if isinstance(workflow, dict) else None


def from_queue(item: list[Any], status: str, detail: bool = False) -> dict[str, Any]:
    priority, prompt_id, prompt, extra, _ = item
    create_time, workflow_id = _meta(extra)
    job = _prune(
        {
            "id": prompt_id,
            "status": status,
            "priority": priority,
            "create_time": create_time,
            "outputs_count": 0,
            "previewable_outputs_count": 0,
            "workflow_id": workflow_id,
        }
    )
    if detail:
        job["workflow"] = {"prompt": prompt, "extra_data": extra}
    return job


def from_history(prompt_id: str, entry: dict[str, Any], detail: bool = False) -> dict[str, Any]:
    priority, _, prompt, extra, _ = entry["prompt"]
    create_time, workflow_id = _meta(extra)
    status_info = entry.get("status") or {}
    start = end = error = None
    interrupted = False
    for name, data in status_info.get("messages", []):
        if name == "execution_start":
            start = data.get("timestamp")
        elif name in ("execution_success", "execution_error", "execution_interrupted"):
            end = data.get("timestamp")
            error = data if name == "execution_error" else error
            interrupted = interrupted or name == "execution_interrupted"
    if status_info.get("status_str") == "error":
        status = "cancelled" if interrupted else "failed"
    else:
        status = "completed"
    count, preview = 0, None
    for nid, node_out in (entry.get("outputs") or {}).items():
        for media, items in node_out.items():
            if not isinstance(items, list):
                continue
            for it in items:
                if isinstance(it, dict):
                    count += 1
                    if preview is None and it.get("type") == "output":
                        preview = {**it, "nodeId": nid, "mediaType": media}
    job = _prune(
        {
            "id": prompt_id,
            "status": status,
            "priority": priority,
            "create_time": create_time,
            "execution_start_time": start,
            "execution_end_time": end,
            "execution_error": error,
            "outputs_count": count,
            "previewable_outputs_count": count,
            "preview_output": preview,
            "workflow_id": workflow_id,
        }
    )
    if detail:
        job["outputs"] = entry.get("outputs") or {}
        job["execution_status"] = status_info
        job["workflow"] = {"prompt": prompt, "extra_data": extra}
    return job


def get_job(engine: Engine, job_id: str) -> dict[str, Any] | None:
    if job_id in engine.history:
        return from_history(job_id, engine.history[job_id], detail=True)
    if engine.running is not None and engine.running.prompt_id == job_id:
        return from_queue(engine.running.as_list(), "in_progress", detail=True)
    for item in engine.queue:
        if item.prompt_id == job_id:
            return from_queue(item.as_list(), "pending", detail=True)
    return None


def list_jobs(
    engine: Engine,
    statuses: list[str] | None,
    workflow_id: str | None,
    sort_by: str,
    sort_order: str,
    limit: int | None,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    wanted = set(statuses or STATUSES)
    jobs: list[dict[str, Any]] = []
    if "in_progress" in wanted and engine.running is not None:
        jobs.append(from_queue(engine.running.as_list(), "in_progress"))
    if "pending" in wanted:
        jobs.extend(from_queue(item.as_list(), "pending") for item in engine.queue)
    if wanted & {"completed", "failed", "cancelled"}:
        for pid, entry in engine.history.items():
            job = from_history(pid, entry)
            if job["status"] in wanted:
                jobs.append(job)
    if workflow_id:
        jobs = [j for j in jobs if j.get("workflow_id") == workflow_id]
    if sort_by == "execution_duration":

        def key(j: dict[str, Any]) -> Any:
            s, e = j.get("execution_start_time", 0), j.get("execution_end_time", 0)
            return e - s if s and e else 0
    else:

        def key(j: dict[str, Any]) -> Any:
            return j.get("create_time", 0)

    jobs.sort(key=key, reverse=sort_order == "desc")
    total = len(jobs)
    jobs = jobs[offset:] if offset > 0 else jobs
    return (jobs[:limit] if limit is not None else jobs), total


def cancel(engine: Engine, job_id: str) -> bool:
    """Running -> interrupt, pending -> delete, finished or unknown -> no-op; True when it acted."""
    if engine.running is not None and engine.running.prompt_id == job_id:
        return engine.interrupt(job_id)
    return engine.delete_pending(job_id)
