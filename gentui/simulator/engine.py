"""The execution engine: ComfyUI's PromptExecutor and prompt worker, simulated.

One prompt runs at a time, taken from the queue (prompt_queue.py). Each run follows `execution.py` at v0.3.64: the
classic cache (a node re-runs only when its inputs or something upstream
changed), ComfyUI's execution order (`ExecutionList.ux_friendly_pick_node`),
the same websocket messages in the same order, and the history entry written
after `execution_success` but before `status` and `executing{node:null}`.
Samplers sleep `step_ms` per step; an interrupt lands at the next step.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gentui.simulator.catalogue import ModelCatalogue
from gentui.simulator.evaluate import (
    NodeFailure,
    compute,
    input_reprs,
    sampler_steps,
    save_images,
)
from gentui.simulator.faults import Faults
from gentui.simulator.hub import Hub
from gentui.simulator.ledger import Ledger
from gentui.simulator.nodes import NODE_SPECS
from gentui.simulator.order import ExecutionList, is_link
from gentui.simulator.prerender import Prerenderer
from gentui.simulator.progress import Progress
from gentui.simulator.prompt_queue import PromptQueue, QueueItem
from gentui.simulator.render import encode_png, preview_frames, render_scene
from gentui.simulator.validate import coerce_inputs

log = logging.getLogger("gentui.sim")


class Interrupted(Exception):
    """Raised at the next step after `/interrupt` (InterruptProcessingException)."""


@dataclass
class Dirs:
    """Where images go, by `/view` type."""

    output: Path
    temp: Path
    input: Path

    def by_type(self, kind: str) -> Path | None:
        return {"output": self.output, "temp": self.temp, "input": self.input}.get(kind)


class Engine(PromptQueue):
    """The worker task that runs prompts from the queue, with the classic cache."""

    def __init__(
        self,
        hub: Hub,
        catalogue: ModelCatalogue,
        dirs: Dirs,
        step_ms: float = 50.0,
        preview: bool = False,
        jobs_api: bool = False,
        faults: Faults | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.hub, self.catalogue, self.dirs = hub, catalogue, dirs
        self.faults = faults or Faults()
        self.ledger = ledger if ledger is not None else Ledger()
        self.step_ms, self.preview, self.jobs_api = step_ms, preview, jobs_api
        PromptQueue.__init__(self, hub)
        self.outputs_cache: dict[str, tuple[Any, ...]] = {}
        self.ui_cache: dict[str, dict[str, Any]] = {}
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self.interrupt_flag = False
        self.busy_seconds = 0.0  # time spent executing prompts (for benchmarks)
        self._task: asyncio.Task[None] | None = None
        self._rand = random.Random(0)
        self.prerender = Prerenderer()
        hub.state = lambda: (self.status(), self.client_id, self.last_node_id)

    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Interrupt what runs (only if it is `prompt_id`, when given); True when it fired."""
        if prompt_id is not None and (self.running is None or self.running.prompt_id != prompt_id):
            log.info("Prompt %s is not currently running, skipping interrupt", prompt_id)
            return False
        self.interrupt_flag = True
        return self.running is not None

    def free(self, free_memory: bool) -> None:
        if free_memory:
            self.outputs_cache.clear()
            self.ui_cache.clear()

    # ---- worker ------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._worker())

    async def stop(self) -> None:
        self.prerender.close()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass

    async def _worker(self) -> None:
        while True:
            item = await self.get()
            started = time.perf_counter()
            try:
                success, messages, result = await self._execute(item)
            except Exception:  # noqa: BLE001 - the simulator itself must not die with one prompt
                log.exception("simulator bug while running %s", item.prompt_id)
                success, messages, result = False, [], {"outputs": {}, "meta": {}}
            if self.faults.history_delay_ms > 0:
                await self.hub.flush()
                await asyncio.sleep(self.faults.history_delay_ms / 1000.0)
            self._task_done(item, success, messages, result)
            if self.client_id is not None:
                self.hub.emit("executing", {"node": None, "prompt_id": item.prompt_id}, self.client_id)
            elapsed = time.perf_counter() - started
            self.busy_seconds += elapsed
            log.info("Prompt executed in %.2f seconds", elapsed)

    # ---- one prompt --------------------------------------------------------------------------
    def _signatures(self, prompt: dict[str, Any]) -> dict[str, str]:
        sigs: dict[str, str] = {}

        def sig(nid: str, trail: tuple[str, ...] = ()) -> str:
            if nid in sigs:
                return sigs[nid]
            node = prompt[nid]
            parts: list[Any] = [node["class_type"]]
            if NODE_SPECS[node["class_type"]].volatile:
                parts.append(time.time_ns())
            for name in sorted(node.get("inputs", {})):
                val = node["inputs"][name]
                if is_link(val) and val[0] in prompt and val[0] not in trail:
                    parts.append([name, "link", sig(val[0], trail + (nid,)), val[1]])
                else:
                    parts.append([name, val])
            sigs[nid] = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
            return sigs[nid]

        for nid in prompt:
            sig(nid)
        return sigs

    def _add_message(self, messages: list, event: str, data: dict[str, Any], broadcast: bool) -> None:
        data = {**data, "timestamp": int(time.time() * 1000)}
        messages.append([event, data])
        if self.client_id is not None or broadcast:
            self.hub.emit(event, data, self.client_id)

    async def _execute(self, item: QueueItem) -> tuple[bool, list, dict[str, Any]]:
        prompt, pid = item.prompt, item.prompt_id
        self.interrupt_flag = False
        self.client_id = item.extra_data.get("client_id")
        messages: list = []
        self._add_message(messages, "execution_start", {"prompt_id": pid}, False)
        self.ledger.started(pid)
        sigs = self._signatures(prompt)
        used = set(sigs.values())
        self.outputs_cache = {k: v for k, v in self.outputs_cache.items() if k in used}
        self.ui_cache = {k: v for k, v in self.ui_cache.items() if k in used}
        cached = [nid for nid in prompt if sigs[nid] in self.outputs_cache]
        self._add_message(messages, "execution_cached", {"nodes": cached, "prompt_id": pid}, False)
        progress = Progress(self.hub, pid, self.client_id)
        order = ExecutionList(prompt, lambda n: sigs[n] in self.outputs_cache)
        for out in item.outputs:
            order.add_node(out)
        executed: list[str] = []
        success = True
        while not order.empty():
            nid = order.pick()
            try:
                if nid is None:
                    nid = next(iter(order.pending))
                    raise NodeFailure("graph.DependencyCycleError", "Dependency cycle detected")
                await self._run_node(item, nid, sigs, progress, executed)
            except Exception as raw:  # noqa: BLE001 - any node failure becomes execution_error, as on ComfyUI
                ex = raw
                if not isinstance(raw, (Interrupted, NodeFailure)):
                    log.exception("node %s (%s) failed", nid, prompt[nid]["class_type"])
                    kind = type(raw)
                    name = (
                        kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
                    )
                    ex = NodeFailure(name, str(raw), traceback.format_tb(raw.__traceback__))
                success = False
                node_type = prompt[nid]["class_type"]
                if isinstance(ex, Interrupted):
                    self._add_message(
                        messages,
                        "execution_interrupted",
                        {"prompt_id": pid, "node_id": nid, "node_type": node_type, "executed": list(executed)},
                        True,
                    )
                else:
                    inputs = coerce_inputs(prompt[nid], self.catalogue)
                    link_types = {
                        k: NODE_SPECS[prompt[v[0]]["class_type"]].return_types[v[1]]
                        for k, v in inputs.items()
                        if is_link(v)
                    }
                    self._add_message(
                        messages,
                        "execution_error",
                        {
                            "prompt_id": pid,
                            "node_id": nid,
                            "node_type": node_type,
                            "executed": list(executed),
                            "exception_message": f"{ex.message}\n",
                            "exception_type": ex.exception_type,
                            "traceback": ex.traceback,
                            "current_inputs": input_reprs(inputs, link_types),
                            "current_outputs": list(prompt),
                        },
                        False,
                    )
                break
            order.complete(nid)
            await asyncio.sleep(0)
        else:
            self._add_message(messages, "execution_success", {"prompt_id": pid}, False)
        outputs, meta = {}, {}
        for nid in prompt:
            ui = self.ui_cache.get(sigs[nid])
            if ui is not None:
                outputs[nid], meta[nid] = ui["output"], ui["meta"]
        self.last_node_id = None
        return success, messages, {"outputs": outputs, "meta": meta}

    async def _run_node(
        self, item: QueueItem, nid: str, sigs: dict[str, str], progress: Progress, executed: list[str]
    ) -> None:
        prompt, pid, cid = item.prompt, item.prompt_id, self.client_id
        node = prompt[nid]
        class_type = node["class_type"]
        spec = NODE_SPECS[class_type]
        if sigs[nid] in self.outputs_cache:
            if cid is not None:
                ui = self.ui_cache.get(sigs[nid]) or {}
                self.hub.emit(
                    "executed", {"node": nid, "display_node": nid, "output": ui.get("output"), "prompt_id": pid}, cid
                )
            progress.finish(nid)
            return
        progress.start(nid)
        if cid is not None:
            self.last_node_id = nid
            self.hub.emit("executing", {"node": nid, "display_node": nid, "prompt_id": pid}, cid)
        if self.interrupt_flag:
            raise Interrupted()
        args = coerce_inputs(node, self.catalogue)
        for name, val in list(args.items()):
            if is_link(val):
                args[name] = self.outputs_cache[sigs[val[0]]][val[1]]
        ui_output = None
        if spec.sampler:
            result = compute(class_type, args, self.catalogue)

            def cached_value(link: list[Any]) -> Any:
                hit = self.outputs_cache.get(sigs.get(link[0], ""))
                return hit[link[1]] if hit is not None and len(hit) > link[1] else None

            self.prerender.look_ahead(prompt, nid, result[0]["scene"], cached_value, self._texts(item))
            await self._sample(pid, nid, sampler_steps(class_type, args), result[0]["scene"], progress)
        elif spec.volatile:  # SaveImageWebsocket: the PNG goes out as a binary frame, no UI output
            result = ()
            scene = args["images"]["scene"]
            loop = asyncio.get_running_loop()
            batch = int(scene.get("batch", 1) or 1)
            for index in range(batch):
                shot = scene if index == 0 else {**scene, "batch_index": index}
                png = await loop.run_in_executor(self.prerender.pool, self.prerender.encoded, shot, {}, 1)
                progress.step(nid, index, batch, png, "image/png")
        elif spec.output_node:
            result = ()
            ui_output = {"images": self.faults.disguise(await self._save(item, args, class_type))}
        else:
            result = compute(class_type, args, self.catalogue)
        executed.append(nid)
        self.ledger.executed(class_type)
        self.outputs_cache[sigs[nid]] = result
        if ui_output is not None:
            self.ui_cache[sigs[nid]] = {
                "meta": {"node_id": nid, "display_node": nid, "parent_node": None, "real_node_id": nid},
                "output": ui_output,
            }
            if cid is not None:
                self.hub.emit(
                    "executed", {"node": nid, "display_node": nid, "output": ui_output, "prompt_id": pid}, cid
                )
        progress.finish(nid)

    async def _sample(self, pid: str, nid: str, steps: int, scene: dict[str, Any], progress: Progress) -> None:
        frames: list[bytes] = []
        if self.preview and steps:
            frames = await asyncio.get_running_loop().run_in_executor(None, preview_frames, scene, steps)
        start = time.perf_counter()
        for step in range(1, steps + 1):
            delay = start + step * self.step_ms / 1000.0 - time.perf_counter()
            await asyncio.sleep(max(0.0, delay))
            await self.faults.gate()
            if self.interrupt_flag:
                raise Interrupted()
            progress.step(nid, step, steps, frames[step - 1] if frames else None)

    @staticmethod
    def _texts(item: QueueItem) -> dict[str, str]:
        """The PNG text chunks ComfyUI writes: the API graph, then each extra_pnginfo entry."""
        texts = {"prompt": json.dumps(item.prompt)}
        for key, value in (item.extra_data.get("extra_pnginfo") or {}).items():
            texts[key] = json.dumps(value)
        return texts

    async def _save(self, item: QueueItem, args: dict[str, Any], class_type: str) -> list[dict[str, str]]:
        scene = args["images"]["scene"]
        texts = self._texts(item)
        if class_type == "SaveImage":
            prefix, root, kind, level = str(args.get("filename_prefix", "ComfyUI")), self.dirs.output, "output", 4
        else:
            suffix = "".join(self._rand.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))
            prefix, root, kind, level = f"ComfyUI_temp_{suffix}", self.dirs.temp, "temp", 1
        loop = asyncio.get_running_loop()
        encode = self.prerender.encoded
        if self.faults.nondeterministic:
            seed = self._rand.randrange(2**32)

            def encode(shot: dict[str, Any], texts: dict[str, str], level: int) -> bytes:
                return encode_png(jitter(render_scene(shot), seed), texts, level)
        try:
            return await loop.run_in_executor(
                self.prerender.pool, save_images, scene, prefix, root, kind, texts, level, encode
            )
        except NodeFailure:
            raise
        except OSError as e:
            raise NodeFailure(type(e).__qualname__, str(e)) from e


def jitter(image: Any, seed: int, share: float = 0.02) -> Any:
    """Nudge a few pixels by one or two levels, as non-deterministic GPU kernels do."""
    rng = random.Random(seed)
    img = image.copy()
    px = img.load()
    w, h = img.size
    for _ in range(max(1, int(w * h * share))):
        x, y = rng.randrange(w), rng.randrange(h)
        r, g, b = px[x, y][:3]
        d = rng.choice((-2, -1, 1, 2))
        px[x, y] = (min(255, max(0, r + d)), min(255, max(0, g + d)), min(255, max(0, b + d)))
    return img
