"""Writing a finished job's images: PNG + sidecar beside it, then the catalog row.

Names are readable and safe: `{sweep}/{seed}_w{weight}_{variant}.png`, every
component sanitized, a server's filename never used as a path, a collision
gets a suffix. Both files are written atomically (temp file + rename), the
sidecar first: if the image cannot be written the sidecar is removed again, so
a full or read-only disk leaves no partial result behind, and a worker killed
between the two leaves a sidecar that the next attempt recognises and finishes
(never a second `_2` copy).
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gentui import __version__
from gentui.backends.base import OutputImage, RunOutcome
from gentui.catalog.sidecar import (
    SidecarError,
    atomic_write_bytes,
    read_sidecar,
    sidecar_path_for,
    write_sidecar,
)
from gentui.params import JobParams

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
_SAFE = re.compile(r"[^A-Za-z0-9._=+-]+")
MAX_COMPONENT = 80


class ResultWriteError(Exception):
    """The image or its sidecar could not be written; nothing partial was left."""


def sanitize(component: str, fallback: str = "x") -> str:
    """One safe path component: no separators, no leading dots, bounded length."""
    text = _SAFE.sub("-", str(component)).strip("-.")
    text = text[:MAX_COMPONENT].rstrip("-.")
    return text or fallback


def image_stem(params: JobParams, label: str = "") -> str:
    """`{seed}_w{weight}_{variant}` plus the cell's other axis values from the label."""
    parts = [str(params.seed), params.weight_label()]
    extra = label.split()[2:] if label else ([params.variant] if params.variant else [])
    parts += [p.replace("=", "-") for p in extra]
    return sanitize("_".join(parts))


def _suffix(image: OutputImage) -> str:
    suffix = Path(os.path.basename(image.filename or "")).suffix.lower()
    return suffix if suffix in IMAGE_SUFFIXES else ".png"


def build_sidecar(job_id: int, sweep_id: int | None, params: JobParams, outcome: RunOutcome,
                  backend: str, image_index: int = 0) -> dict[str, Any]:
    """Everything needed to reproduce and judge the image: the parameters' own form plus how it ran."""
    data: dict[str, Any] = params.sidecar_fields()
    data.update({
        "elapsed_s": round(outcome.elapsed_s, 3) if outcome.elapsed_s else None,
        "backend": backend,
        "backend_prompt_id": outcome.prompt_id,
        "sweep_id": sweep_id,
        "job_id": job_id,
        "image_index": image_index,
        "status": "done",
        "workflow_api": outcome.submitted_graph,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "gentui_version": __version__,
    })
    if outcome.extra:
        data["backend_extra"] = outcome.extra
    return data


def _choose_path(folder: Path, stem: str, suffix: str, job_id: int, prompt_id: str, index: int) -> tuple[Path, bool]:
    """A free path for the image, or the one this very output was already (or half) written to.

    Returns (path, already_written). The sidecar is written before the image, so
    after a crash a sidecar of this job with no image beside it marks the path
    to finish, and a pair with this attempt's prompt id is found instead of
    written twice.
    """
    n = 1
    while True:
        path = folder / (f"{stem}{suffix}" if n == 1 else f"{stem}_{n}{suffix}")
        side = sidecar_path_for(path)
        if not path.exists() and not side.exists():
            return path, False
        if side.exists():
            try:
                old = read_sidecar(side)
            except SidecarError:
                old = {}
            ours = old.get("job_id") == job_id and old.get("image_index", 0) == index
            if ours and not path.exists():
                return path, False  # a predecessor was killed between the sidecar and the image
            if ours and path.exists() and prompt_id and old.get("backend_prompt_id") == prompt_id:
                return path, True
        n += 1


def write_results(output_dir: Path, job_id: int, sweep_id: int | None, label: str, params: JobParams,
                  outcome: RunOutcome, backend: str) -> list[Path]:
    """Write each output image and its sidecar; returns the image paths.

    Raises ResultWriteError (disk full, not writable) after removing anything
    this call wrote, so the job can be marked failed with the reason.
    """
    folder = Path(output_dir) / sanitize(params.sweep or "unsorted", "unsorted")
    written: list[Path] = []
    paths: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        stem = image_stem(params, label)
        for i, image in enumerate(outcome.images):
            s = stem if len(outcome.images) == 1 else f"{stem}_{i + 1}"
            path, done = _choose_path(folder, s, _suffix(image), job_id, outcome.prompt_id, i)
            if not done:
                payload = Path(image.path).read_bytes()
                side = sidecar_path_for(path)
                write_sidecar(side, _jsonable(build_sidecar(job_id, sweep_id, params, outcome, backend, i)))
                written.append(side)
                atomic_write_bytes(path, payload)
                written.append(path)
            paths.append(path)
    except OSError as e:
        remove_written(written)
        where = e.filename or folder
        raise ResultWriteError(f"cannot write the result to {where}: {e.strerror or e}") from None
    return paths


def remove_written(paths: list[Path]) -> None:
    """Remove what a failed write left (sidecars and images, newest first)."""
    for p in reversed(paths):
        try:
            p.unlink()
        except OSError:
            pass


def written_for(output_dir: Path, job_id: int, prompt_id: str, params: JobParams, label: str) -> list[Path]:
    """The images (with their sidecars) this attempt already wrote, in output order; [] if any is missing."""
    folder = Path(output_dir) / sanitize(params.sweep or "unsorted", "unsorted")
    stem = image_stem(params, label)
    found: dict[int, Path] = {}
    for side in sorted(folder.glob(f"{glob_escape(stem)}*.json")):
        try:
            data = read_sidecar(side)
        except SidecarError:
            continue
        if data.get("job_id") != job_id or data.get("backend_prompt_id") != prompt_id:
            continue
        image = next((side.with_suffix(s) for s in IMAGE_SUFFIXES if side.with_suffix(s).exists()), None)
        if image is None:
            return []
        found[int(data.get("image_index") or 0)] = image
    return [found[i] for i in sorted(found)]


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data, default=str))


def cleanup_outputs(outcome: RunOutcome) -> None:
    """Remove the backend's downloaded temp files once they are copied."""
    for image in outcome.images:
        try:
            os.unlink(image.path)
        except OSError:
            pass
