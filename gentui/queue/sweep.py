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

import itertools
import json
import random
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gentui.params import NOT_SETTABLE, SETTING_KINDS, JobParams, normalize_weight
from gentui.queue import axes as ax
from gentui.queue.prompting import PromptBase, prompt_from_table, render_cell

# [axes] key -> the parameter it varies (the sweep file's words for them).
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
class Cell:
    """One cell of the grid while it is planned: the flat draft of its parameters and its axis values."""

    draft: dict[str, Any]
    """Parameters in the sweep file's words (lora_name, use_lora, ...); `JobParams.from_flat` reads it."""
    cell: dict[str, Any]


@dataclass
class JobSpec:
    """One planned job: what the job row will hold."""

    params: JobParams
    label: str
    key_hash: str
    cell: dict[str, Any]


@dataclass
class Grid:
    """The expanded sweep: its cells (then, once planned, its jobs) and the axes as resolved (seeds picked)."""

    cells: list[Cell]
    axes: dict[str, list[Any]]
    jobs: list[JobSpec] = field(default_factory=list)


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
    if "loras" in params and ("lora_name" in params or "lora_strength" in params):
        raise SweepError(f"{where}: params: give either lora_name (one character LoRA) or [[params.loras]] "
                         "(any number), not both")
    axes = dict(raw.get("axes", {}))
    for k in axes:
        _axis_param(k, f"{where}: axes.{k}")
    return SweepDef(name=name.strip(), prompt=prompt, params=params, axes=axes, source=where,
                    description=str(raw.get("description", "")))


LORA_KEYS = {"name": str, "character": str, "strength": float, "strength_model": float, "strength_clip": float,
             "role": str}


def check_loras(value: Any, what: str) -> list[dict[str, Any]]:
    """`[[params.loras]]`: a list of tables with a file `name` and, optionally, the `character` it is for."""
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        raise SweepError(f"{what}: expected a list of tables, e.g. [[params.loras]] name = \"kanachan-v4.safetensors\" "
                         "character = \"Kanachan\"")
    out = []
    for i, entry in enumerate(value):
        where = f"{what}[{i}]"
        for k, v in entry.items():
            kind = LORA_KEYS.get(k)
            if kind is None:
                raise SweepError(f"{where}: unknown key {k!r}; allowed: {', '.join(LORA_KEYS)}")
            if kind is float and (isinstance(v, bool) or not isinstance(v, (int, float)) or normalize_weight(v) is None):
                raise SweepError(f"{where}.{k} = {v!r}: expected a number")
            if kind is str and not isinstance(v, str):
                raise SweepError(f"{where}.{k} = {v!r}: expected a string")
        if not str(entry.get("name", "")).strip():
            raise SweepError(f"{where}: name: expected the LoRA's file name, e.g. name = \"kanachan-v4.safetensors\"")
        role = entry.get("role", "character")
        if role not in ("character", "speed"):
            raise SweepError(f"{where}.role = {role!r}: expected \"character\" or \"speed\"")
        strength = entry.get("strength_model", entry.get("strength"))
        out.append({"name": entry["name"].strip(), "character": (entry.get("character") or "").strip() or None,
                    "strength_model": normalize_weight(strength) if strength is not None else None,
                    "strength_clip": normalize_weight(entry["strength_clip"]) if "strength_clip" in entry else None,
                    "role": role})
    return out


def check_param(key: str, value: Any, what: str) -> Any:
    """Type-check one parameter (a known one strictly; others go to `extra`)."""
    if key == "loras":
        return check_loras(value, what)
    if key in NOT_SETTABLE:
        raise SweepError(f"{what}: {key} is set by the sweep itself (prompt, axes, name), not in [params]")
    kind = SETTING_KINDS.get(key)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SweepError(f"{what} = {value!r}: expected an integer")
        if value < 0:
            raise SweepError(f"{what} = {value!r}: expected a non-negative integer")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SweepError(f"{what} = {value!r}: expected a number")
        value = normalize_weight(value)
        if value is None:
            raise SweepError(f"{what}: expected a finite number")
    elif kind is bool:
        if not isinstance(value, bool):
            raise SweepError(f"{what} = {value!r}: expected true or false")
    elif kind is str:
        if value is not None and not isinstance(value, str):
            raise SweepError(f"{what} = {value!r}: expected a string")
    elif not isinstance(value, (str, int, float, bool)):
        raise SweepError(f"{what} = {value!r}: expected a number, a string or true/false")
    return value


def _axis_param(key: str, what: str) -> str:
    if key in AXIS_PARAM:
        return AXIS_PARAM[key]
    head, dot, name = key.partition(".")
    if dot and head in ("weight", "weights"):
        if not name.strip():
            raise SweepError(f"{what}: name the character or LoRA, e.g. \"weight.Kanachan\" = \"0.4:1.2:0.2\"")
        return f"weight.{name.strip()}"
    if key in NOT_SETTABLE:
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
            if param == "lora_strength" or param.startswith("weight."):
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
    """The draft shared by every cell: settings defaults < sweep [params] (unknown keys are extras).

    `use_speed_lora` stays unset unless the sweep says: planning turns it on
    where the workflow has a speed LoRA, and nowhere else.
    """
    params: dict[str, Any] = {"extra": {}, "characters": [], "skip_translate": False, "use_lora": True}
    for k, v in defaults.items():
        if v is not None and v != "":
            params[k] = v
    for k, v in sweep.params.items():
        if k in SETTING_KINDS:
            params[k] = v
        else:
            params["extra"] = {**params["extra"], k: v}
    return params


def expand(sweep: SweepDef, defaults: dict[str, Any] | None = None,
           previous_axes: dict[str, Any] | None = None, rng: random.Random | None = None) -> Grid:
    """Expand the Cartesian product of the axes into one draft per cell (prompt rendered)."""
    axes = resolved_axes(sweep, previous_axes, rng)
    base = base_params(sweep, defaults or {})
    if "seed" not in axes and base.get("seed") is None:
        axes["seed"] = ax.parse_seeds("random", f"{sweep.source}: seed", rng)
    names = list(axes)
    cells: list[Cell] = []
    for combo in itertools.product(*(axes[n] for n in names)):
        cell = dict(zip(names, combo))
        draft = json.loads(json.dumps(base))  # a deep copy of plain data
        for k, v in cell.items():
            if k.startswith("weight."):
                draft.setdefault("weight_for", {})[k.partition(".")[2]] = v
            elif k in SETTING_KINDS or k in ("variant",):
                draft[k] = v
            else:
                draft["extra"][k] = v
        if "lora_strength" in cell and cell["lora_strength"] is None:
            draft["use_lora"] = False
        draft["sweep"] = sweep.name
        try:
            render_cell(sweep.prompt, draft)
        except ValueError as e:
            raise SweepError(f"{sweep.source}: prompt ({_cell_text(cell)}): {e}") from None
        cells.append(Cell(draft=draft, cell=cell))
    return Grid(cells=cells, axes=axes)


def _cell_text(cell: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in cell.items())
