"""A sweep definition (TOML file or CLI flags) -> the grid of resolved jobs.

The file format:

    name = "kana-2girls"
    [prompt]            # the prompt spec (scene, characters, rule, ...) or text/json/file
    [params]            # workflow, backend, width, height, steps, cfg, lora_name, ...
    [axes]              # weights, seeds, variants, layouts, workflow, or any parameter

Each cell of the Cartesian product of the axes becomes a job whose parameters
are fully resolved here, before anything is sent, and keyed by a hash of them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gentui.catalog.sidecar import format_weight, normalize_weight
from gentui.queue import axes as ax
from gentui.queue.prompting import (
    PromptBase,
    prompt_from_table,
    render_cell,
    variant_label,
)

# The resolved parameters every job carries (the contract with backends and sidecars).
PARAM_KEYS = (
    "workflow", "backend", "prompt_src", "prompt_en", "negative", "skip_translate", "seed",
    "width", "height", "steps", "cfg", "sampler", "scheduler", "use_lora", "lora_name",
    "lora_strength", "use_speed_lora", "speed_lora_name", "speed_lora_strength", "checkpoint",
    "unet", "text_encoder", "vae", "layout", "variant", "sweep", "characters", "extra",
)
INT_PARAMS = {"seed", "width", "height", "steps"}
FLOAT_PARAMS = {"cfg", "lora_strength", "speed_lora_strength"}
BOOL_PARAMS = {"skip_translate", "use_lora", "use_speed_lora"}
STR_PARAMS = {"workflow", "backend", "negative", "sampler", "scheduler", "lora_name", "speed_lora_name",
              "checkpoint", "unet", "text_encoder", "vae", "layout"}
# Set by the sweep itself, not by [params].
DERIVED = {"prompt_src", "prompt_en", "variant", "sweep", "characters", "extra"}
# [axes] key -> parameter
AXIS_PARAM = {"weights": "lora_strength", "weight": "lora_strength", "lora_strength": "lora_strength",
              "seeds": "seed", "seed": "seed", "variants": "variant", "variant": "variant",
              "layouts": "layout", "layout": "layout", "workflow": "workflow", "workflows": "workflow",
              "backend": "backend", "backends": "backend"}
TOP_KEYS = {"name", "prompt", "params", "axes", "description"}


class SweepError(ValueError):
    """A sweep definition that cannot be used: names the file, the key, and what is expected."""


@dataclass
class SweepDef:
    """A sweep as the user wrote it (before the grid is expanded)."""

    name: str
    prompt: PromptBase
    params: dict[str, Any] = field(default_factory=dict)
    axes: dict[str, Any] = field(default_factory=dict)
    """Axis key (as written) -> raw value; parsed by `expand`."""
    source: str = "<flags>"
    description: str = ""


@dataclass
class JobSpec:
    """One cell of the grid: what the job row will hold."""

    params: dict[str, Any]
    label: str
    key_hash: str
    cell: dict[str, Any]


@dataclass
class Grid:
    """The expanded sweep: the jobs plus the axes as resolved (seeds picked)."""

    jobs: list[JobSpec]
    axes: dict[str, list[Any]]


def load_sweep_file(path: str | Path) -> SweepDef:
    """Read a sweep TOML file; SweepError names the file and the key at fault."""
    p = Path(path).expanduser()
    where = str(p)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepError(f"{where}: sweep file not found") from None
    except UnicodeDecodeError as e:
        raise SweepError(f"{where}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise SweepError(f"{where}: not valid TOML: {e}") from None
    except OSError as e:
        raise SweepError(f"{where}: cannot read: {e.strerror}") from None
    return sweep_from_dict(raw, where, default_name=p.stem, base_dir=p.parent)


def sweep_from_dict(raw: dict[str, Any], where: str = "<sweep>", default_name: str = "",
                    base_dir: Path | None = None) -> SweepDef:
    for key in raw:
        if key not in TOP_KEYS:
            raise SweepError(f"{where}: unknown key {key!r}; allowed at the top: {', '.join(sorted(TOP_KEYS))}")
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise SweepError(f"{where}: name: expected a non-empty string, e.g. name = \"kana-2girls\"")
    for table in ("prompt", "params", "axes"):
        if table in raw and not isinstance(raw[table], dict):
            raise SweepError(f"{where}: {table}: expected a table, e.g. [{table}]")
    if "prompt" not in raw:
        raise SweepError(f"{where}: no [prompt] table; give a prompt spec (scene, characters, rule) "
                         "or text = \"...\" / json = \"...\" / file = \"...\"")
    try:
        prompt = prompt_from_table(raw["prompt"], f"{where}: prompt", base_dir)
    except ValueError as e:
        raise SweepError(str(e)) from None
    params = {k: check_param(k, v, f"{where}: params.{k}") for k, v in raw.get("params", {}).items()}
    axes = dict(raw.get("axes", {}))
    for k in axes:
        _axis_param(k, f"{where}: axes.{k}")
    return SweepDef(name=name.strip(), prompt=prompt, params=params, axes=axes, source=where,
                    description=str(raw.get("description", "")))


def check_param(key: str, value: Any, what: str) -> Any:
    """Type-check one parameter (a known one strictly; others go to `extra`)."""
    if key in DERIVED:
        raise SweepError(f"{what}: {key} is set by the sweep itself (prompt, axes, name), not in [params]")
    if key in INT_PARAMS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SweepError(f"{what} = {value!r}: expected an integer")
        if value < 0:
            raise SweepError(f"{what} = {value!r}: expected a non-negative integer")
    elif key in FLOAT_PARAMS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SweepError(f"{what} = {value!r}: expected a number")
        value = normalize_weight(value)
        if value is None:
            raise SweepError(f"{what}: expected a finite number")
    elif key in BOOL_PARAMS:
        if not isinstance(value, bool):
            raise SweepError(f"{what} = {value!r}: expected true or false")
    elif key in STR_PARAMS:
        if value is not None and not isinstance(value, str):
            raise SweepError(f"{what} = {value!r}: expected a string")
    elif not isinstance(value, (str, int, float, bool)):
        raise SweepError(f"{what} = {value!r}: expected a number, a string or true/false")
    return value


def _axis_param(key: str, what: str) -> str:
    if key in AXIS_PARAM:
        return AXIS_PARAM[key]
    if key in DERIVED:
        raise SweepError(f"{what}: {key} cannot be an axis; axes are weights, seeds, variants, layouts, "
                         "workflow, backend or any parameter (steps, cfg, ...)")
    return key


def resolved_axes(sweep: SweepDef, previous: dict[str, Any] | None = None,
                  rng: random.Random | None = None) -> dict[str, list[Any]]:
    """Parse every axis into its list of values (parameter name -> values), in file order.

    A `random` seed axis reuses the seeds recorded for this sweep (`previous`), so
    re-queueing a sweep with random seeds fills the same grid.
    """
    out: dict[str, list[Any]] = {}
    previous = previous or {}
    for key, raw in sweep.axes.items():
        what = f"{sweep.source}: axes.{key}"
        param = _axis_param(key, what)
        if param in out:
            raise SweepError(f"{what}: the {param} axis is given twice")
        try:
            if param == "lora_strength":
                values: list[Any] = ax.parse_weights(raw, what)
            elif param == "seed":
                if _is_random(raw) and previous.get("seed"):
                    values = list(previous["seed"])
                else:
                    values = ax.parse_seeds(raw, what, rng)
            elif param in ("variant", "layout", "workflow", "backend"):
                values = ax.parse_names(raw, what)
            else:
                values = [check_param(param, v, f"{what}") for v in ax.parse_values(raw, what)]
        except ax.AxisError as e:
            raise SweepError(str(e) if str(e).startswith(sweep.source) else f"{what}: {e}") from None
        out[param] = values
    if "seed" not in out and "seed" not in sweep.params and previous.get("seed"):
        out["seed"] = list(previous["seed"])[:1]
    return out


def _is_random(raw: Any) -> bool:
    if isinstance(raw, str):
        return raw.strip().lower().startswith("random")
    return isinstance(raw, list) and any(isinstance(v, str) and v.strip().lower().startswith("random") for v in raw)


def base_params(sweep: SweepDef, defaults: dict[str, Any]) -> dict[str, Any]:
    """The parameters shared by every cell: settings defaults < sweep [params]."""
    params: dict[str, Any] = {k: None for k in PARAM_KEYS}
    params.update({"extra": {}, "characters": [], "skip_translate": False, "use_lora": True,
                   "use_speed_lora": True})
    for k, v in defaults.items():
        if v is not None and v != "":
            params[k] = v
    for k, v in sweep.params.items():
        if k in PARAM_KEYS:
            params[k] = v
        else:
            params["extra"] = {**params["extra"], k: v}
    return params


def expand(sweep: SweepDef, defaults: dict[str, Any] | None = None,
           previous_axes: dict[str, Any] | None = None, rng: random.Random | None = None) -> Grid:
    """Expand the Cartesian product of the axes into fully resolved jobs."""
    axes = resolved_axes(sweep, previous_axes, rng)
    base = base_params(sweep, defaults or {})
    if "seed" not in axes and base.get("seed") is None:
        axes["seed"] = ax.parse_seeds("random", f"{sweep.source}: seed", rng)
    names = list(axes)
    jobs: list[JobSpec] = []
    for combo in itertools.product(*(axes[n] for n in names)):
        cell = dict(zip(names, combo))
        params = json.loads(json.dumps(base))  # a deep copy of plain data
        for k, v in cell.items():
            if k in PARAM_KEYS:
                params[k] = v
            else:
                params["extra"][k] = v
        if "lora_strength" in cell and cell["lora_strength"] is None:
            params["use_lora"] = False
        if not params.get("use_lora"):
            params["lora_strength"] = None
        params["sweep"] = sweep.name
        try:
            render_cell(sweep.prompt, params)
        except ValueError as e:
            raise SweepError(f"{sweep.source}: prompt ({_cell_text(cell)}): {e}") from None
        jobs.append(JobSpec(params=params, label=make_label(params, cell), key_hash=key_hash(params), cell=cell))
    return Grid(jobs=jobs, axes=axes)


def _cell_text(cell: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in cell.items())


def make_label(params: dict[str, Any], cell: dict[str, Any]) -> str:
    """`w0.8 s1293127692 named` plus any other axis value of the cell."""
    parts = [f"w{format_weight(params.get('lora_strength') if params.get('use_lora') else None)}",
             f"s{params.get('seed')}"]
    if params.get("variant"):
        parts.append(variant_label(str(params["variant"])))
    for k, v in cell.items():
        if k in ("lora_strength", "seed", "variant"):
            continue
        parts.append(str(v) if k == "layout" else f"{k}={v}")
    return " ".join(parts)


def canonical_json(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def key_hash(params: dict[str, Any]) -> str:
    """Identity of a cell: the hash of its resolved parameters (translation excluded)."""
    keyed = {k: v for k, v in params.items() if k not in ("prompt_en", "translation")}
    return hashlib.sha256(canonical_json(keyed).encode("utf-8")).hexdigest()
