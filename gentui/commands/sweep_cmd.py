"""`gentui sweep [FILE.toml] [flags]`: queue a sweep, then follow it to the end.

Flags cover the common case and override the file. Without --detach the
command runs the jobs itself when no worker holds the backend (taking its
lease), or follows the worker that does by reading the catalog.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from typing import Any

from gentui.config import Settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", help="sweep file (TOML: name, [prompt], [params], [axes])")
    g = p.add_argument_group("prompt")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--prompt", metavar="TEXT", help="the prompt (JSON form, text form or free text)")
    src.add_argument("--prompt-file", metavar="FILE", help="read the prompt from a file")
    a = p.add_argument_group("axes (comma lists; weights also start:stop:step)")
    a.add_argument("--weights", metavar="W", help="LoRA weights, e.g. 0.4:1.2:0.2 or 0.6,0.8,1.0")
    a.add_argument("--seeds", metavar="S", help="seeds, e.g. 1293127692,42 or random or random:4")
    a.add_argument("--variants", metavar="V", help="prompt variants, e.g. named,unnamed")
    a.add_argument("--layouts", metavar="L", help="layouts, e.g. side_by_side,cluster,depth")
    a.add_argument("--workflow", metavar="NAME", help="workflow (a comma list makes it an axis)")
    a.add_argument("--axis", metavar="KEY=VALUES", action="append", default=[],
                   help="any parameter as an axis, e.g. --axis weight.Reina=0.6,0.8 --axis steps=8,12 (repeatable)")
    o = p.add_argument_group("parameters")
    o.add_argument("--backend", metavar="NAME", help="backend name from the config, or 'any' (default: defaults.backend)")
    o.add_argument("--width", type=int)
    o.add_argument("--height", type=int)
    o.add_argument("--steps", type=int)
    o.add_argument("--cfg", type=float)
    o.add_argument("--lora", metavar="FILE[@CHARACTER]", action="append", default=[],
                   help="a character LoRA, optionally for one character of the prompt (repeatable: a LoRA stack)")
    o.add_argument("--no-lora", action="store_true", help="run without the character LoRA (node bypassed)")
    o.add_argument("--no-speed-lora", action="store_true", help="run without the speed (turbo) LoRA")
    o.add_argument("--skip-translate", action="store_true", help="send the prompt as written, untranslated")
    o.add_argument("--set", metavar="PARAM=VALUE", action="append", default=[],
                   help="any parameter the workflow binding exposes, e.g. --set checkpoint=x.safetensors")
    o.add_argument("--name", help="sweep name (re-queueing the same name only adds missing cells)")
    r = p.add_argument_group("running")
    r.add_argument("--detach", action="store_true", help="only queue the jobs; a worker runs them")
    r.add_argument("--dry-run", action="store_true", help="list the jobs without queueing anything")
    r.add_argument("--no-validate", action="store_true", help="do not ask the backend whether it has the models")


def _flag_overrides(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    from gentui.queue.axes import coerce_scalar
    from gentui.queue.sweep import SweepError

    params: dict[str, Any] = {}
    axes: dict[str, Any] = {}
    for key in ("width", "height", "steps", "cfg", "backend"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if len(args.lora) == 1 and "@" not in args.lora[0]:
        params["lora_name"] = args.lora[0]
    elif args.lora:
        params["loras"] = [{"name": f.partition("@")[0], **({"character": f.partition("@")[2]} if "@" in f else {})}
                           for f in args.lora]
    if args.no_lora:
        params["use_lora"] = False
    if args.no_speed_lora:
        params["use_speed_lora"] = False
    if args.skip_translate:
        params["skip_translate"] = True
    for item in args.set:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise SweepError(f"--set {item!r}: expected PARAM=VALUE, e.g. --set checkpoint=model.safetensors")
        params[key.strip()] = coerce_scalar(value.strip())
    for flag, axis in (("weights", "weights"), ("seeds", "seeds"), ("variants", "variants"), ("layouts", "layouts")):
        if getattr(args, flag):
            axes[axis] = getattr(args, flag)
    for item in args.axis:
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise SweepError(f"--axis {item!r}: expected KEY=VALUES, e.g. --axis weight.Reina=0.6,0.8")
        axes[key.strip()] = value.strip()
    if args.workflow:
        if "," in args.workflow:
            axes["workflow"] = args.workflow
        else:
            params["workflow"] = args.workflow
    prompt = None
    if args.prompt is not None:
        prompt = {"text": args.prompt}
    elif args.prompt_file:
        prompt = {"file": args.prompt_file}
    return params, axes, prompt


def build_sweep(args: argparse.Namespace) -> Any:
    """The sweep file (if any) with the flags laid over it."""
    from gentui.queue.sweep import (
        SweepError,
        check_param,
        load_sweep_file,
        sweep_from_dict,
    )

    params, axes, prompt = _flag_overrides(args)
    if args.file:
        sweep = load_sweep_file(args.file)
        if prompt is not None:
            sweep.prompt = sweep_from_dict({"name": "x", "prompt": prompt}, "command line").prompt
    else:
        if prompt is None:
            raise SweepError("no sweep: give a sweep FILE.toml, or --prompt TEXT / --prompt-file FILE")
        digest = hashlib.sha256(repr((prompt, sorted(params.items()), sorted(axes.items()))).encode()).hexdigest()[:8]
        sweep = sweep_from_dict({"name": args.name or f"sweep-{digest}", "prompt": prompt}, "command line")
    if args.name:
        sweep.name = args.name
    if "loras" in params:  # the flags' LoRA stack replaces the file's LoRAs
        sweep.params.pop("lora_name", None)
        sweep.params.pop("lora_strength", None)
    elif "lora_name" in params:
        sweep.params.pop("loras", None)
    for k, v in params.items():
        sweep.params[k] = check_param(k, v, f"command line: {k}")
    if "lora_name" in params and params.get("use_lora") is not False and "use_lora" not in params:
        sweep.params.setdefault("use_lora", True)
    sweep.axes.update(axes)
    return sweep


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gentui.catalog.db import CatalogError, open_catalog
    from gentui.queue.plan import plan_sweep, queue_plan, validate_plan
    from gentui.queue.sweep import SweepError

    try:
        sweep = build_sweep(args)
        catalog = open_catalog(settings.catalog_path)
    except (SweepError, CatalogError) as e:
        print(f"gentui sweep: {e}", file=sys.stderr)
        return 2
    try:
        plan = plan_sweep(sweep, settings, catalog)
        if args.dry_run:
            _print_dry_run(catalog, plan)
            return 0
        if not args.no_validate:
            for w in asyncio.run(validate_plan(plan, settings)):
                print(f"warning: {w}", file=sys.stderr)
        report = queue_plan(catalog, plan)
    except SweepError as e:
        print(f"gentui sweep: {e}", file=sys.stderr)
        return 2
    kept = ", ".join(f"{n} {s}" for s, n in sorted(report.kept.items()))
    print(f"sweep {sweep.name}: queued {report.queued} job(s)"
          + (f" ({len(report.rearmed)} re-armed)" if report.rearmed else "")
          + (f"; already there: {kept}" if kept else ""))
    if args.detach:
        return 0
    from gentui.commands.sweep_follow import follow_sweep

    try:
        return follow_sweep(settings, catalog, sweep.name, plan.backends)
    finally:
        catalog.close()


def _print_dry_run(catalog: Any, plan: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from gentui.params import format_weight
    from gentui.queue.store import JobStore

    store = JobStore(catalog)
    states = store.states_by_hash()
    store.close()
    table = Table(title=f"sweep {plan.sweep.name}: {len(plan.grid.jobs)} job(s) (dry run, nothing queued)")
    for col in ("#", "label", "backend", "workflow", "size", "steps", "cfg", "lora", "would"):
        table.add_column(col, no_wrap=col in ("#", "label", "size"))
    for i, job in enumerate(plan.grid.jobs, 1):
        p = job.params
        state = states.get(job.key_hash)
        would = "queue" if state is None else ("re-queue" if state in ("failed", "cancelled", "interrupted") else f"skip ({state})")
        lora = ", ".join(f"{lo.name} @ {format_weight(lo.strength_model)}" for lo in p.loras) or "none"
        table.add_row(str(i), job.label, p.backend or "any", str(p.workflow), f"{p.width}x{p.height}", str(p.steps),
                      str(p.cfg), lora, would)
    Console().print(table)
