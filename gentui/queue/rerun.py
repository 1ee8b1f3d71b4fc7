"""Reproducibility: queue a result's exact job again and say whether the new image matches the old one.

A rerun sends the graph that made the result (`workflow_api` from its sidecar:
same seed, models, LoRAs and strengths; for mflux the same parameters) as a new
job in the result's sweep, linked to it (`rerun_of`) and exempt from the
sweep's duplicate check. When it is recorded the two images are compared:
identical bytes, or else the distance of their perceptual hashes (64-bit
dHash, 0 = same structure) and the share of pixels that changed. The finding
is written into both sidecars (`reproducibility` on the new one, `reruns` on the
original), so a different GPU or a sampler with noise is caught and kept.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gentui.catalog.db import Catalog
from gentui.catalog.sidecar import SidecarError, read_sidecar, update_sidecar
from gentui.config import Settings
from gentui.params import JobParams
from gentui.queue.store import JobError, JobStore, QueueReport

RERUN_SWEEP = "reruns"
"""The sweep a rerun joins when its original belongs to none (an imported image)."""


class RerunError(ValueError):
    """The result cannot be run again as it was; the message says why."""


@dataclass(frozen=True)
class Comparison:
    identical: bool
    hash_distance: int
    """Hamming distance of the two 64-bit dHashes (0..64)."""
    changed_share: float
    """Share of pixels that differ at all (0..1)."""
    same_size: bool

    def to_dict(self) -> dict[str, Any]:
        return {"identical": self.identical, "hash_distance": self.hash_distance,
                "changed_share": round(self.changed_share, 6), "same_size": self.same_size}

    def describe(self) -> str:
        if self.identical:
            return "identical: the same bytes (this setup is deterministic)"
        if not self.same_size:
            return "different size: not the same image"
        return (f"not identical: perceptual-hash distance {self.hash_distance}/64, "
                f"{self.changed_share:.2%} of the pixels changed (a non-deterministic setup)")


def rerun_params(catalog: Catalog, result: Any, settings: Settings, backend: str | None) -> JobParams:
    """The parameters that made `result`, as a new job on `backend` (default: the one that made it)."""
    path = Path(result.path)
    if not path.is_file():
        raise RerunError(f"result {result.id}: its image {path} is gone, so a rerun could not be compared")
    try:
        side = read_sidecar(result.sidecar_path) if result.sidecar_path else {}
    except SidecarError as e:
        raise RerunError(f"result {result.id}: {e}") from None
    params: JobParams | None = None
    if result.job_id is not None:
        store = JobStore(catalog)
        try:
            params = store.get(result.job_id).params
        except JobError:
            params = None
        finally:
            store.close()
    if params is None:
        params, _problems = JobParams.from_sidecar(side)
    graph = side.get("workflow_api")
    name = backend or (result.backend if result.backend in settings.backends else settings.defaults.backend)
    if name not in settings.backends:
        raise RerunError(f"no backend named {name!r}; configured: {', '.join(sorted(settings.backends))}")
    kind = settings.backends[name].type
    if kind == "comfyui" and not (isinstance(graph, dict) and graph and "argv" not in graph):
        raise RerunError(f"result {result.id} records no ComfyUI graph (workflow_api), so it cannot be sent again "
                         "as it was; queue its parameters from the editor instead")
    if params.seed is None:
        raise RerunError(f"result {result.id} records no seed: it cannot be reproduced")
    sha = result.sha256 or hashlib.sha256(path.read_bytes()).hexdigest()
    return params.with_(backend=name, graph=graph if kind == "comfyui" else None,
                        rerun_of={"result_id": result.id, "path": str(path), "sha256": sha,
                                  "nonce": uuid.uuid4().hex})


def queue_rerun(catalog: Catalog, settings: Settings, result: Any, backend: str | None = None) -> tuple[int, str, str]:
    """Queue the rerun; returns (job id, its sweep, its label)."""
    from gentui.queue.sweep import JobSpec

    params = rerun_params(catalog, result, settings, backend)
    sweep = params.sweep or RERUN_SWEEP
    params = params.with_(sweep=sweep)
    label = f"{params.label()} rerun#{result.id}"
    store = JobStore(catalog)
    try:
        spec = {"prompt": None, "params": {}, "source": f"rerun of result {result.id}", "description": ""}
        existing_axes = _sweep_axes(store, sweep)
        report: QueueReport = store.enqueue(sweep, spec if existing_axes is None else _sweep_spec(store, sweep),
                                            existing_axes or {}, [JobSpec(params, label, params.key_hash(), {})],
                                            backend=params.backend)
    finally:
        store.close()
    return report.added[0], sweep, label


def _sweep_axes(store: JobStore, name: str) -> dict[str, Any] | None:
    try:
        return store.find_sweep(name).axes
    except JobError:
        return None


def _sweep_spec(store: JobStore, name: str) -> dict[str, Any]:
    return store.find_sweep(name).spec


# -- comparing --------------------------------------------------------------------
def compare_images(a: str | Path, b: str | Path) -> Comparison:
    """How far image `b` is from image `a`."""
    from PIL import Image, ImageChops

    if Path(a).read_bytes() == Path(b).read_bytes():
        return Comparison(True, 0, 0.0, True)
    with Image.open(a) as ia, Image.open(b) as ib:
        ia, ib = ia.convert("RGB"), ib.convert("RGB")
        distance = bin(_dhash(ia) ^ _dhash(ib)).count("1")
        if ia.size != ib.size:
            return Comparison(False, distance, 1.0, False)
        r, g, b = ImageChops.difference(ia, ib).split()
        most = ImageChops.lighter(ImageChops.lighter(r, g), b)  # a pixel changed if any channel did
        total = ia.size[0] * ia.size[1]
        return Comparison(False, distance, (total - most.histogram()[0]) / total, True)


def _dhash(img: Any) -> int:
    """64-bit difference hash: is each pixel of a 9x8 grey thumbnail brighter than its right neighbour?"""
    small = img.convert("L").resize((9, 8))
    px = list(small.getdata())
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (px[row * 9 + col] > px[row * 9 + col + 1])
    return bits


def record_comparison(new_image: Path, new_sidecar: Path, params: JobParams) -> Comparison | None:
    """Compare a recorded rerun with its original and write the finding into both sidecars."""
    origin = params.rerun_of or {}
    old = Path(str(origin.get("path", "")))
    if not old.is_file():
        return None
    result = compare_images(old, new_image)
    finding = {**result.to_dict(), "original": str(old), "original_result_id": origin.get("result_id")}
    update_sidecar(new_sidecar, lambda d: d.__setitem__("reproducibility", finding))
    old_side = old.with_suffix(".json")
    if old_side.exists():
        entry = {**result.to_dict(), "rerun": str(new_image)}
        update_sidecar(old_side, lambda d: d.__setitem__("reruns", [*(d.get("reruns") or []), entry]))
    return result
