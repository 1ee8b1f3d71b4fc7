"""A stand-in for `mflux-generate-flux2` that prints and writes what mflux does.

Tests write it into a temp dir as an executable named `mflux-generate-flux2`.
It parses the same arguments mflux's parser takes for FLUX.2 Klein (and refuses
what mflux refuses: guidance != 1.0 on a distilled model, a missing LoRA file),
draws a tqdm bar on stderr with carriage returns, writes a PNG and
`NAME.metadata.json` with mflux's metadata keys, logs
`INFO: Image saved successfully at: PATH`, prints `Peak MLX memory` on stdout,
and on SIGINT prints `Stopping image generation at step k/N` and exits 0 with no
image. Behaviour knobs come from the environment:

- FAKE_MFLUX_STEP_S: seconds per denoising step (default 0.01)
- FAKE_MFLUX_FAIL: `crash` (traceback, exit 1), `noimage` (exit 0, no image),
  `ignore_sigint` (a stuck process that needs SIGTERM/SIGKILL)
- FAKE_MFLUX_ARGV_LOG: append the argv (JSON) to this file
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

STANDIN_SOURCE = r'''
import argparse, json, os, signal, sys, time, zlib, struct
from datetime import datetime
from pathlib import Path

if os.environ.get("FAKE_MFLUX_ARGV_LOG"):
    with open(os.environ["FAKE_MFLUX_ARGV_LOG"], "a") as f:
        f.write(json.dumps(sys.argv[1:]) + "\n")

p = argparse.ArgumentParser(prog="mflux-generate-flux2")
p.add_argument("--low-ram", action="store_true")
p.add_argument("--model", "-m", type=str, default=None)
p.add_argument("--quantize", "-q", type=int, choices=[3, 5, 4, 6, 8], default=None)
p.add_argument("--lora", dest="lora", action="append", nargs="+", default=None)
g = p.add_mutually_exclusive_group()
g.add_argument("--prompt", type=str)
g.add_argument("--prompt-file", type=Path)
p.add_argument("--negative-prompt", type=str, default="")
p.add_argument("--seed", type=int, default=None, nargs="+")
p.add_argument("--steps", type=int, default=None)
p.add_argument("--guidance", type=float, default=None)
p.add_argument("--width", type=str, default="auto")
p.add_argument("--height", type=str, default="auto")
p.add_argument("--metadata", action="store_true")
p.add_argument("--output", type=str, default="image.png")
args = p.parse_args()
if args.prompt is None and args.prompt_file is None:
    p.error("Either --prompt or --prompt-file argument is required, or 'prompt' required in metadata config file")
paths, scales = [], []
for group in args.lora or []:
    if len(group) > 2:
        p.error(f"--lora takes one PATH and an optional SCALE but got {len(group)} values")
    if not Path(group[0]).expanduser().exists():
        p.error(f"LoRA file not found: '{group[0]}'. File does not exist and is not in the LoRA library.")
    paths.append(group[0]); scales.append(float(group[1]) if len(group) == 2 else 1.0)
if args.negative_prompt:
    p.error("--negative-prompt is not supported for FLUX.2. Focus on describing what you want.")
model = args.model or "flux2-klein-4b"
if model not in ("flux2-klein-4b", "flux2-klein-9b", "flux2-klein-base-4b", "flux2-klein-base-9b"):
    print(f"Model not found: {model}", file=sys.stderr); sys.exit(1)
guidance = 1.0 if args.guidance is None else args.guidance
if guidance != 1.0 and "base" not in model:
    p.error("--guidance is only supported for FLUX.2 base models. Use --guidance 1.0.")
seeds = args.seed or [int(time.time())]
steps = args.steps or 4
width = 1024 if args.width == "auto" else int(args.width)
height = 1024 if args.height == "auto" else int(args.height)
output = args.output
if len(seeds) > 1:
    o = Path(output); output = str(o.with_stem(o.stem + "_seed_{seed}"))
fail = os.environ.get("FAKE_MFLUX_FAIL", "")
step_s = float(os.environ.get("FAKE_MFLUX_STEP_S", "0.01"))
if fail == "ignore_sigint":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.stderr.write("Fetching 4 files: 100%|##########| 4/4 [00:00<00:00, 100.0it/s]\n")
print("ready", flush=True)

def png(w, h, rgb):
    raw = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

try:
    for seed in seeds:
        if args.prompt_file is not None:
            if not args.prompt_file.exists():
                print(f"Prompt file does not exist: {args.prompt_file}")
                sys.exit(0)
            prompt = args.prompt_file.read_text().strip()
        else:
            prompt = args.prompt
        t0 = time.time()
        for t in range(steps + 1):
            pct = int(100 * t / steps)
            bar = ("#" * (pct // 10)).ljust(10)
            sys.stderr.write(f"\r{pct:3d}%|{bar}| {t}/{steps} [00:00<00:00, 9.99it/s]")
            sys.stderr.flush()
            if t == steps:
                break
            try:
                if fail == "crash" and t == 1:
                    raise RuntimeError("[METAL] Command buffer execution failed: Insufficient Memory")
                time.sleep(step_s)
            except KeyboardInterrupt:
                raise KeyboardInterrupt(f"Stopping image generation at step {t + 1}/{steps}")
        sys.stderr.write("\n")
        if fail == "noimage":
            continue
        path = Path(output.format(seed=seed))
        base, n = path, 1
        while path.exists():
            path = base.with_name(f"{base.stem}_{n}{base.suffix}"); n += 1
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png(max(1, width // 64), max(1, height // 64), (seed % 256, steps * 20 % 256, 128)))
        sys.stderr.write(f"INFO: Image saved successfully at: {path}\n")
        if args.metadata:
            meta = {
                "mflux_version": "0.24.0", "model": {"flux2-klein-4b": "black-forest-labs/FLUX.2-klein-4B",
                "flux2-klein-9b": "black-forest-labs/FLUX.2-klein-9B"}.get(model, model), "model_path": None,
                "base_model": None, "seed": seed, "steps": steps, "guidance": None, "height": height, "width": width,
                "precision": "mlx.core.bfloat16", "quantize": args.quantize,
                "generation_time_seconds": round(time.time() - t0, 2), "created_at": datetime.now().isoformat(),
                "lora_paths": paths or None, "lora_scales": [round(s, 2) for s in scales] or None,
                "image_path": None, "image_paths": None, "image_strength": None, "controlnet_image_path": None,
                "controlnet_strength": None, "masked_image_path": None, "depth_image_path": None,
                "redux_image_paths": None, "redux_image_strengths": None, "prompt": prompt, "negative_prompt": None,
            }
            with open(path.with_suffix(".metadata.json"), "w") as f:
                json.dump(meta, f, indent=4)
except KeyboardInterrupt as exc:
    print(exc)
finally:
    print("Peak MLX memory: 7.42 GB")
'''


def write_standin(directory: Path, name: str = "mflux-generate-flux2") -> Path:
    """Write the stand-in as an executable script; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!{sys.executable}\n{STANDIN_SOURCE}", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def standin_env(monkeypatch, directory: Path) -> None:
    """Put the stand-in's folder first on PATH."""
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ.get('PATH', '')}")
