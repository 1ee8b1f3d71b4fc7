"""Simulator benchmark: how long a stand-in image takes, and what a job costs beyond its steps.

The ComfyUI simulator (a test double) runs in a subprocess like a real server;
this script submits jobs of the built-in anima workflow back to back and reads
each job's execution time from `/history` (execution_start -> execution_success),
then reports the server's own overhead per job beyond steps x step_ms.

    python bench/simulator.py [--jobs 50] [--steps 20] [--step-ms 10] [--size 888x768]
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))  # the repository, for `bench.sim_process`

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import httpx  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from bench.sim_process import simulator_process  # noqa: E402
from gentui.simulator.render import encode_png, render_scene  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round((len(values) - 1) * p)))]


def bench_render(width: int, height: int, n: int = 20) -> tuple[float, float]:
    scene = {"width": width, "height": height, "seed": 1, "steps": 8, "cfg": 1.0, "sampler": "er_sde",
             "scheduler": "simple", "positive": "2girls", "negative": "", "models": ["waiANIMA_v10.safetensors"],
             "loras": [["kanachan-v4.safetensors", 0.8, None]]}
    draw, encode = [], []
    for i in range(n):
        scene["seed"] = i
        t0 = time.perf_counter()
        img = render_scene(scene)
        t1 = time.perf_counter()
        encode_png(img, {"prompt": "{}"})
        draw.append(t1 - t0)
        encode.append(time.perf_counter() - t1)
    return statistics.median(draw) * 1000, statistics.median(encode) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--step-ms", type=float, default=10.0)
    ap.add_argument("--size", default="888x768")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    draw_ms, encode_ms = bench_render(width, height)
    print(f"render {width}x{height}: draw {draw_ms:.1f} ms + PNG encode {encode_ms:.1f} ms (median of 20)")

    with simulator_process(args.step_ms) as url:
        graph = json.loads((ROOT / "workflows" / "anima.json").read_text())
        graph["3"]["inputs"]["lora_name"] = "kanachan-v4.safetensors"
        graph["8"]["inputs"].update(width=width, height=height)
        graph["9"]["inputs"]["steps"] = args.steps
        with httpx.Client(base_url=url, timeout=10) as http, connect(url.replace("http://", "ws://") + "/ws?clientId=b") as ws:
            ids = []
            for i in range(args.jobs):
                graph["9"]["inputs"]["seed"] = i
                ids.append(http.post("/prompt", json={"prompt": graph, "client_id": "b"}).json()["prompt_id"])
            while True:
                msg = ws.recv(timeout=120)
                if isinstance(msg, str):
                    data = json.loads(msg)
                    if data["type"] == "executing" and data["data"].get("node") is None \
                            and data["data"].get("prompt_id") == ids[-1]:
                        break
            spans = []
            for pid in ids:
                messages = http.get(f"/history/{pid}").json()[pid]["status"]["messages"]
                spans.append((messages[0][1]["timestamp"], messages[-1][1]["timestamp"]))
    pure = args.steps * args.step_ms
    overhead = [(end - start) - pure for start, end in spans]
    gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:])]
    print(f"jobs: {args.jobs} x {args.steps} steps at {args.step_ms:g} ms/step ({pure:.0f} ms of sampling each)")
    print(f"execution beyond sampling per job: p50 {pct(overhead, 0.5):.0f} ms  p95 {pct(overhead, 0.95):.0f} ms"
          f"  (first job {overhead[0]:.0f} ms: nothing cached)")
    print(f"server idle between queued jobs: p50 {pct(gaps, 0.5):.0f} ms  p95 {pct(gaps, 0.95):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
