"""Queue benchmark: a weight x seed sweep on the ComfyUI simulator, with one backend and with two.

Each simulator (a test double of ComfyUI) runs in its own process, like a real
server; the worker runs here on a fresh catalog. For each scenario it prints:

* gentui's own time per job (target <= 3 ms): per server, the wall time from
  the moment the worker holds its leases to that server's last job recorded,
  minus the server's own execution time (execution_start -> execution_success
  per prompt, from `/history`); summed over servers, divided by the jobs;
* lease -> first job executing on a server (target <= 60 ms, validation included);
* the server's idle gap between consecutive jobs, p50/p95 (target p95 <= 5 ms);
* wall / execution, and finish -> recorded (PNG + sidecar + catalog row + thumbnail);
* what each server had to re-do, as the simulator counts it like a real ComfyUI
  would (its classic cache): model loads, LoRA patches, text encodes. A weight
  change costs a patch and an encode; a seed change neither. The best possible
  is one patch per distinct weight per server.

    python -P bench/queue.py [--weights 10] [--seeds 4] [--steps 20] [--step-ms 10] [--size 512]
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
from contextlib import ExitStack
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


def _epoch(value) -> float:
    if isinstance(value, datetime):
        return value.replace(tzinfo=value.tzinfo or UTC).timestamp()
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC).timestamp()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=int, default=10, help="distinct LoRA weights")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--step-ms", type=float, default=10.0)
    ap.add_argument("--size", type=int, default=512, help="image width and height")
    ap.add_argument("--prequeue", type=int, default=1)
    ap.add_argument("--only", choices=("one", "two"), help="run only one scenario")
    args = ap.parse_args()
    status = 0
    for scenario in ("one", "two"):
        if args.only in (None, scenario):
            status |= _scenario(args, 1 if scenario == "one" else 2)
    return status


def _scenario(args: argparse.Namespace, n_backends: int) -> int:
    home = Path(tempfile.mkdtemp(prefix="gentui-bench-queue-"))
    os.environ["GENTUI_HOME"] = str(home)
    try:
        with ExitStack() as stack:
            urls = [stack.enter_context(simulator_process(args.step_ms)) for _ in range(n_backends)]
            return _run(args, urls, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _run(args: argparse.Namespace, urls: list[str], home: Path) -> int:
    from gentui.catalog.db import open_catalog
    from gentui.config import settings_from_dict
    from gentui.queue.plan import plan_sweep, queue_plan
    from gentui.queue.store import JobStore
    from gentui.queue.sweep import sweep_from_dict
    from gentui.queue.worker import Worker

    names = [f"sim{i + 1}" for i in range(len(urls))]
    settings = settings_from_dict({"backends": {n: {"url": u} for n, u in zip(names, urls)},
                                   "defaults": {"backend": names[0]}})
    catalog = open_catalog(settings.catalog_path)
    weights = [round(0.4 + 0.1 * i, 2) for i in range(args.weights)]
    raw = {"name": "bench", "prompt": {"text": "2girls, side by side, red ribbon, blue ribbon"},
           "params": {"lora_name": "kanachan-v4.safetensors", "skip_translate": True, "steps": args.steps,
                      "width": args.size, "height": args.size, "backend": "any" if len(urls) > 1 else names[0]},
           "axes": {"weights": weights, "seeds": list(range(1, args.seeds + 1))}}
    report = queue_plan(catalog, plan_sweep(sweep_from_dict(raw, "bench"), settings, catalog))
    jobs = report.queued
    assert jobs == args.weights * args.seeds, report

    worker = Worker(settings, catalog, names, exit_when_idle=True, prequeue=args.prequeue, log=lambda m: None)
    t0 = 0.0

    async def go() -> None:  # as `gentui worker` does: warm up, take the leases, run
        nonlocal t0
        await worker.warm_up()
        leases = worker.acquire_leases()
        t0 = time.time()
        await worker.run(leases)

    asyncio.run(go())
    wall_exit = time.time() - t0

    rows = JobStore(catalog).list()
    states = {r.state for r in rows}
    runs: dict[str, list[tuple[float, float, float, float]]] = {n: [] for n in names}
    histories = {n: httpx.get(f"{u}/history", timeout=30).json() for n, u in zip(names, urls)}
    for r in rows:
        msgs = {m[0]: m[1] for m in histories[r.backend][r.prompt_id]["status"]["messages"]}
        start = msgs["execution_start"]["timestamp"] / 1000
        end = msgs["execution_success"]["timestamp"] / 1000
        runs[r.backend].append((start, end, _epoch(r.finished_at), r.params.weight))
    stats = {n: httpx.get(f"{u}/gentui/simulator/stats", timeout=10).json()["work"] for n, u in zip(names, urls)}
    all_runs = sorted(x for v in runs.values() for x in v)
    execution = sum(e - s for s, e, _f, _w in all_runs)
    last_recorded = max(f for _s, _e, f, _w in all_runs)
    busy_wall = last_recorded - t0
    gaps = [b[0] - a[1] for v in runs.values() for a, b in zip(sorted(v), sorted(v)[1:])]
    latency = [f - e for _s, e, f, _w in all_runs]
    first = min(s for s, _e, _f, _w in all_runs) - t0
    ms = 1000.0
    parallel = execution / len(urls)
    print(f"== {len(urls)} backend(s): {jobs} jobs ({args.weights} weights x {args.seeds} seeds) x {args.steps} "
          f"steps at {args.step_ms:g} ms/step, {args.size}x{args.size}, prequeue {args.prequeue}; "
          f"states: {', '.join(sorted(states))}")
    print(f"wall (lease -> last recorded) {busy_wall:.3f} s; server execution {execution:.3f} s"
          + (f" ({parallel:.3f} s per server)" if len(urls) > 1 else ""))
    # Per server: from the lease to its last job recorded, minus its own execution (a server that
    # runs out of jobs before the other does not count its idle tail).
    own = sum(max(f for _s, _e, f, _w in v) - t0 - sum(e - s for s, e, _f, _w in v) for v in runs.values() if v) / jobs
    print(f"gentui's own time per job: {own * ms:.2f} ms   (target <= 3 ms)")
    print(f"lease -> first job executing: {first * ms:.1f} ms   (target <= 60 ms)")
    print(f"server idle gap between jobs: p50 {_pct(gaps, .5) * ms:.1f} ms  p95 {_pct(gaps, .95) * ms:.1f} ms  "
          f"max {max(gaps, default=0) * ms:.1f} ms   (target p95 <= 5 ms)")
    print(f"wall / execution per server: {busy_wall / parallel:.4f}; finish -> recorded p50 "
          f"{_pct(latency, .5) * ms:.1f} ms  p95 {_pct(latency, .95) * ms:.1f} ms; worker exit after "
          f"{(wall_exit - busy_wall) * ms:.0f} ms")
    for n in names:
        order = [w for _s, _e, _f, w in sorted(runs[n])]
        changes = 1 + sum(1 for a, b in zip(order, order[1:]) if a != b) if order else 0
        s = stats[n]
        print(f"  {n}: {len(order)} jobs, {len(set(order))} distinct weights, {changes} weight changes; re-done: "
              f"model loads {s['model_loads']}, LoRA patches {s['lora_patches']}, text encodes {s['text_encodes']}, "
              f"samples {s['samples']}")
    if len(urls) == 1:
        graphs = [_graph(settings, r.params) for r in sorted(rows, key=lambda r: r.submitted_at)]
        catalog.close()
        _plain_loop(graphs, args, own)
        return 0 if states == {"done"} else 1
    catalog.close()
    return 0 if states == {"done"} else 1


def _graph(settings, params) -> dict:
    from gentui.backends.comfyui import ComfyBackend

    return ComfyBackend(next(iter(settings.backends)), settings).bind(params)


def _plain_loop(graphs: list[dict], args: argparse.Namespace, gentui_own: float) -> None:
    """The anchor: a plain client on a fresh server, submit -> wait for the finish -> fetch -> submit."""
    import json
    import uuid

    from websockets.sync.client import connect

    with simulator_process(args.step_ms) as url:
        client = f"loop-{uuid.uuid4().hex[:8]}"
        http = httpx.Client(timeout=30)
        ws = connect(url.replace("http://", "ws://") + f"/ws?clientId={client}", max_size=None)
        t0 = time.time()
        ids = []
        for g in graphs:
            pid = str(uuid.uuid4())
            http.post(f"{url}/prompt", json={"prompt": g, "client_id": client, "prompt_id": pid})
            while True:
                msg = ws.recv()
                if isinstance(msg, str):
                    m = json.loads(msg)
                    if m["type"] == "executing" and m["data"].get("node") is None and m["data"].get("prompt_id") == pid:
                        break
            entry = http.get(f"{url}/history/{pid}").json()[pid]
            for out in entry["outputs"].values():
                for img in out.get("images", []):
                    http.get(f"{url}/view", params={k: img[k] for k in ("filename", "subfolder", "type")})
            ids.append(pid)
        wall = time.time() - t0
        history = http.get(f"{url}/history").json()
        ws.close()
    spans = []
    for pid in ids:
        msgs = {m[0]: m[1] for m in history[pid]["status"]["messages"]}
        spans.append((msgs["execution_start"]["timestamp"] / 1000, msgs["execution_success"]["timestamp"] / 1000))
    execution = sum(e - s for s, e in spans)
    gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:])]
    own = (wall - execution) / len(ids)
    ms = 1000.0
    print(f"anchor, a plain submit-wait-submit loop on a fresh server (same graphs): own time per job "
          f"{own * ms:.2f} ms, idle gap p50 {_pct(gaps, .5) * ms:.1f} ms p95 {_pct(gaps, .95) * ms:.1f} ms; "
          f"gentui / loop own time: {gentui_own / own:.2f}")


if __name__ == "__main__":
    sys.exit(main())
