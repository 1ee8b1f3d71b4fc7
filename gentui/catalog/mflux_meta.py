"""mflux's `NAME.metadata.json` (written with `--metadata`) -> a sidecar-shaped dict.

mflux's writer (`GeneratedImage._get_metadata`) emits: mflux_version, model,
base_model, seed, steps, guidance (null on models without guidance), height,
width, precision, quantize, generation_time_seconds, created_at (local time,
no zone), lora_paths, lora_scales, image_path(s), image_strength, controlnet_*,
prompt, negative_prompt. Older releases used `generation_time` and
`model_config`, and some front ends write `size` ("WxH" or [w, h]). Every
original key is kept under `mflux` so the field index still has it.
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from gentui.catalog.comfy_png import assign_loras, lora_kind


def _size(v: Any) -> tuple[Any, Any] | None:
    if isinstance(v, str) and "x" in v.lower():
        w, _, h = v.lower().partition("x")
        if w.strip().isdigit() and h.strip().isdigit():
            return int(w), int(h)
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return v[0], v[1]
    if isinstance(v, dict):
        return v.get("width"), v.get("height")
    return None


def sidecar_from_mflux(meta: dict[str, Any]) -> dict[str, Any]:
    """Map mflux metadata onto gentui's sidecar keys (sidecar keys win when merged later)."""
    out: dict[str, Any] = {"backend": "mflux", "mflux": meta}
    model = meta.get("model") if meta.get("model") is not None else meta.get("model_config")
    if isinstance(model, str):
        out["model"] = model
    for key in ("seed", "steps", "width", "height", "created_at"):
        if meta.get(key) is not None:
            out[key] = meta[key]
    if out.get("width") is None or out.get("height") is None:
        wh = _size(meta.get("size"))
        if wh is not None:
            out["width"], out["height"] = wh
    if meta.get("guidance") is not None:
        out["cfg"] = meta["guidance"]
    elapsed = meta.get("generation_time_seconds", meta.get("generation_time"))
    if elapsed is not None:
        out["elapsed_s"] = elapsed
    if isinstance(meta.get("prompt"), str):
        out["prompt_en"] = meta["prompt"]
    if isinstance(meta.get("negative_prompt"), str):
        out["negative"] = meta["negative_prompt"]
    paths = meta.get("lora_paths")
    if isinstance(paths, str):
        paths = [paths]
    scales = meta.get("lora_scales")
    if not isinstance(scales, list):
        scales = [scales] if isinstance(scales, (int, float)) and not isinstance(scales, bool) else []
    if isinstance(paths, list):
        loras = []
        for i, p in enumerate(paths):
            if not isinstance(p, str) or not p:
                continue
            name = PureWindowsPath(PurePosixPath(p).name).name
            scale = scales[i] if i < len(scales) else 1.0  # mflux's own default scale
            loras.append({"name": name, "path": p, "strength": scale, "kind": lora_kind(name)})
        out.update(assign_loras(loras))
    else:
        out["use_lora"] = False
    return out
