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
from gentui.catalog.models import Sweep
from gentui.config import Settings
from gentui.queue.jobs import QueueReport, enqueue
from gentui.queue.sweep import Grid, SweepDef, SweepError, expand, key_hash, make_label

# Parameters a workflow binding's defaults fill in when the sweep does not say.
FILLED = ("seed", "width", "height", "steps", "cfg", "sampler", "scheduler", "lora_name", "lora_strength",
          "speed_lora_name", "speed_lora_strength", "checkpoint", "unet", "text_encoder", "vae", "negative",
          "use_lora", "use_speed_lora")


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
    if catalog is None:
        return {}
    with catalog.session() as s:
        from sqlmodel import select

        row = s.exec(select(Sweep).where(Sweep.name == name)).first()
    return dict(row.axes or {}) if row else {}


def plan_sweep(sweep: SweepDef, settings: Settings, catalog: Catalog | None = None) -> Plan:
    """Expand and resolve every job; SweepError names the file and what is wrong."""
    grid = expand(sweep, settings_defaults(settings), previous_axes(catalog, sweep.name))
    workflows: dict[str, Any] = {}
    backends: list[str | None] = []
    for job in grid.jobs:
        p = job.params
        if p.get("backend") in ("any", ""):
            p["backend"] = None
        backend = p.get("backend")
        if backend is not None and backend not in settings.backends:
            raise SweepError(f"{sweep.source}: backend {backend!r} is not configured; "
                             f"configured: {', '.join(sorted(settings.backends))} (or \"any\")")
        if backend not in backends:
            backends.append(backend)
        kind = settings.backends[backend].type if backend else "comfyui"
        if kind == "comfyui":
            _fill_from_workflow(sweep, p, settings, workflows)
        if not p.get("use_lora"):
            p["lora_strength"] = None
        job.key_hash = key_hash(p)
        job.label = make_label(p, job.cell)
    return Plan(sweep=sweep, grid=grid, backends=backends)


def _fill_from_workflow(sweep: SweepDef, p: dict[str, Any], settings: Settings, cache: dict[str, Any]) -> None:
    from gentui.backends.workflow import WorkflowError, load_workflow

    name = p.get("workflow") or settings.defaults.workflow
    p["workflow"] = name
    if name not in cache:
        try:
            cache[name] = load_workflow(name, settings)
        except WorkflowError as e:
            raise SweepError(f"{sweep.source}: workflow: {e}") from None
    wf = cache[name]
    defaults = wf.defaults
    for key in FILLED:
        if p.get(key) is None and defaults.get(key) not in (None, ""):
            if key == "lora_strength" and not p.get("use_lora", True):
                continue
            p[key] = defaults[key]
    try:
        wf.bind(p)
    except WorkflowError as e:
        raise SweepError(f"{sweep.source}: {e}") from None


def queue_plan(catalog: Catalog, plan: Plan) -> QueueReport:
    """Insert the plan's jobs (only missing or failed/cancelled cells)."""
    sweep = plan.sweep
    spec = {"prompt": sweep.prompt.to_dict(), "params": sweep.params, "source": sweep.source,
            "description": sweep.description}
    backend = plan.backends[0] if len(plan.backends) == 1 else None
    workflows = {j.params.get("workflow") for j in plan.grid.jobs}
    workflow = workflows.pop() if len(workflows) == 1 else None
    return enqueue(catalog, sweep.name, spec, plan.grid.axes, plan.grid.jobs, backend=backend, workflow=workflow)


def model_signature(params: dict[str, Any]) -> tuple[Any, ...]:
    """The parts of a job a backend validates (models, LoRAs, workflow): one check per distinct one."""
    keys = ("workflow", "use_lora", "lora_name", "use_speed_lora", "speed_lora_name", "checkpoint", "unet",
            "text_encoder", "vae")
    return tuple((k, params.get(k)) for k in keys) + (("extra", tuple(sorted((params.get("extra") or {}).items()))),)


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
                if job.params.get("backend") not in (None, name):
                    continue
                sig = model_signature(job.params)
                if sig in seen:
                    continue
                seen.add(sig)
                try:
                    await backend.validate(job.params)
                except ValidationFailed as e:
                    if job.params.get("backend") == name:
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
