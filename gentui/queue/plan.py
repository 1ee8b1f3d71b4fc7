"""Planning a sweep: expand the grid, fill each job from its workflow, check it, queue it.

Everything a job needs is resolved here, at queue time: the workflow binding's
defaults fill what the sweep leaves out (so the job row and later the sidecar
say exactly what ran), every job is bound once to catch bad parameters, and
`validate_plan` asks the backend whether it has the models and LoRAs, so an
unknown LoRA is refused before anything is queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gentui.catalog.db import Catalog
from gentui.config import Settings
from gentui.params import FILLED_FROM_WORKFLOW, JobParams, Lora, ParamError
from gentui.queue.store import JobError, JobStore, QueueReport
from gentui.queue.prompting import variant_label
from gentui.queue.sweep import Grid, JobSpec, SweepDef, SweepError, expand

MFLUX_DEFAULTS = {"steps": 4, "width": 1024, "height": 1024, "cfg": 1.0}
"""What mflux-generate-flux2 uses when not told (and so what an mflux job records)."""


@dataclass
class Plan:
    sweep: SweepDef
    grid: Grid
    backends: list[str | None] = field(default_factory=list)
    """The backends the jobs name (None: any idle backend that has the models)."""


def settings_defaults(settings: Settings) -> dict[str, Any]:
    return {"workflow": settings.defaults.workflow, "backend": settings.defaults.backend,
            "lora_name": settings.defaults.lora or None}


def previous_axes(catalog: Catalog | None, name: str) -> dict[str, Any]:
    """The axes a sweep of this name was queued with (its random seeds are reused)."""
    if catalog is None:
        return {}
    store = JobStore(catalog)
    try:
        return dict(store.find_sweep(name).axes)
    except JobError:
        return {}
    finally:
        store.close()


def plan_sweep(sweep: SweepDef, settings: Settings, catalog: Catalog | None = None) -> Plan:
    """Expand and resolve every job; SweepError names the file and what is wrong."""
    grid = expand(sweep, settings_defaults(settings), previous_axes(catalog, sweep.name))
    workflows: dict[str, Any] = {}
    backends: list[str | None] = []
    for c in grid.cells:
        d = c.draft
        if d.get("backend") in ("any", ""):
            d["backend"] = None
        backend = d.get("backend")
        if backend is not None and backend not in settings.backends:
            raise SweepError(f"{sweep.source}: backend {backend!r} is not configured; "
                             f"configured: {', '.join(sorted(settings.backends))} (or \"any\")")
        if backend not in backends:
            backends.append(backend)
        if backend is not None and settings.backends[backend].type == "mflux":
            _fill_for_mflux(sweep, d, settings.backends[backend])
        else:
            _fill_from_workflow(sweep, d, settings, workflows)
        _resolve_loras(sweep, d, c.cell)
        try:
            params = JobParams.from_flat(d)
        except ParamError as e:
            raise SweepError(f"{sweep.source}: {e}") from None
        if backend is None or settings.backends[backend].type != "mflux":
            _check_binds(sweep, params, workflows[params.workflow])
        label = params.label(c.cell, variant_label(params.variant) if params.variant else None)
        grid.jobs.append(JobSpec(params=params, label=label, key_hash=params.key_hash(), cell=c.cell))
    return Plan(sweep=sweep, grid=grid, backends=backends)


def _fill_from_workflow(sweep: SweepDef, d: dict[str, Any], settings: Settings, cache: dict[str, Any]) -> None:
    """Fill what the sweep leaves out with the values the workflow really uses (its switches applied)."""
    from gentui.backends.workflow import WorkflowError, load_workflow

    name = d.get("workflow") or settings.defaults.workflow
    d["workflow"] = name
    if name not in cache:
        try:
            cache[name] = load_workflow(name, settings)
        except WorkflowError as e:
            raise SweepError(f"{sweep.source}: workflow: {e}") from None
    wf = cache[name]
    has_speed = "use_speed_lora" in wf.switches
    if d.get("use_speed_lora") is None:
        d["use_speed_lora"] = has_speed  # on where the workflow has a speed LoRA, nowhere else
    elif d["use_speed_lora"] and not has_speed:
        raise SweepError(f"{sweep.source}: use_speed_lora = true, but workflow {name!r} has no speed LoRA "
                         f"(its switches: {', '.join(sorted(wf.switches)) or 'none'}); leave use_speed_lora out")
    try:
        values = wf.resolve(d)
    except WorkflowError as e:
        raise SweepError(f"{sweep.source}: {e}") from None
    for key in FILLED_FROM_WORKFLOW:
        if key.startswith("lora_") and not d.get("use_lora", True):
            continue
        if key.startswith("speed_lora_") and not d.get("use_speed_lora"):
            continue
        if d.get(key) is None and values.get(key) not in (None, ""):
            d[key] = values[key]


def _resolve_loras(sweep: SweepDef, d: dict[str, Any], cell: dict[str, Any]) -> None:
    """The job's LoRA stack: [[params.loras]], the prompt characters' own `lora`, or lora_name (one).

    Each character LoRA's strength comes from its `weight.NAME` axis, else a plain `weights`
    axis (only when there is one character LoRA), else its own `strength`, else the workflow's
    default. A weight of `none` leaves that LoRA out of the cell.
    """
    entries = [dict(e) for e in d.get("loras") or []]
    if not entries and not d.get("lora_name"):
        for ch in (sweep.prompt.spec or {}).get("characters") or []:
            if ch.get("lora"):
                entries.append({"name": ch["lora"], "character": ch.get("name") or None, "role": "character"})
    given = d.pop("weight_for", {})
    if not entries:
        if given:
            raise SweepError(f"{sweep.source}: axes.weight.{next(iter(given))}: the sweep has no [[params.loras]] "
                             "entry or character `lora` to vary; name one")
        return
    chars = [e for e in entries if e.get("role", "character") == "character"]
    for key in given:
        matches = [e for e in chars if Lora(e["name"], 1.0, character=e.get("character")).answers_to(key)]
        if not matches:
            names = ", ".join(Lora(e["name"], 1.0, character=e.get("character")).key for e in chars) or "none"
            raise SweepError(f"{sweep.source}: axes.weight.{key}: no character LoRA is {key!r}; "
                             f"the sweep's character LoRAs: {names}")
    plain = "lora_strength" in cell
    if plain and len(chars) != 1:
        keys = ", ".join(f"weight.{Lora(e['name'], 1.0, character=e.get('character')).key}" for e in chars)
        raise SweepError(f"{sweep.source}: axes.weights: the sweep has {len(chars)} character LoRAs; "
                         f"give each its own axis ({keys})")
    default = d.get("lora_strength") if d.get("lora_strength") is not None else 1.0
    out = []
    for e in entries:
        lo = Lora(e["name"], 1.0, character=e.get("character"))
        if e.get("role", "character") == "character":
            key = next((k for k in given if lo.answers_to(k)), None)
            if key is not None:
                strength = given[key]
            elif plain:
                strength = cell["lora_strength"]
            else:
                strength = e.get("strength_model") if e.get("strength_model") is not None else default
            if strength is None or d.get("use_lora", True) is False:
                continue  # `none`: this cell runs without that LoRA
            e["strength_model"] = strength
        elif e.get("strength_model") is None:
            e["strength_model"] = 1.0
        out.append(e)
    d["loras"] = out
    for key in ("lora_name", "lora_strength"):
        d.pop(key, None)


def _check_binds(sweep: SweepDef, params: JobParams, wf: Any) -> None:
    from gentui.backends.workflow import WorkflowError

    try:
        wf.bind(params.binding_values())
    except WorkflowError as e:
        raise SweepError(f"{sweep.source}: {e}") from None


def _fill_for_mflux(sweep: SweepDef, d: dict[str, Any], backend: Any) -> None:
    """mflux takes no workflow, sampler or scheduler; it uses its own model and defaults, recorded as such."""
    d["workflow"] = "mflux"
    for key in ("sampler", "scheduler", "checkpoint", "unet", "text_encoder", "vae"):
        d.pop(key, None)
    d["model"] = backend.model
    for key, value in MFLUX_DEFAULTS.items():
        if d.get(key) is None:
            d[key] = value
    if d.get("use_speed_lora") and not d.get("speed_lora_name"):
        raise SweepError(f"{sweep.source}: use_speed_lora = true, but the mflux backend has no speed LoRA to send; "
                         "name one with speed_lora_name = \"FILE\" (in its lora_dir) or leave use_speed_lora out")
    d["use_speed_lora"] = bool(d.get("use_speed_lora") and d.get("speed_lora_name"))
    if d["use_speed_lora"] and d.get("speed_lora_strength") is None:
        d["speed_lora_strength"] = 1.0
    if d.get("use_lora", True) and d.get("lora_name") and d.get("lora_strength") is None:
        d["lora_strength"] = 1.0


def queue_plan(catalog: Catalog, plan: Plan) -> QueueReport:
    """Insert the plan's jobs (only missing or failed/cancelled cells)."""
    sweep = plan.sweep
    spec = {"prompt": sweep.prompt.to_dict(), "params": sweep.params, "source": sweep.source,
            "description": sweep.description}
    backend = plan.backends[0] if len(plan.backends) == 1 else None
    workflows = {j.params.workflow for j in plan.grid.jobs}
    workflow = workflows.pop() if len(workflows) == 1 else None
    store = JobStore(catalog)
    try:
        return store.enqueue(sweep.name, spec, plan.grid.axes, plan.grid.jobs, backend=backend, workflow=workflow)
    finally:
        store.close()


async def validate_plan(plan: Plan, settings: Settings) -> list[str]:
    """Ask each named backend whether it has what the jobs need.

    Returns warnings (a backend that cannot be reached: the jobs stay queued
    and are checked again before they run). Raises SweepError when a backend
    refuses a job (unknown LoRA or model), listing what the backend has.
    """
    from gentui.backends.base import BackendUnavailable, ValidationFailed
    from gentui.backends.registry import make_backend

    warnings: list[str] = []
    names = [b for b in plan.backends if b is not None]
    if None in plan.backends:
        names += [n for n, b in settings.backends.items() if b.enabled and n not in names]
    refusals: dict[tuple[Any, ...], list[str]] = {}
    for name in names:
        backend = make_backend(name, settings)
        try:
            health = await backend.health()  # one quick try: a down server should not stall queueing
            if not health.ok:
                raise BackendUnavailable(health.detail or "not reachable")
            seen: set[tuple[Any, ...]] = set()
            for job in plan.grid.jobs:
                if job.params.backend not in (None, name):
                    continue
                sig = job.params.model_signature()
                if sig in seen:
                    continue
                seen.add(sig)
                try:
                    await backend.validate(job.params)
                except ValidationFailed as e:
                    if job.params.backend == name:
                        raise SweepError(f"{plan.sweep.source}: backend {name} refuses job {job.label!r}: {e}") from None
                    refusals.setdefault(sig, []).append(f"{name}: {e}")
        except BackendUnavailable as e:
            warnings.append(f"backend {name} cannot be reached to check models ({e}); "
                            "the jobs are queued and checked again before they run")
        finally:
            await backend.close()
    for sig, reasons in refusals.items():
        if len(reasons) == len(names):
            raise SweepError(f"{plan.sweep.source}: no backend has what the jobs need: " + "; ".join(reasons))
    return warnings
