"""What each simulated node computes: symbolic values instead of tensors.

Loaders return the names they were given (plus the LoRAs patched onto them),
text encoders return their text, samplers gather everything into a *scene*,
and the image nodes render that scene with `render.py` and write PNGs the way
ComfyUI's SaveImage does (`<prefix>_<counter>_.png`, `prompt`/`workflow` text
chunks, the counter found by scanning the folder). A model file marked broken
raises the same error a corrupt safetensors file raises on a real server.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from gentui.simulator.catalogue import ModelCatalogue
from gentui.simulator.render import encode_png, render_scene

SAFETENSOR_ERROR = "safetensors._safetensors_rust.SafetensorError"
_LOAD_TRACEBACK = [
    (
        '  File "ComfyUI/execution.py", line 496, in execute\n'
        "    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(pr"
        "ompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, pre_ex"
        "ecute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n"
        "                                                              ^^^^^^^^^^^^^^^^^^^^^^^^"
        "^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"
        "^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
    ),
    (
        '  File "ComfyUI/execution.py", line 315, in get_output_data\n'
        "    return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, input_d"
        "ata_all, obj.FUNCTION, allow_interrupt=True, execution_block_cb=execution_block_cb, pr"
        "e_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n"
        "                    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"
        "^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"
        "^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
    ),
    (
        '  File "ComfyUI/execution.py", line 289, in _async_map_node_over_list\n'
        "    await process_inputs(input_dict, i)\n"
    ),
    (
        '  File "ComfyUI/execution.py", line 277, in process_inputs\n'
        "    result = f(**inputs)\n"
        "             ^^^^^^^^^^^\n"
    ),
    (
        '  File "ComfyUI/nodes.py", line 675, in load_lora\n'
        "    lora = comfy.utils.load_torch_file(lora_path, safe_load=True)\n"
        "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
    ),
    ('  File "ComfyUI/comfy/utils.py", line 75, in load_torch_file\n    raise e\n'),
    (
        '  File "ComfyUI/comfy/utils.py", line 59, in load_torch_file\n'
        '    with safetensors.safe_open(ckpt, framework="pt", device=device.type) as f:\n'
        "         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
    ),
]
# What a real server shows in `current_inputs` for non-literal values.
_REPRS = {
    "MODEL": "<comfy.model_patcher.ModelPatcher object at 0x7f3a5c0b3450>",
    "CLIP": "<comfy.sd.CLIP object at 0x7f3a5c054a50>",
    "VAE": "<comfy.sd.VAE object at 0x7f3a5c0571d0>",
    "CONDITIONING": "[[tensor(...), {'pooled_output': tensor(...)}]]",
    "LATENT": "{'samples': tensor(...)}",
    "IMAGE": "tensor(...)",
}


class NodeFailure(Exception):
    """A node failed at run time; carries what `execution_error` reports.

    The server appends a newline (and sometimes tips) to `message` in the event.
    """

    def __init__(self, exception_type: str, message: str, traceback: list[str] | None = None):
        super().__init__(message)
        self.exception_type = exception_type
        self.message = message
        self.traceback = traceback or []


def input_reprs(inputs: dict[str, Any], link_types: dict[str, str]) -> dict[str, list[Any]]:
    """`current_inputs` of an execution_error: each input as a one-element list."""
    out: dict[str, list[Any]] = {}
    for name, val in inputs.items():
        if name in link_types:
            out[name] = [_REPRS.get(link_types[name], f"<{link_types[name]}>")]
        else:
            out[name] = [val]
    return out


def _load(cat: ModelCatalogue, name: str) -> None:
    if cat.is_broken(name):
        raise NodeFailure(SAFETENSOR_ERROR, "Error while deserializing header: header too large", list(_LOAD_TRACEBACK))


def _patched(obj: dict[str, Any], **changes: Any) -> dict[str, Any]:
    new = json.loads(json.dumps(obj))
    for key, value in changes.items():
        if key == "lora":
            new.setdefault("loras", []).append(value)
        else:
            new[key] = value
    return new


def compute(class_type: str, a: dict[str, Any], cat: ModelCatalogue) -> tuple[Any, ...]:
    """The outputs of one non-image node given its resolved inputs `a`."""
    if class_type == "CheckpointLoaderSimple":
        _load(cat, a["ckpt_name"])
        n = a["ckpt_name"]
        return ({"models": [n], "loras": []}, {"clip": [n], "loras": []}, {"vae": n})
    if class_type == "UNETLoader":
        _load(cat, a["unet_name"])
        return ({"models": [a["unet_name"]], "loras": [], "dtype": a.get("weight_dtype", "default")},)
    if class_type == "CLIPLoader":
        _load(cat, a["clip_name"])
        return ({"clip": [a["clip_name"], a.get("type", "stable_diffusion")], "loras": []},)
    if class_type == "VAELoader":
        _load(cat, a["vae_name"])
        return ({"vae": a["vae_name"]},)
    if class_type == "LoraLoader":
        sm, sc = float(a["strength_model"]), float(a["strength_clip"])
        if sm == 0 and sc == 0:  # ComfyUI returns its inputs untouched here
            return (a["model"], a["clip"])
        _load(cat, a["lora_name"])
        return (_patched(a["model"], lora=[a["lora_name"], sm]), _patched(a["clip"], lora=[a["lora_name"], sc]))
    if class_type == "LoraLoaderModelOnly":
        sm = float(a["strength_model"])
        if sm == 0:
            return (a["model"],)
        _load(cat, a["lora_name"])
        return (_patched(a["model"], lora=[a["lora_name"], sm]),)
    if class_type == "CLIPSetLastLayer":
        return (_patched(a["clip"], layer=int(a["stop_at_clip_layer"])),)
    if class_type == "CLIPTextEncode":
        return ({"text": str(a["text"]), "clip": a["clip"]},)
    if class_type == "ConditioningZeroOut":
        return ({**a["conditioning"], "text": "", "zero": True},)
    if class_type == "ModelSamplingAuraFlow":
        return (_patched(a["model"], shift=float(a["shift"])),)
    if class_type in ("EmptyLatentImage", "EmptySD3LatentImage"):
        return ({"width": int(a["width"]), "height": int(a["height"]), "batch": int(a["batch_size"])},)
    if class_type in ("KSampler", "KSamplerAdvanced"):
        return ({"scene": sampler_scene(class_type, a)},)
    if class_type == "VAEDecode":
        return ({"scene": {**a["samples"]["scene"], "vae": a["vae"]["vae"]}},)
    raise NodeFailure("KeyError", f"'{class_type}'")


def sampler_steps(class_type: str, a: dict[str, Any]) -> int:
    """How many progress steps the sampler reports."""
    steps = int(a["steps"])
    if class_type == "KSamplerAdvanced":
        end = min(int(a["end_at_step"]), steps)
        return max(0, end - int(a["start_at_step"]))
    return steps


def sampler_scene(class_type: str, a: dict[str, Any]) -> dict[str, Any]:
    """Everything that shapes the picture, from the sampler's resolved inputs."""
    model, pos, neg, latent = a["model"], a["positive"], a["negative"], a["latent_image"]
    clip_strength = {name: s for name, s in (pos.get("clip") or {}).get("loras", [])}
    scene = {
        "width": latent.get("width", 512),
        "height": latent.get("height", 512),
        "batch": latent.get("batch", 1),
        "seed": int(a["seed"] if class_type == "KSampler" else a["noise_seed"]),
        "steps": int(a["steps"]),
        "cfg": float(a["cfg"]),
        "sampler": a["sampler_name"],
        "scheduler": a["scheduler"],
        "denoise": float(a.get("denoise", 1.0)),
        "positive": pos.get("text", ""),
        "negative": neg.get("text", ""),
        "models": list(model.get("models", [])) + list((pos.get("clip") or {}).get("clip", [])),
        "loras": [[name, s, clip_strength.get(name)] for name, s in model.get("loras", [])],
        "extra": {k: model[k] for k in ("shift", "dtype") if k in model},
    }
    clip = pos.get("clip") or {}
    if "layer" in clip:
        scene["extra"]["clip_layer"] = clip["layer"]
    if neg.get("zero"):
        scene["extra"]["negative_zero"] = True
    if class_type == "KSamplerAdvanced":
        scene["extra"]["advanced"] = [
            a["add_noise"],
            int(a["start_at_step"]),
            int(a["end_at_step"]),
            a["return_with_leftover_noise"],
        ]
    return scene


def next_counter(folder: Path, filename: str) -> int:
    """ComfyUI's counter: one past the highest `<filename>_<n>_` already in `folder`."""
    pattern = re.compile(re.escape(filename) + r"_(\d+)_")
    best = 0
    try:
        for entry in os.listdir(folder):
            m = pattern.match(entry)
            if m and os.path.normcase(entry[: len(filename)]) == os.path.normcase(filename):
                best = max(best, int(m.group(1)))
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
    return best + 1


def save_images(
    scene: dict[str, Any],
    prefix: str,
    root: Path,
    kind: str,
    texts: dict[str, str],
    compress_level: int,
    encode: Any = None,
) -> list[dict[str, str]]:
    """Render the scene's batch and write it like SaveImage (runs in a worker thread).

    `encode(scene, texts, level) -> bytes` may supply pre-rendered PNGs.
    """
    sub, filename = os.path.split(prefix)
    root = Path(os.path.abspath(root))
    folder = Path(os.path.abspath(root / sub))
    if os.path.commonpath((str(root), str(folder))) != str(root):
        raise NodeFailure(
            "Exception",
            "**** ERROR: Saving image outside the output folder is not allowed.\n"
            f" full_output_folder: {folder}\n         output_dir: {root}",
        )
    folder.mkdir(parents=True, exist_ok=True)
    counter = next_counter(folder, filename)
    results = []
    for index in range(int(scene.get("batch", 1) or 1)):
        shot = scene if index == 0 else {**scene, "batch_index": index}
        if encode is not None:
            data = encode(shot, texts, compress_level)
        else:
            data = encode_png(render_scene(shot), texts, compress_level)
        name = f"{filename.replace('%batch_num%', str(index))}_{counter:05}_.png"
        tmp = folder / f".{name}.part"
        tmp.write_bytes(data)
        os.replace(tmp, folder / name)
        results.append({"filename": name, "subfolder": sub, "type": kind})
        counter += 1
    return results
