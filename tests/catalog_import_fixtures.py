"""Shared builders for the catalog-import tests: images, sidecars and ComfyUI PNGs as the real tools write them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

PROMPT_EN = json.dumps({
    "scene": "two girls in a park at dusk",
    "layout": "side_by_side",
    "left_character": {"name": "Kanachan", "appearance": "side ponytail, ahoge, yellow scrunchie"},
    "right_character": {"name": "Reina", "appearance": "long black hair, navy ribbon"},
    "rule": "each character keeps her own features",
})


def genserver_sidecar(**over: Any) -> dict[str, Any]:
    """A sidecar exactly as the seed's genserver writes it."""
    d = {"model": "waiANIMA_v10.safetensors", "seed": 1293127692, "width": 888, "height": 768, "steps": 8,
         "cfg": 1.0, "use_lora": True, "lora_strength": 0.6000000000000001, "use_speed_lora": True,
         "skip_translate": True, "prompt_en": PROMPT_EN, "elapsed_s": 12.3}
    d.update(over)
    return d


def write_png(path: Path, color=(120, 40, 200), size=(64, 48), pnginfo: PngInfo | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, pnginfo=pnginfo)
    return path


def write_pair(folder: Path, stem: str, sidecar: dict[str, Any] | None = None, color=(120, 40, 200)) -> Path:
    """X.png + X.json (genserver style); returns the image path."""
    img = write_png(folder / f"{stem}.png", color=color)
    (folder / f"{stem}.json").write_text(json.dumps(sidecar if sidecar is not None else genserver_sidecar()))
    return img


def comfy_png(path: Path, prompt: dict[str, Any] | None, workflow: dict[str, Any] | None = None,
              size=(64, 48), color=(10, 200, 90)) -> Path:
    """Save a PNG the way ComfyUI's SaveImage does: tEXt chunks holding json.dumps of the graphs."""
    info = PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    if workflow is not None:
        info.add_text("workflow", json.dumps(workflow))
    return write_png(path, color=color, size=size, pnginfo=info)


def anima_graph(char_strength: float = 0.8, seed: int = 1293127692) -> dict[str, Any]:
    """WAI-Anima: UNETLoader -> turbo LoRA -> character LoRA (LoraLoaderModelOnly x2) -> KSampler."""
    return {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "anima-base-v1.0.safetensors", "weight_dtype": "default"},
              "_meta": {"title": "Load Diffusion Model"}},
        "2": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["1", 0], "lora_name": "anima-turbo-lora-v0.2.safetensors",
                                                              "strength_model": 1.0}, "_meta": {"title": "turbo"}},
        "3": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["2", 0], "lora_name": "kanachan-v4.safetensors",
                                                              "strength_model": char_strength}, "_meta": {"title": "character lora"}},
        "4": {"class_type": "CLIPLoader", "inputs": {"clip_name": "qwen_3_06b_base.safetensors", "type": "stable_diffusion",
                                                     "device": "default"}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT_EN, "clip": ["4", 0]}, "_meta": {"title": "positive"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "lowres, bad anatomy", "clip": ["4", 0]}},
        "7": {"class_type": "EmptyLatentImage", "inputs": {"width": 888, "height": 768, "batch_size": 1}},
        "12": {"class_type": "KSampler", "inputs": {"seed": seed, "steps": 8, "cfg": 1.0, "sampler_name": "er_sde",
                                                    "scheduler": "simple", "denoise": 1.0, "model": ["3", 0],
                                                    "positive": ["5", 0], "negative": ["6", 0], "latent_image": ["7", 0]}},
        "8": {"class_type": "VAELoader", "inputs": {"vae_name": "qwen_image_vae.safetensors"}},
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["12", 0], "vae": ["8", 0]}},
        "10": {"class_type": "SaveImage", "inputs": {"filename_prefix": "gentui", "images": ["9", 0]}},
    }
