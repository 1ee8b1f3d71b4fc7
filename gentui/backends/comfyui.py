"""`ComfyBackend`: gentui's Backend over a ComfyUI server (HTTP + websocket).

Submit posts a bound workflow with a client-chosen prompt id; follow turns the
websocket's events into JobEvents and reads the outputs from `/history` only
after `executing {node: null}` (the history entry is written after
`execution_success`). A dropped socket reconnects with the same clientId, and
a watchdog polls `/history` whenever the socket is quiet or down, so a missed
finish is still seen. A server that stops answering is retried with backoff
and reported as `BackendUnavailable` with the last (redacted) error.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
import uuid
from typing import Any

from gentui.backends.base import (
    Abilities,
    Backend,
    BackendError,
    BackendUnavailable,
    Health,
    PromptStatus,
    RunOutcome,
    ValidationFailed,
)
from gentui.backends.comfy_errors import (
    describe_prompt_error,
    folder_of,
    list_names,
    node_label,
    truncated_choices,
)
from gentui.backends.comfy_follow import FollowMixin
from gentui.backends.comfy_http import (
    AuthRefused,
    ComfyHttp,
    is_prompt_id,
    new_prompt_id,
)
from gentui.backends.comfy_ws import ComfySocket, WsEvent
from gentui.backends.connection import Connection, resolve_connection
from gentui.backends.launcher import Launcher
from gentui.backends.workflow import MODEL_INPUTS, load_workflow
from gentui.config import BackendSettings, Settings
from gentui.params import JobParams

log = logging.getLogger(__name__)

FRESH_S = 2.0
"""A health check this recent stands for `ensure_ready`."""


class ComfyBackend(FollowMixin, Backend):
    """One ComfyUI server as a serial lane of generation."""

    abilities = Abilities(prequeue=True, previews=True)

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        poll_s: float = 2.0,
        unreachable_timeout_s: float | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.bsettings: BackendSettings = settings.backends[name]
        self._conn: Connection | None = None
        self._http: ComfyHttp | None = None
        self._ws: ComfySocket | None = None
        self.client_id = f"gentui-{uuid.uuid4().hex[:12]}"
        self.poll_s = poll_s
        self.unreachable_timeout_s = (
            unreachable_timeout_s
            if unreachable_timeout_s is not None
            else self.bsettings.unreachable_timeout_s
        )
        self.download_dir = settings.output_dir / ".incoming" / name
        self._graphs: dict[str, dict[str, Any]] = {}
        self._cancelled: set[str] = set()
        self._info_cache: dict[str, tuple[float, dict[str, Any]]] = {}
        launch = self.bsettings.launch
        self.launcher = Launcher(name, launch, settings.log_dir) if launch and launch.command else None
        self.last_health: Health | None = None
        self._health_at = 0.0
        self._workflows: dict[str, tuple[tuple[float, ...], Any]] = {}

    # -- plumbing -------------------------------------------------------------
    @property
    def conn(self) -> Connection:
        if self._conn is None:
            self._conn = resolve_connection(self.name, self.bsettings)
        return self._conn

    @property
    def http(self) -> ComfyHttp:
        if self._http is None:
            self._http = ComfyHttp(self.conn)
        return self._http

    @property
    def ws(self) -> ComfySocket:
        if self._ws is None:
            self._ws = ComfySocket(self.conn, self.client_id)
        return self._ws

    def redact(self, text: Any) -> str:
        try:
            return self.conn.redact(text)
        except BackendError:
            return str(text)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.aclose()
        if self.launcher is not None:
            await asyncio.to_thread(self.launcher.stop)

    # -- health -----------------------------------------------------------------
    async def health(self) -> Health:
        """Reachable? auth accepted? version, Jobs API, round-trip time, simulator marker."""
        try:
            stats, rtt = await self.http.system_stats()
            jobs = await self.http.jobs_api()
        except AuthRefused as e:
            h = Health(False, detail=str(e), features={"reachable": True, "auth": False})
        except BackendError as e:
            h = Health(False, detail=self.redact(e), features={"reachable": False})
        else:
            system = stats.get("system", {}) if isinstance(stats, dict) else {}
            simulator = bool(
                system.get("simulator") or "simulator" in str(system.get("comfyui_version", "")).lower()
                or stats.get("simulator")
            )
            devices = [d.get("name", "") for d in stats.get("devices", []) if isinstance(d, dict)]
            detail = ("simulator (test double of ComfyUI)" if simulator else "") or ", ".join(devices)
            h = Health(
                True,
                version=str(system.get("comfyui_version", "")),
                detail=detail,
                rtt_ms=round(rtt, 1),
                features={"reachable": True, "auth": True, "jobs_api": jobs, "simulator": simulator,
                          "devices": devices, "url": self.conn.base_url},
            )
        self.last_health = h
        self._health_at = time.monotonic()
        return h

    async def ensure_ready(self) -> Health:
        """Health, starting the server first when it is down and `launch` is configured."""
        if self.last_health is not None and self.last_health.ok and time.monotonic() - self._health_at < FRESH_S:
            return self.last_health  # just checked (the worker warms up before it takes the lease)
        h = await self.health()
        if h.ok:
            return h
        if h.features.get("auth") is False:
            raise BackendUnavailable(h.detail)
        if self.launcher is None:
            raise BackendUnavailable(
                f"backend {self.name!r} at {self.conn.base_url} is not running ({h.detail}). Start ComfyUI there, "
                f"or set [backends.{self.name}.launch] command = \"python main.py --port ...\" so gentui starts it"
            )
        await self.launcher.start_and_wait(self._probe)
        h = await self.health()
        if not h.ok:
            raise BackendUnavailable(h.detail)
        return h

    async def _probe(self) -> bool:
        try:
            await self.http.system_stats(retries=0)
            return True
        except AuthRefused:
            return True
        except BackendError:
            return False

    # -- validation ---------------------------------------------------------------
    def bind(self, params: JobParams) -> dict[str, Any]:
        """The job's workflow graph with its parameters applied (the exact request sent)."""
        if params.graph is not None:
            return copy.deepcopy(dict(params.graph))  # a rerun sends the recorded graph as it was
        return self._workflow(params.workflow or self.settings.defaults.workflow).bind(params.binding_values())

    def _workflow(self, name: str) -> Any:
        """The workflow pair, read again only when one of its files changed."""
        hit = self._workflows.get(name)
        if hit is not None and hit[0] == _mtimes(hit[1]):
            return hit[1]
        wf = load_workflow(name, self.settings)
        self._workflows[name] = (_mtimes(wf), wf)
        return wf

    async def _object_info(self, cls: str) -> dict[str, Any]:
        hit = self._info_cache.get(cls)
        if hit and time.monotonic() - hit[0] < 10:
            return hit[1]
        info = await self.http.object_info(cls)
        info = info if isinstance(info, dict) else {}
        self._info_cache[cls] = (time.monotonic(), info)
        return info

    async def _choices(self, cls: str, inp: str) -> list[str] | None:
        """What the server accepts for a combo input (from /object_info, else /models/{folder})."""
        info = await self._object_info(cls)
        inputs = info.get("input") if isinstance(info.get("input"), dict) else {}
        spec = None
        for section in ("required", "optional"):
            table = inputs.get(section)
            if isinstance(table, dict) and inp in table:
                spec = table[inp]
                break
        if isinstance(spec, list) and spec:
            if isinstance(spec[0], list):
                return [str(x) for x in spec[0]]
            if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
                return [str(x) for x in spec[1].get("options", [])]
        folder = folder_of(cls, inp)
        return await self.http.models(folder) if folder else None

    async def validate(self, params: JobParams) -> None:
        """Refuse a job whose node classes or model files the server lacks, listing what it has."""
        graph = self.bind(params)
        await self.validate_graph(graph)

    async def validate_graph(self, graph: dict[str, Any]) -> None:
        problems: list[str] = []
        for cls in sorted({n["class_type"] for n in graph.values()}):
            if not await self._object_info(cls):
                users = ", ".join(node_label(graph, nid) for nid, n in graph.items() if n["class_type"] == cls)
                problems.append(f"the server has no node class {cls!r} (used by {users}); install the custom node")
        for nid, node in graph.items():
            for inp, folder in MODEL_INPUTS.get(node["class_type"], {}).items():
                value = node["inputs"].get(inp)
                if not isinstance(value, str):
                    continue
                choices = await self._choices(node["class_type"], inp)
                if choices is not None and value not in choices:
                    problems.append(
                        f"{node_label(graph, nid)}: {folder} file {value!r} is not on backend {self.name!r}; "
                        f"it has: {list_names(choices)}"
                    )
        if problems:
            raise ValidationFailed("; ".join(problems))

    # -- submit -------------------------------------------------------------------
    async def submit(self, params: JobParams, *, prompt_id: str, front: bool = False) -> str:
        """Bind the job's workflow and queue it under the prompt id the worker recorded first."""
        return await self.submit_graph(self.bind(params), front=front, prompt_id=prompt_id)

    async def submit_graph(self, graph: dict[str, Any], *, front: bool = False, prompt_id: str | None = None) -> str:
        """Post an API graph under a fresh (or given) prompt id; the socket is listening first."""
        pid = prompt_id or new_prompt_id()
        if not is_prompt_id(pid):
            raise ValidationFailed(f"prompt id {pid!r} is not a canonical lowercase UUID (newer servers refuse it)")
        self.ws.register(pid)
        await self.ws.wait_connected(self.conn.connect_timeout_s)
        if self.ws.auth_error:
            self.ws.unregister(pid)
            raise AuthRefused(self.ws.auth_error)
        body: dict[str, Any] = {"prompt": graph, "client_id": self.client_id, "prompt_id": pid}
        if front:
            body["front"] = True
        try:
            resp = await self.http.post_prompt(body)
        except BaseException:
            self.ws.unregister(pid)
            raise
        if resp.status_code == 400:
            self.ws.unregister(pid)
            try:
                err = resp.json()
            except ValueError:
                err = resp.text
            raise ValidationFailed(self.redact(await self._explain(err, graph)))
        self._graphs[pid] = graph
        return pid

    async def _explain(self, body: Any, graph: dict[str, Any]) -> str:
        """Message for a 400, fetching `/models/{folder}` when the server cut its list short."""
        choices: dict[tuple[str, str], list[str]] = {}
        node_errors = body.get("node_errors") if isinstance(body, dict) else None
        if isinstance(node_errors, dict):
            for nid, ne in node_errors.items():
                errors = ne.get("errors") if isinstance(ne, dict) else None
                for e in errors if isinstance(errors, list) else []:
                    if not truncated_choices(e) or not isinstance(e.get("extra_info"), dict):
                        continue
                    inp = str(e["extra_info"].get("input_name", ""))
                    if inp:
                        found = await self._choices(str(ne.get("class_type", "")), inp)
                        if found is not None:
                            choices[(str(nid), inp)] = found
        return f"backend {self.name!r} refused the job: " + describe_prompt_error(body, graph, choices)

    # -- control ------------------------------------------------------------------
    async def lookup(self, prompt_id: str) -> PromptStatus:
        """What the server knows of the prompt (`/queue`, then `/history`)."""
        running, pending = await self.http.queue()
        if prompt_id in running:
            return PromptStatus.RUNNING
        if prompt_id in pending:
            return PromptStatus.PENDING
        if await self.http.history(prompt_id) is not None:
            return PromptStatus.FINISHED
        return PromptStatus.UNKNOWN

    async def collect(self, prompt_id: str) -> RunOutcome | None:
        """A finished prompt's outcome from `/history`, its images downloaded; None if it has not finished."""
        entry = await self.http.history(prompt_id)
        if entry is None:
            return None

        async def quiet(_ev: Any) -> None:
            return None

        return await self._outcome(prompt_id, entry, self._graphs.pop(prompt_id, {}), time.monotonic(), quiet)

    async def interrupt(self, prompt_id: str) -> None:
        """Stop the prompt if it is running (never whatever else happens to run)."""
        if await self.http.jobs_api():
            await self.http.job_cancel(prompt_id)
        else:
            await self.http.interrupt(prompt_id)

    async def cancel(self, prompt_id: str) -> None:
        """Remove a prompt wherever it is: pending -> deleted, running -> interrupted."""
        self._cancelled.add(prompt_id)
        if await self.http.jobs_api():
            await self.http.job_cancel(prompt_id)
            self._poke(prompt_id)
            return
        await self.http.queue_delete([prompt_id])
        running, _ = await self.http.queue()
        if prompt_id in running:  # it started between our look and the delete
            await self.http.interrupt(prompt_id)
        self._poke(prompt_id)

    async def cancel_pending(self, prompt_id: str) -> bool:
        """Delete the prompt if it is still waiting; a prompt that has started is left to run."""
        running, pending = await self.http.queue()
        if prompt_id in running:
            return False
        if prompt_id in pending:
            await self.http.queue_delete([prompt_id])  # deletes only pending entries, on every generation
            running, pending = await self.http.queue()
            if prompt_id in running:
                return False
        if await self.http.history(prompt_id) is not None:
            return False  # it ran already
        self._cancelled.add(prompt_id)
        self._poke(prompt_id)
        return True

    def _poke(self, prompt_id: str) -> None:
        """Wake a follower so it re-reads the server's state now."""
        if self._ws is not None and prompt_id in self._ws.queues:
            self._ws.queues[prompt_id].put_nowait(WsEvent("socket", {"state": "poke"}))


def _mtimes(wf: Any) -> tuple[float, ...]:
    out = []
    for p in (wf.binding_path, wf.graph_path):
        try:
            out.append(p.stat().st_mtime if p is not None else 0.0)
        except OSError:
            out.append(-1.0)
    return tuple(out)
