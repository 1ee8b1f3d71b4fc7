"""ComfyUI's editor graph (the PNG `workflow` chunk) -> an API-shaped graph, best effort.

The UI format stores widget values as a positional list (`widgets_values`) and
links in a separate table. Only the core nodes gentui reads are mapped by
position; every other node keeps its linked inputs, so walks through it still
work. Bypassed nodes (mode 4) are kept but marked, so a bypassed LoRA loader is
walked through without counting its LoRA.
"""

from __future__ import annotations

from typing import Any

CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
_LATENT = ["width", "height", "batch_size"]
WIDGETS: dict[str, list[str]] = {
    "KSampler": ["seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "KSamplerAdvanced": ["add_noise", "noise_seed", "control_after_generate", "steps", "cfg", "sampler_name",
                         "scheduler", "start_at_step", "end_at_step", "return_with_leftover_noise"],
    "SamplerCustom": ["add_noise", "noise_seed", "control_after_generate", "cfg"],
    "CLIPTextEncode": ["text"],
    "CLIPTextEncodeSDXL": ["width", "height", "crop_w", "crop_h", "target_width", "target_height", "text_g", "text_l"],
    "CheckpointLoaderSimple": ["ckpt_name"],
    "UNETLoader": ["unet_name", "weight_dtype"],
    "LoraLoader": ["lora_name", "strength_model", "strength_clip"],
    "LoraLoaderModelOnly": ["lora_name", "strength_model"],
    "EmptyLatentImage": _LATENT,
    "EmptySD3LatentImage": _LATENT,
    "EmptyFlux2LatentImage": _LATENT,
    "RandomNoise": ["noise_seed", "control_after_generate"],
    "KSamplerSelect": ["sampler_name"],
    "BasicScheduler": ["scheduler", "steps", "denoise"],
    "CFGGuider": ["cfg"],
    "FluxGuidance": ["guidance"],
    "CLIPLoader": ["clip_name", "type", "device"],
    "DualCLIPLoader": ["clip_name1", "clip_name2", "type", "device"],
    "VAELoader": ["vae_name"],
    "PrimitiveNode": ["value", "control_after_generate"],
    "PrimitiveInt": ["value", "control_after_generate"],
    "PrimitiveFloat": ["value"],
    "PrimitiveString": ["value"],
    "PrimitiveStringMultiline": ["value"],
    "PrimitiveBoolean": ["value"],
}


def _links(ui: dict[str, Any]) -> dict[int, tuple[Any, int]]:
    """link id -> (origin node id, origin slot), from list or dict link records."""
    out: dict[int, tuple[Any, int]] = {}
    raw = ui.get("links")
    if not isinstance(raw, list):
        return out
    for rec in raw:
        if isinstance(rec, list) and len(rec) >= 3:
            lid, origin, slot = rec[0], rec[1], rec[2]
        elif isinstance(rec, dict):
            lid, origin, slot = rec.get("id"), rec.get("origin_id"), rec.get("origin_slot")
        else:
            continue
        if isinstance(lid, int) and isinstance(origin, (int, str)) and isinstance(slot, int):
            out[lid] = (origin, slot)
    return out


def _widget_inputs(ct: str, values: Any) -> dict[str, Any]:
    if isinstance(values, dict):
        return {str(k): v for k, v in values.items() if not isinstance(v, (dict, list))}
    if not isinstance(values, list):
        return {}
    names = WIDGETS.get(ct)
    if names is None:
        return {}
    out: dict[str, Any] = {}
    i = 0
    for name in names:
        if i >= len(values):
            break
        if name == "control_after_generate":
            if isinstance(values[i], str) and values[i] in CONTROL_VALUES:
                i += 1
            continue
        out[name] = values[i]
        i += 1
    return out


def ui_to_api(ui: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """An API-shaped graph `{id: {class_type, inputs}}` from a UI workflow, plus problems."""
    problems: list[str] = []
    nodes = ui.get("nodes")
    if not isinstance(nodes, list):
        return {}, ["UI workflow has no `nodes` list"]
    links = _links(ui)
    defs = ui.get("definitions")
    sgs = defs.get("subgraphs") if isinstance(defs, dict) else None
    subgraphs = {str(sg.get("id")) for sg in sgs if isinstance(sg, dict)} if isinstance(sgs, list) else set()
    api: dict[str, Any] = {}
    for n in nodes:
        if not isinstance(n, dict) or not isinstance(n.get("id"), (int, str)):
            continue
        ct = str(n.get("type") or "")
        if ct in subgraphs:
            problems.append(f"node {n['id']} is a subgraph; values inside it were not read")
        inputs = _widget_inputs(ct, n.get("widgets_values"))
        node_inputs = n.get("inputs")
        for inp in node_inputs if isinstance(node_inputs, list) else []:
            if isinstance(inp, dict) and isinstance(inp.get("name"), str) and isinstance(inp.get("link"), int):
                src = links.get(inp["link"])
                if src is not None:
                    inputs[inp["name"]] = [str(src[0]), src[1]]
        node: dict[str, Any] = {"class_type": ct, "inputs": inputs}
        mode = n.get("mode")
        if mode == 4:
            node["_bypassed"] = True
        if mode == 2:  # muted: it did not run
            continue
        api[str(n["id"])] = node
    return api, problems
