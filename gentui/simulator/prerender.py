"""Encode the final PNG while the sampler is still "running".

On a real server the image exists only after VAE decode; in the simulator the
picture is fully determined when the sampler starts, so it is rendered in a
worker thread during the sampler's sleeps and SaveImage only writes the bytes.
This keeps a job's execution time close to steps x step_ms, which the queue
benchmark relies on. The bytes are the same either way.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from gentui.simulator.nodes import NODE_SPECS
from gentui.simulator.order import is_link
from gentui.simulator.render import encode_png, render_scene


def _key(scene: dict[str, Any], texts: dict[str, str], level: int) -> str:
    blob = json.dumps([scene, texts, level], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class Prerenderer:
    """A small thread pool and the PNGs it is encoding, keyed by what shapes their bytes."""

    def __init__(self) -> None:
        # Two workers: SaveImage may wait on a pre-render while another one runs.
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gentui-sim-render")
        self._jobs: dict[str, Future[bytes]] = {}

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, scene: dict[str, Any], texts: dict[str, str], level: int) -> None:
        key = _key(scene, texts, level)
        if key not in self._jobs:
            if len(self._jobs) > 16:  # forget finished work from earlier prompts
                for k in [k for k, f in self._jobs.items() if f.done()]:
                    del self._jobs[k]
            self._jobs[key] = self.pool.submit(lambda: encode_png(render_scene(scene), texts, level))

    def encoded(self, scene: dict[str, Any], texts: dict[str, str], level: int) -> bytes:
        """The PNG bytes: from a pre-render when one was started, else encoded now."""
        future = self._jobs.pop(_key(scene, texts, level), None)
        if future is not None:
            return future.result()
        return encode_png(render_scene(scene), texts, level)

    def look_ahead(
        self, prompt: dict[str, Any], sampler_id: str, scene: dict[str, Any], value_of: Any, texts: dict[str, str]
    ) -> None:
        """Start encoding what the image nodes fed by `sampler_id` will save, when that is already known.

        `value_of(link)` returns a cached upstream output or None.
        """
        for dec_id, dec in prompt.items():
            if dec.get("class_type") != "VAEDecode" or dec.get("inputs", {}).get("samples") != [sampler_id, 0]:
                continue
            vae_link = dec["inputs"].get("vae")
            vae = value_of(vae_link) if is_link(vae_link) else None
            if not isinstance(vae, dict) or "vae" not in vae:
                continue
            decoded = {**scene, "vae": vae["vae"]}
            for node in prompt.values():
                spec = NODE_SPECS.get(node.get("class_type", ""))
                if spec is None or not spec.output_node or node.get("inputs", {}).get("images") != [dec_id, 0]:
                    continue
                level = 4 if node["class_type"] == "SaveImage" else 1
                for index in range(int(decoded.get("batch", 1) or 1)):
                    shot = decoded if index == 0 else {**decoded, "batch_index": index}
                    self.submit(shot, texts, level)
