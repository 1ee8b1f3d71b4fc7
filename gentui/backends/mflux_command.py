"""Job parameters -> an `mflux-generate-flux2` command line, checked before anything runs.

Every flag here was checked against mflux's own parser
(`mflux/cli/parser/parsers.py`, `CommandLineParser` as built by
`mflux/models/flux2/cli/flux2_generate.py`); `tests/test_mflux_parser.py` parses
our command line with the real parser whenever mflux is importable.

What mflux would only find out late (or not at all) is refused here, at
validation time, so a bad job never reaches the queue:
- guidance other than 1.0 on the distilled Klein models (mflux's parser exits);
- a LoRA file that does not exist (mflux exits 2, or tries Hugging Face);
- a model name mflux does not know (it is taken as a hub repo and fails late).
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gentui.backends.base import ValidationFailed
from gentui.config import BackendSettings

KLEIN_MODELS = ("flux2-klein-4b", "flux2-klein-9b")
"""The distilled FLUX.2 Klein models gentui drives (mflux's names)."""
QUANTIZE_CHOICES = (3, 4, 5, 6, 8)
PROMPT_INLINE_MAX = 2000
"""Longer prompts (or any with a newline) go through `--prompt-file`."""
DEFAULT_STEPS = 4
DEFAULT_SIZE = 1024
LORA_SUFFIXES = (".safetensors",)
OUTPUT_NAME = "image.png"
USED_FLAGS = ("-m", "--prompt", "--prompt-file", "--seed", "--steps", "--guidance", "--width", "--height",
              "-q", "--lora", "--output", "--metadata")
"""Every option gentui may put on the command line (checked against `mflux-capabilities`)."""


@dataclass
class MfluxJob:
    """A validated mflux run: everything needed to build the command line."""

    model: str
    prompt: str
    seed: int
    steps: int
    width: int
    height: int
    guidance: float = 1.0
    quantize: int = 0
    loras: list[tuple[str, float]] = field(default_factory=list)
    """(absolute path, scale) in the order they are applied."""
    ignored: list[str] = field(default_factory=list)
    """Parameters the job carried that FLUX.2 Klein has no use for (e.g. negative)."""

    def needs_prompt_file(self) -> bool:
        """mflux reads `--prompt -` from stdin; long or multi-line text is safer in a file."""
        p = self.prompt
        return "\n" in p or "\r" in p or len(p) > PROMPT_INLINE_MAX or p.strip() == "-"


def command_prefix(settings: BackendSettings) -> list[str]:
    """The configured command, split like a shell would (it may carry fixed options)."""
    try:
        argv = shlex.split(settings.command)
    except ValueError as e:
        raise ValidationFailed(f"backends command {settings.command!r} cannot be split: {e}") from None
    if not argv:
        raise ValidationFailed("the mflux backend has an empty `command`; set it to mflux-generate-flux2")
    return argv


def resolve_lora(name: str, lora_dir: str) -> Path:
    """A LoRA name or path -> an existing file, or ValidationFailed listing what lora_dir has."""
    candidates: list[Path] = []
    p = Path(name).expanduser()
    if p.is_absolute():
        candidates.append(p)
    else:
        if lora_dir:
            base = Path(lora_dir).expanduser()
            candidates.append(base / name)
            if p.suffix not in LORA_SUFFIXES:
                candidates.append(base / (name + ".safetensors"))
        if "/" in name or "\\" in name or not lora_dir:
            candidates.append(p)
    for c in candidates:
        if c.is_file():
            return c.resolve()
    have = available_loras(lora_dir)
    where = f"in lora_dir {lora_dir}" if lora_dir else "(no lora_dir is configured for this backend)"
    listing = ", ".join(have[:30]) + (" ..." if len(have) > 30 else "") if have else "none"
    raise ValidationFailed(f"LoRA {name!r} not found {where}; available: {listing}")


def available_loras(lora_dir: str) -> list[str]:
    """The LoRA file names in lora_dir (what a job may name), sorted."""
    if not lora_dir:
        return []
    base = Path(lora_dir).expanduser()
    try:
        return sorted(f.name for f in base.iterdir() if f.is_file() and f.suffix in LORA_SUFFIXES)
    except OSError:
        return []


def _int(params: dict[str, Any], key: str, default: int, minimum: int) -> int:
    value = params.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationFailed(f"{key} = {value!r}: expected a whole number >= {minimum}")
    try:
        f = float(value)
    except ValueError:
        raise ValidationFailed(f"{key} = {value!r}: expected a whole number >= {minimum}") from None
    if not math.isfinite(f) or f != int(f) or f < minimum:
        raise ValidationFailed(f"{key} = {value!r}: expected a whole number >= {minimum}")
    return int(f)


def _scale(params: dict[str, Any], key: str) -> float:
    value = params.get(key)
    if value is None or value == "":
        return 1.0
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{key} = {value!r}: expected a number such as 0.8") from None
    if not math.isfinite(f):
        raise ValidationFailed(f"{key} = {value!r}: expected a finite number such as 0.8")
    return round(f, 6)


def pick_model(params: dict[str, Any], settings: BackendSettings) -> str:
    """The job's model: a Klein name in `checkpoint` wins, else the backend's `model`.

    Checkpoints meant for ComfyUI workflows (e.g. an Anima .safetensors) are not
    mflux models and are ignored here, so a job filled from a workflow's defaults
    still runs on the backend's configured model.
    """
    ckpt = str(params.get("checkpoint") or params.get("model") or "")
    if ckpt in KLEIN_MODELS:
        return ckpt
    if ckpt.startswith("flux2-"):
        raise ValidationFailed(f"model {ckpt!r} is not one gentui runs on mflux; allowed: {', '.join(KLEIN_MODELS)}")
    if settings.model not in KLEIN_MODELS:
        raise ValidationFailed(
            f"backend model {settings.model!r} is not supported; set model to one of {', '.join(KLEIN_MODELS)}"
        )
    return settings.model


def job_from_params(params: dict[str, Any], settings: BackendSettings) -> MfluxJob:
    """Check a job's resolved parameters against what mflux accepts; raise ValidationFailed."""
    prompt = params.get("prompt_en")
    if prompt is None or prompt == "":
        prompt = params.get("prompt_src") if params.get("skip_translate") else prompt
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValidationFailed("the job has no prompt (prompt_en is empty): mflux needs a prompt")
    model = pick_model(params, settings)
    cfg = params.get("cfg")
    if cfg is not None and cfg != "":
        try:
            cfg_f = float(cfg)
        except (TypeError, ValueError):
            raise ValidationFailed(f"cfg = {cfg!r}: expected a number") from None
        if cfg_f != 1.0:
            raise ValidationFailed(
                f"cfg = {cfg_f:g}: FLUX.2 Klein ({model}) is guidance-distilled and mflux accepts only "
                f"--guidance 1.0; set cfg to 1.0 for this backend"
            )
    if params.get("seed") in (None, ""):
        raise ValidationFailed("the job has no seed: gentui runs are reproducible, give a seed")
    seed = _int(params, "seed", 0, 0)
    steps = _int(params, "steps", DEFAULT_STEPS, 1)
    width = _int(params, "width", DEFAULT_SIZE, 16)
    height = _int(params, "height", DEFAULT_SIZE, 16)
    loras: list[tuple[str, float]] = []
    if params.get("use_lora") and params.get("lora_name"):
        loras.append((str(resolve_lora(str(params["lora_name"]), settings.lora_dir)), _scale(params, "lora_strength")))
    if params.get("use_speed_lora") and params.get("speed_lora_name"):
        loras.append(
            (str(resolve_lora(str(params["speed_lora_name"]), settings.lora_dir)), _scale(params, "speed_lora_strength"))
        )
    if settings.quantize not in (0, *QUANTIZE_CHOICES):
        raise ValidationFailed(f"quantize = {settings.quantize}: allowed 0 (none), 3, 4, 5, 6, 8")
    ignored = [k for k in ("negative", "sampler", "scheduler") if params.get(k)]
    return MfluxJob(
        model=model, prompt=prompt, seed=seed, steps=steps, width=width, height=height,
        quantize=settings.quantize, loras=loras, ignored=ignored,
    )  # fmt: skip


def build_argv(prefix: list[str], job: MfluxJob, output: Path, prompt_file: Path | None = None) -> list[str]:
    """The full command line. `--prompt=TEXT` keeps a prompt starting with '-' a value."""
    argv = [*prefix, "-m", job.model]
    if prompt_file is not None:
        argv += ["--prompt-file", str(prompt_file)]
    else:
        argv.append(f"--prompt={job.prompt}")
    argv += [
        "--seed", str(job.seed),
        "--steps", str(job.steps),
        "--guidance", f"{job.guidance:g}" if job.guidance != 1.0 else "1.0",
        "--width", str(job.width),
        "--height", str(job.height),
    ]  # fmt: skip
    if job.quantize:
        argv += ["-q", str(job.quantize)]
    for path, scale in job.loras:
        argv += ["--lora", path, f"{scale:g}"]
    # mflux calls `output.format(seed=...)`: braces in a folder name must be doubled.
    argv += ["--output", str(output).replace("{", "{{").replace("}", "}}"), "--metadata"]
    return argv
