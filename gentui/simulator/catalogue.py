"""The simulator's model catalogue: which model files it pretends to have.

A real ComfyUI lists the files in its model folders; the simulator lists names
from a catalogue instead (the defaults match gentui's built-in workflows, or a
TOML/JSON file given with `--models`). Files marked "broken" load like a
corrupt safetensors file would: the node that loads one fails at run time.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

# Folder names a v0.3.64 server reports from `GET /models`, in its order.
FOLDER_NAMES = [
    "checkpoints",
    "configs",
    "loras",
    "vae",
    "text_encoders",
    "diffusion_models",
    "clip_vision",
    "style_models",
    "embeddings",
    "diffusers",
    "vae_approx",
    "controlnet",
    "gligen",
    "upscale_models",
    "custom_nodes",
    "hypernetworks",
    "photomaker",
    "classifiers",
    "model_patches",
    "audio_encoders",
]

DEFAULT_MODELS: dict[str, list[str]] = {
    "checkpoints": ["waiIllustriousSDXL_v160.safetensors"],
    "diffusion_models": ["anima-base-v1.0.safetensors", "waiANIMA_v10.safetensors"],
    "text_encoders": ["qwen_3_06b_base.safetensors"],
    "vae": ["qwen_image_vae.safetensors"],
    "loras": [
        "anima-turbo-lora-v0.2.safetensors",
        "kanachan-v4.safetensors",
        "lily-v2.safetensors",
        "reina-v1.safetensors",
    ],
}


class CatalogueError(ValueError):
    """A models file that cannot be read or has the wrong shape."""


@dataclass
class ModelCatalogue:
    """Model names per folder, plus the names that fail when loaded.

    Attributes:
        folders: folder name -> file names (sorted like ComfyUI sorts them).
        broken: file names whose loading raises a SafetensorError at run time.
    """

    folders: dict[str, list[str]] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)

    def names(self, folder: str) -> list[str]:
        """The file names in `folder` (empty when the folder is known but empty)."""
        return list(self.folders.get(folder, []))

    def has_folder(self, folder: str) -> bool:
        return folder in self.folders

    def is_broken(self, name: str) -> bool:
        return name in self.broken


def default_catalogue() -> ModelCatalogue:
    """The catalogue matching gentui's built-in anima and sdxl workflows."""
    return from_mapping({"models": DEFAULT_MODELS})


def from_mapping(data: object, where: str = "models") -> ModelCatalogue:
    """Build a catalogue from `{folder: [names]}`, optionally under a `models` key.

    A `broken` key (a list of names, or `{folder: [names]}`) marks names that fail
    when loaded; broken names are also listed in their folder so validation passes.
    """
    if not isinstance(data, dict):
        raise CatalogueError(f"{where}: expected a table of folder -> list of names")
    folders_src = data.get("models", {k: v for k, v in data.items() if k != "broken"})
    if not isinstance(folders_src, dict):
        raise CatalogueError(f"{where}: 'models' must be a table of folder -> list of names")
    folders: dict[str, list[str]] = {name: [] for name in FOLDER_NAMES}
    for folder, names in folders_src.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise CatalogueError(f"{where}: folder {folder!r} must be a list of file names")
        folders[str(folder)] = list(names)
    broken: set[str] = set()
    raw_broken = data.get("broken", [])
    if isinstance(raw_broken, dict):
        for folder, names in raw_broken.items():
            if not isinstance(names, list):
                raise CatalogueError(f"{where}: broken.{folder} must be a list of file names")
            broken.update(str(n) for n in names)
            folders.setdefault(str(folder), [])
            folders[str(folder)].extend(n for n in names if n not in folders[str(folder)])
    elif isinstance(raw_broken, list):
        broken.update(str(n) for n in raw_broken)
    else:
        raise CatalogueError(f"{where}: 'broken' must be a list of names or a table folder -> names")
    for folder in folders:
        folders[folder] = sorted(set(folders[folder]), key=str.lower)
    return ModelCatalogue(folders=folders, broken=broken)


def load_catalogue(path: str | Path) -> ModelCatalogue:
    """Read a TOML or JSON models file (chosen by extension; JSON when unsure).

    Example TOML:
        [models]
        loras = ["kanachan-v4.safetensors", "zz_broken.safetensors"]
        checkpoints = ["waiIllustriousSDXL_v160.safetensors"]
        broken = ["zz_broken.safetensors"]
    (`broken` may also sit at the top level.)
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise CatalogueError(f"{p}: cannot read models file: {e.strerror or e}") from e
    try:
        if p.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise CatalogueError(f"{p}: not valid {'TOML' if p.suffix.lower() == '.toml' else 'JSON'}: {e}") from e
    if isinstance(data, dict) and isinstance(data.get("models"), dict) and "broken" in data["models"]:
        data = dict(data)
        models = dict(data["models"])
        data["broken"] = models.pop("broken")
        data["models"] = models
    return from_mapping(data, where=str(p))
