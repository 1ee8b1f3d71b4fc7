"""`gentui sim`: run the ComfyUI simulator (a test double of a ComfyUI server) in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from gentui.simulator.catalogue import CatalogueError, load_catalogue


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8188, help="port (default 8188, 0 = any free port)")
    parser.add_argument(
        "--step-ms", type=float, default=50.0, metavar="MS", help="time per sampler step in milliseconds (default 50)"
    )
    parser.add_argument(
        "--models", metavar="FILE", help="TOML or JSON file: folder -> list of model names, plus `broken` names"
    )
    parser.add_argument(
        "--jobs-api",
        action="store_true",
        help="act as a newer ComfyUI: /api/jobs, UUID prompt ids, missing_node_type errors",
    )
    parser.add_argument("--preview", action="store_true", help="send a binary preview frame per sampler step")
    parser.add_argument("--nondeterministic", action="store_true",
                        help="the same graph gives slightly different pixels each run (as some GPUs do)")
    parser.add_argument("--output-dir", metavar="DIR", help="where SaveImage writes (default: a temp dir, removed on exit)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")


def run(args: argparse.Namespace, settings: object) -> int:
    models = None
    if args.models:
        try:
            models = load_catalogue(args.models)
        except CatalogueError as e:
            print(f"gentui sim: {e}", file=sys.stderr)
            return 2
    if args.step_ms < 0:
        print("gentui sim: --step-ms must be 0 or more", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s [sim] %(message)s", stream=sys.stderr
    )
    try:
        return asyncio.run(_serve(args, models))
    except KeyboardInterrupt:
        print("gentui sim: stopped", file=sys.stderr)
        return 0


async def _serve(args: argparse.Namespace, models: object) -> int:
    from gentui.simulator import Simulator

    sim = Simulator(
        host=args.host,
        port=args.port,
        step_ms=args.step_ms,
        models=models,
        jobs_api=args.jobs_api,
        output_dir=args.output_dir,
        preview=args.preview,
        nondeterministic=args.nondeterministic,
    )
    try:
        await sim.start()
    except OSError as e:
        print(f"gentui sim: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    flavour = "newer server with the Jobs API" if args.jobs_api else "v0.3.64 API"
    lines = [
        "gentui ComfyUI SIMULATOR - a test double of a ComfyUI server, not ComfyUI itself",
        f"  url        {sim.url}   ({flavour})",
        f"  step time  {args.step_ms:g} ms per sampler step   previews {'on' if args.preview else 'off'}",
        f"  output     {sim.dirs.output}",
        "  models     " + ", ".join(f"{k}: {len(v)}" for k, v in sim.catalogue.folders.items() if v),
        "  images are drawn from the parameters; nothing is generated. Ctrl-C stops it.",
    ]
    print("\n".join(lines), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()
    return 0
