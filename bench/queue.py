"""Queue benchmark: 100 jobs of 20 steps at 10 ms a step on the ComfyUI simulator.

The simulator (a test double of ComfyUI) runs in its own process, like a real
server would; the worker runs here with a fresh catalog. Prints:

* total wall time / the simulator's execution time (target <= 1.03), where
  execution is the sum of execution_start -> execution_success per prompt,
  read from the server's `/history` status messages;
* per-job overhead p50/p95 (target p95 <= 30 ms): for each job, its share of
  wall time not spent executing on the server, i.e. the time from the previous
  job's record (or the worker's start) to this job's record, minus its execution;
* the server's idle gap between consecutive jobs p50/p95 (target p95 <= 5 ms):
  execution_start of job i+1 minus execution_success of job i;
* also, for information: the latency from a job's execution_success to its
  result being recorded (PNG + sidecar + catalog row + thumbnail).

    python bench/queue.py [--jobs 100] [--steps 20] [--step-ms 10] [--size 512]
"""

from __future__ import annotations

import os
import sys

# This file is named like the stdlib's `queue`; keep its folder off the import path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))  # the repository, for `bench.sim_process`

import argparse
import asyncio
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.sim_process import simulator_process


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def _epoch(text: str) -> float:
    return datetime.fromisoformat(str(text)).replace(tzinfo=UTC).timestamp()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--step-ms", type=float, default=10.0)
    ap.add_argument("--size", type=int, default=512, help="image width and height")
    ap.add_argument("--prequeue", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the temporary catalog and images")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="gentui-bench-queue-"))
    os.environ["GENTUI_HOME"] = str(home)
    try:
        with simulator_process(args.step_ms) as url:
            return _run(args, url, home)
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


def _run(args: argparse.Namespace, url: str, home: Path) -> int:
    from sqlalchemy import text

    from gentui.catalog.db import open_catalog
    from gentui.config import settings_from_dict
    from gentui.queue.plan import plan_sweep, queue_plan
    from gentui.queue.sweep import sweep_from_dict
    from gentui.queue.worker import Worker

    settings = settings_from_dict({"backends": {"comfyui": {"url": url}}})
    catalog = open_catalog(settings.catalog_path)
    weights = [round(0.01 * (i + 1), 2) for i in range(args.jobs)]
    raw = {"name": "bench", "prompt": {"text": "2girls, side by side, red ribbon, blue ribbon"},
           "params": {"lora_name": "kanachan-v4.safetensors", "skip_translate": True, "steps": args.steps,
                      "width": args.size, "height": args.size},
           "axes": {"weights": weights, "seeds": [1293127692]}}
    report = queue_plan(catalog, plan_sweep(sweep_from_dict(raw, "bench"), settings, catalog))
    assert report.queued == args.jobs, report

    worker = Worker(settings, catalog, ["comfyui"], exit_when_idle=True, prequeue=args.prequeue, log=lambda m: None)
    t0 = time.time()
    asyncio.run(worker.run())
    wall = time.time() - t0

    with catalog.engine.connect() as conn:
        rows = conn.execute(text("SELECT backend_prompt_id, state, finished_at FROM job ORDER BY id")).all()
    states = {r[1] for r in rows}
    history = httpx.get(f"{url}/history", timeout=30).json()
    runs = []
    for pid, state, finished in rows:
        msgs = {m[0]: m[1] for m in history[pid]["status"]["messages"]}
        start = msgs["execution_start"]["timestamp"] / 1000
        end = msgs["execution_success"]["timestamp"] / 1000
        runs.append((start, end, _epoch(finished)))
    runs.sort()
    execution = sum(e - s for s, e, _ in runs)
    gaps = [runs[i + 1][0] - runs[i][1] for i in range(len(runs) - 1)]
    recorded = sorted(f for _, _, f in runs)
    overhead = []
    prev = t0
    for (s, e, _), f in zip(runs, recorded):
        overhead.append((f - prev) - (e - s))
        prev = f
    latency = [f - e for s, e, f in runs]
    ms = 1000.0
    print(f"jobs: {len(rows)} x {args.steps} steps at {args.step_ms:g} ms/step, {args.size}x{args.size}, "
          f"prequeue {args.prequeue}; states: {', '.join(sorted(states))}")
    print(f"wall time {wall:.3f} s; simulator execution {execution:.3f} s "
          f"(pure sampling {len(rows) * args.steps * args.step_ms / 1000:.1f} s)")
    print(f"wall / execution: {wall / execution:.4f}   (target <= 1.03)")
    print(f"per-job overhead: p50 {_pct(overhead, .5) * ms:.1f} ms  p95 {_pct(overhead, .95) * ms:.1f} ms  "
          f"(target p95 <= 30 ms)")
    print(f"server idle gap between jobs: p50 {_pct(gaps, .5) * ms:.1f} ms  p95 {_pct(gaps, .95) * ms:.1f} ms  "
          f"max {max(gaps) * ms:.1f} ms  (target p95 <= 5 ms)")
    print(f"finish -> recorded (PNG + sidecar + catalog + thumbnail): p50 {_pct(latency, .5) * ms:.1f} ms  "
          f"p95 {_pct(latency, .95) * ms:.1f} ms")
    first = runs[0][0] - t0
    print(f"worker start -> first job executing: {first * ms:.0f} ms; last execution end -> worker exit: "
          f"{(t0 + wall - runs[-1][1]) * ms:.0f} ms")
    if args.keep:
        print(f"catalog and outputs in {home}")
    return 0 if states == {"done"} else 1


if __name__ == "__main__":
    sys.exit(main())
