"""Catalog benchmark, part (a): import speed of sidecar + PNG pairs (run through bench/catalog.py).

Writes N genserver-style sidecar + PNG pairs to bench/out/ (cached) and imports
them into a fresh catalog through `gentui.catalog.importer.import_paths`, the
code path of `gentui import`, thumbnails included. Figures: wall time, CPU time
(user + sys of this process and the import's worker processes, which is what an
idle machine would need: cores / CPU per pair), page faults, the same folder
re-imported (skipped by stat) and `--rebuild` with the thumbnails cached; then
the CPU per pair of every stage on a sample.

Images: by default illustration-like (the simulator's renderer: flat colour
regions, gradients, lines) at the workflows' default 888x768; `--noise` gives
noise-like pixels that PNG barely compresses, the worst case.
"""

from __future__ import annotations

import json
import os
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.catalog import LAYOUTS, NAMES, OUT, WEIGHTS

SIDE_NAMES = NAMES[:8]


BASE_IMAGES = 256


def _noise_pngs(w: int, h: int, count: int) -> list[bytes]:
    """Worst case (--noise): smooth random colour fields plus per-pixel grain; PNG barely compresses it."""
    import io

    from PIL import Image

    rng = random.Random(w * h)
    grain = Image.frombytes("L", (w, h), rng.randbytes(w * h)).point(lambda v: v // 12).convert("RGB")
    out = []
    for _ in range(count):
        base = Image.frombytes("RGB", (max(1, w // 16), max(1, h // 16)), rng.randbytes(max(1, w // 16) * max(1, h // 16) * 3))
        img = Image.blend(base.resize((w, h), Image.BILINEAR), grain, 0.05)
        buf = io.BytesIO()
        img.save(buf, "PNG", compress_level=4)  # ComfyUI's SaveImage level
        out.append(buf.getvalue())
    return out


def _anime_pngs(w: int, h: int, count: int) -> list[bytes]:
    """Illustration-like PNGs from the simulator's renderer: flat colour regions, gradients, lines.

    Each pixel set comes from a different scene (seed, prompt, LoRA strength), encoded
    the way ComfyUI's SaveImage writes (compress_level 4).
    """
    from gentui.simulator.render import encode_png, render_scene

    out = []
    for k in range(count):
        scene = {"seed": 1000 + k, "positive": f"three friends side by side, variant {k % 17}",
                 "negative": "lowres", "models": ["anima-base-v1.0.safetensors"], "sampler": "er_sde",
                 "scheduler": "simple", "steps": 8, "cfg": 1.0, "width": w, "height": h,
                 "loras": [["kanachan-v4.safetensors", WEIGHTS[1 + k % (len(WEIGHTS) - 1)], 1.0],
                           ["anima-turbo-lora.safetensors", 1.0, 1.0]]}
        out.append(encode_png(render_scene(scene), compress_level=4))
    return out


def _with_text(png: bytes, text: str) -> bytes:
    """The same pixels with a tEXt chunk after IHDR: unique bytes (so a unique sha256 and thumbnail)."""
    import struct
    import zlib

    data = b"gentui-bench\0" + text.encode()
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    return png[:33] + chunk + png[33:]


def _make_chunk(args: tuple[str, int, int, int, int]) -> int:
    """Write pairs [lo, hi): a PNG (one of BASE_IMAGES pixel sets, unique bytes) and its genserver sidecar."""
    folder, lo, hi, w, h = args
    bases = _BASES
    rng = random.Random(lo)
    for i in range(lo, hi):
        stem = Path(folder) / f"{i // 1000:03d}" / f"gen_{i:06d}"
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".png").write_bytes(_with_text(bases[i % len(bases)], str(i)))
        n = 2 + i % 2
        names = rng.sample(SIDE_NAMES, n)
        slots = ["left", "middle", "right"] if n == 3 else ["left", "right"]
        prompt = {"scene": "two friends in a park at dusk", **{
            f"{s}_character": {"name": nm, "appearance": rng.choice(["blue ribbon", "red scarf", "school uniform"])}
            for s, nm in zip(slots, names)}}
        w_raw = WEIGHTS[1 + i % (len(WEIGHTS) - 1)]
        side = {"model": "anima-base-v1.0.safetensors", "seed": rng.randrange(2**32), "width": w, "height": h,
                "steps": 8, "cfg": 1.0, "use_lora": True, "lora_strength": w_raw, "use_speed_lora": True,
                "skip_translate": False, "text_ja": "公園で二人", "prompt_en": json.dumps(prompt),
                "elapsed_s": round(rng.uniform(8, 14), 2), "layout": rng.choice(LAYOUTS)}
        stem.with_suffix(".json").write_text(json.dumps(side, ensure_ascii=False))
    return hi - lo


_BASES: list[bytes] = []


def pairs_folder(n: int, w: int, h: int, noise: bool) -> Path:
    return OUT / (f"pairs-{n}-{w}x{h}" if noise else f"pairs-{n}-{w}x{h}-anime")


def make_pairs(folder: Path, n: int, w: int, h: int, noise: bool) -> float:
    """Generate (or reuse) n pairs; returns seconds spent generating."""
    stamp = folder / ".complete"
    if stamp.exists() and stamp.read_text() == f"{n} {w}x{h}":
        return 0.0
    t0 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    _BASES[:] = (_noise_pngs if noise else _anime_pngs)(w, h, BASE_IMAGES)
    step = 1000
    for lo in range(0, n, step):
        _make_chunk((str(folder), lo, min(lo + step, n), w, h))
        print(f"\r  generating pairs {min(lo + step, n):,}/{n:,}", end="", flush=True)
    print()
    stamp.write_text(f"{n} {w}x{h}")
    return time.perf_counter() - t0


def _cpu_s() -> float:
    """user + sys CPU seconds of this process and its reaped children (the import's pool workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _minflt() -> int:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_minflt + kids.ru_minflt


def bench_stages(folder: Path, sample: int) -> None:
    """CPU per pair of each stage of the import, timed stage by stage, pair by pair, in this process.

    Each pair goes through every stage before the next pair starts (as in a worker),
    so memory is reused the way the import reuses it.
    """
    import hashlib
    import io
    import pickle

    from PIL import Image

    from gentui.catalog import png_fast, thumbnails
    from gentui.catalog.db import open_catalog
    from gentui.catalog.importer import _Writer
    from gentui.catalog.normalize import normalize_sidecar
    from gentui.catalog.prepare import _keep_freed_memory, prepare
    from gentui.catalog.scan import scan
    from gentui.catalog.sidecar import read_sidecar

    thumbnails.tune_for_bulk()  # as in the import's worker processes
    _keep_freed_memory()
    t = time.process_time()
    cands = scan([str(folder)]).candidates
    stages: dict[str, float] = {"scan + stat (whole folder, per pair)": (time.process_time() - t) / len(cands)}
    cands = cands[:sample]
    n = len(cands)
    clock = time.process_time

    def step(name: str, fn: Any, *args: Any) -> Any:
        t0 = clock()
        out = fn(*args)
        stages[name] = stages.get(name, 0.0) + clock() - t0
        return out

    def jpeg(im: Image.Image) -> bytes:
        buf = io.BytesIO()
        im.save(buf, "JPEG", **thumbnails.JPEG_OPTIONS)
        return buf.getvalue()

    def resize(im: Image.Image) -> Image.Image:
        im.thumbnail((thumbnails.THUMB_SIZE, thumbnails.THUMB_SIZE), Image.Resampling.BILINEAR, reducing_gap=1.0)
        return im

    def pillow_decode(data: bytes) -> None:
        Image.open(io.BytesIO(data)).load()

    inflate = png_fast.zlib_ng.decompress if png_fast.available() else (lambda b: b)
    with tempfile.TemporaryDirectory(prefix="gentui-bench-") as tmp:
        preps = []
        for c in cands:
            data = step("read image file", Path(c.image).read_bytes)
            step("sha256", lambda d: hashlib.sha256(d).hexdigest(), data)
            step("(Pillow's own PNG decode, for comparison)", pillow_decode, data)
            idat = png_fast._chunks(data)[1] if png_fast.available() else b""
            step("  (zlib-ng inflate alone, part of the next)", inflate, idat)
            im = step("PNG decode (as the importer does it)",
                      lambda d: png_fast.decode_png(d) or Image.open(io.BytesIO(d)), data)
            im = step("thumbnail resize", resize, im)
            step("thumbnail JPEG encode", jpeg, im)
            side = step("sidecar read + JSON parse", read_sidecar, c.sidecar)
            step("normalise + flatten fields", normalize_sidecar, side)
            p = step("prepare() whole, thumbnail written", prepare, c, tmp)
            blob = step("pickle to parent", pickle.dumps, p, pickle.HIGHEST_PROTOCOL)
            preps.append(step("unpickle in parent", pickle.loads, blob))
        cat = open_catalog(Path(tmp) / "catalog.db")
        writer = _Writer(cat)
        t0 = clock()
        for lo in range(0, n, 500):
            writer.write(preps[lo : lo + 500], set(), None)
        stages["SQLite write (result + children)"] = clock() - t0
        writer.close()
        cat.close()
    print(f"    CPU ms per pair by stage ({n} pairs, one process, process_time):")
    for k, v in stages.items():
        print(f"      {k:<44} {v * 1000 / (1 if k.startswith('scan') else n):7.3f}")


def bench_import(n: int, w: int, h: int, noise: bool, stages: int, runs: int = 1) -> None:
    from gentui.catalog.db import open_catalog
    from gentui.catalog.importer import import_paths
    from gentui.catalog.query import count

    folder = pairs_folder(n, w, h, noise)
    gen = make_pairs(folder, n, w, h, noise)
    pngs = list(folder.rglob("*.png"))[:200]
    png_bytes = sum(p.stat().st_size for p in pngs) / len(pngs)
    kind = "noise-like (worst case)" if noise else "illustration-like (simulator renderer)"
    print(f"(a) import: {n:,} sidecar + PNG pairs, PNG {w}x{h} {kind}, average {png_bytes / 1024:,.1f} KB "
          f"({png_bytes:,.0f} bytes) per PNG" + (f", generated in {gen:.0f} s" if gen else ", reused from bench/out"))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    best = None
    for run in range(runs):
        with tempfile.TemporaryDirectory(prefix="gentui-bench-") as tmp:
            cat = open_catalog(Path(tmp) / "catalog.db")
            load0 = os.getloadavg()[0]
            c0, f0, t0 = _cpu_s(), _minflt(), time.perf_counter()
            report = import_paths(cat, [folder], Path(tmp) / "thumbs")
            dt, cpu, flt = time.perf_counter() - t0, _cpu_s() - c0, _minflt() - f0
            load1 = os.getloadavg()[0]
            thumbs = sum(1 for _ in (Path(tmp) / "thumbs").rglob("*") if _.is_file())
            got = count(cat, "")
            again = []  # the same folder again: unchanged pairs skipped by stat; then --rebuild (thumbnails cached)
            for rebuild in (False, True):
                c1, t1 = _cpu_s(), time.perf_counter()
                rep = import_paths(cat, [folder], Path(tmp) / "thumbs", rebuild=rebuild)
                again.append((time.perf_counter() - t1, _cpu_s() - c1, rep))
            cat.close()
        failed = len(getattr(report, "failed", []))
        per = cpu / n * 1000
        best = per if best is None else min(best, per)
        print(f"    run {run + 1}/{runs}: {got:,} results, {thumbs:,} thumbnails, {failed} failed; "
              f"load average {load0:.1f} -> {load1:.1f}")
        print(f"    wall {dt:.1f} s = {n / dt:,.0f} pairs/s with thumbnails (target >= 2,000/s)")
        print(f"    CPU (user+sys, this process + pool workers) {cpu:.1f} s = {per:.2f} ms per pair "
              f"-> {cores / per * 1000:,.0f} pairs/s on an idle {cores}-core machine; {flt / n:.0f} page faults per pair")
        for label, (t2, c2, rep) in zip(("re-import, unchanged (stat skip)", "--rebuild, thumbnails cached"), again):
            print(f"    {label}: {rep.skipped:,} skipped, {rep.updated:,} updated in {t2:.1f} s wall = {n / t2:,.0f} "
                  f"pairs/s; CPU {c2 / n * 1000:.2f} ms per pair -> {cores / (c2 / n):,.0f} pairs/s idle {cores}-core")
    if runs > 1:
        print(f"    best of {runs}: CPU {best:.2f} ms per pair -> {cores / best * 1000:,.0f} pairs/s on an idle "
              f"{cores}-core machine")
    if stages:
        bench_stages(folder, stages)
