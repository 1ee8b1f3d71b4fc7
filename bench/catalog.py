"""Catalog benchmark: import speed, query latency on 1M results, memory of `gentui query`.

Prints its figures with the size of the work. Not a test: run it by hand.

    python bench/catalog.py                       # full size: 20,000 pairs, 1,000,000 results
    python bench/catalog.py --pairs 2000 --results 50000   # a quick run

(a) writes N genserver-style sidecar + PNG pairs (256 distinct pixel sets, each file
    unique bytes; illustration-like 888x768 by default, `--noise` for the worst case)
    to bench/out/ (cached) and imports them into a fresh catalog through
    `gentui.catalog.importer.import_paths` (the code path of `gentui import`),
    thumbnails included; wall and CPU time, CPU per stage (bench/catalog_import.py).
(b) bulk-inserts a catalog of N results with raw `executemany` (3 characters, 2
    annotations, ~0.4 tags and FIELD_KEYS field_value rows per result) into
    bench/out/ (cached: reruns reuse it), then times queries: p50/p95 over runs.
(c) runs `gentui query` on that catalog in a subprocess and reports its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# run as `python bench/catalog.py`: bench/ must not shadow the standard library (bench/queue.py)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
NAMES = ["Lily", "Reina", "Kanachan", "Mio", "Aoi", "Hana", "Yui", "Sora", "Rin", "Emi", "Nao", "Kei"]
LAYOUTS = ["side_by_side", "cluster", "depth", "front_back"]
WEIGHTS = [None, 0.0, 0.2, 0.4, 0.2 * 3, 0.8, 1.0, 1.2, 1.4]  # 0.2 * 3 is 0.6000000000000001
FEATURES = ["side_ponytail", "ahoge", "scrunchie_color", "hair_color", "ribbon", "eye_color"]
OUTCOMES = ["present"] * 8 + ["missing"] * 3 + ["migrated"] * 3 + ["duplicated"] * 2 + ["color_drift"] * 2 + ["collapse", "artifact"]
SLOTS = ["left", "middle", "right"]
FIELD_KEYS = 20
SWEEP_SIZE = 40  # 5 seeds x 8 weights, one layout / model / named per sweep
TARGET_QUERY = "w:0.6..0.8 chars:3 layout:side_by_side tag:bleed char:Lily feature:side_ponytail=migrated"
OTHER_QUERIES = [
    "",
    "tag:bleed",
    "w:none",
    "seed:1293127692,42",
    "char:lily -tag:keeper",
    "feature:side_ponytail=migrated layout:depth",
    "field:extra.sampler_eta>=0.5 w:1.0",
    "date:2026-03 named:no",
    '"blue ribbon"',
    "tag:bleed -feature:ahoge",
    "status:done w:0.4",
]


def _fmt_dt(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def build_catalog(path: Path, n: int, seed: int = 7) -> None:
    """Bulk-insert n results (the importer's row shapes) with raw executemany."""
    from gentui.catalog.db import open_catalog
    from gentui.catalog.sidecar import normalize_weight

    if path.exists():
        path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    open_catalog(path).close()
    rng = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    tables = ("result", "character", "annotation", "tag", "field_value")
    indexes = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL AND tbl_name IN (%s)"
        % ",".join("?" * len(tables)), tables).fetchall()
    for name, _sql in indexes:
        con.execute(f"DROP INDEX {name}")
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    t0 = time.perf_counter()
    batch = 20_000
    rid = 0
    prompt_words = ["blue ribbon", "red scarf", "school uniform", "sailor collar", "white dress", "hoodie"]
    while rid < n:
        results, chars, anns, tags, fields = [], [], [], [], []
        for _ in range(min(batch, n - rid)):
            rid += 1
            sweep = (rid - 1) // SWEEP_SIZE
            srng = random.Random(sweep * 7919 + seed)
            layout = srng.choice(LAYOUTS)
            named = srng.random() < 0.5
            model = srng.choice(["anima-base-v1.0.safetensors", "waiIllustriousSDXL_v150.safetensors"])
            names = srng.sample(NAMES, 3)
            w_raw = WEIGHTS[(rid - 1) % len(WEIGHTS)]
            w = normalize_weight(w_raw)
            seed_v = 1293127692 if (rid // len(WEIGHTS)) % 50 == 0 else srng.randrange(2**32)
            created = start + timedelta(seconds=rid * 30)
            clothing = rng.choice(prompt_words)
            prompt = json.dumps({f"{s}_character": {"name": nm if named else None, "appearance": clothing}
                                 for s, nm in zip(SLOTS, names)})
            results.append((rid, f"/data/out/sweep{sweep:06d}/img_{rid:07d}.png", _fmt_dt(created), "comfyui",
                            "anima", model, seed_v, 888, 768, 8, 1.0, "er_sde", "simple", w is not None,
                            "kanachan-v4.safetensors", w, 3, layout, named, 12.5, f"sweep-{sweep}", "done",
                            prompt, prompt))
            for i, (slot, nm) in enumerate(zip(SLOTS, names)):
                chars.append((rid, i, slot, nm, f"{nm} ({clothing})", slot))
            for slot in rng.sample(SLOTS, 2):
                out = rng.choice(OUTCOMES)
                target = rng.choice([s for s in SLOTS if s != slot]) if out in ("migrated", "duplicated") else None
                anns.append((rid, slot, rng.choice(FEATURES), out, target, "orange" if out == "color_drift" else None,
                             "user", _fmt_dt(created)))
            r = rng.random()
            if r < 0.25:
                tags.append(("bleed", rid))
            if 0.2 < r < 0.3:
                tags.append(("keeper", rid))
            if r > 0.95:
                tags.append(("collapse", rid))
            fv = [("seed", seed_v, None), ("width", 888, None), ("height", 768, None), ("steps", 8, None),
                  ("cfg", 1.0, None), ("lora_strength", w, None), ("model", None, model),
                  ("workflow", None, "anima"), ("layout", None, layout), ("sampler", None, "er_sde"),
                  ("extra.sampler_eta", round(rng.random(), 3), None), ("elapsed_s", 12.5, None)]
            fv += [(f"characters.{i}.name", None, nm) for i, nm in enumerate(names)]
            fv += [(f"characters.{i}.slot", None, s) for i, s in enumerate(SLOTS)]
            fv += [("use_lora", 1 if w is not None else 0, "true" if w is not None else "false"),
                   ("named", 1 if named else 0, "true" if named else "false")]
            fields.extend((rid, k, num, txt) for k, num, txt in fv[:FIELD_KEYS])
        con.executemany(
            "INSERT INTO result (id, path, created_at, backend, workflow, model, seed, width, height, steps, cfg, "
            "sampler, scheduler, use_lora, lora_name, lora_strength, n_characters, layout, named, elapsed_s, "
            "sweep_name, status, prompt_src, prompt_en) VALUES (%s)" % ",".join("?" * 24), results)
        con.executemany("INSERT INTO character (result_id, idx, slot, name, identity, position, has_trigger) "
                        "VALUES (?,?,?,?,?,?,0)", chars)
        con.executemany("INSERT INTO annotation (result_id, slot, feature, outcome, target, color, author, created_at) "
                        "VALUES (?,?,?,?,?,?,?,?)", anns)
        con.executemany("INSERT INTO tag (tag, result_id) VALUES (?,?)", tags)
        con.executemany("INSERT INTO field_value (result_id, key, num, text) VALUES (?,?,?,?)", fields)
        con.commit()
        print(f"\r  inserted {rid:,}/{n:,} results ({time.perf_counter() - t0:.0f} s)", end="", flush=True)
    print()
    t1 = time.perf_counter()
    for _name, sql in indexes:
        con.execute(sql)
    con.commit()
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    print(f"  indexes built in {time.perf_counter() - t1:.0f} s; file {path.stat().st_size / 1e9:.2f} GB")


# ---------------------------------------------------------------- (b) queries
def ensure_catalog(n: int) -> Path:
    """The cached n-result catalog in bench/out (built once; missing new indexes added on open)."""
    from gentui.catalog.db import open_catalog

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"catalog-{n}.db"
    have = 0
    if path.exists():
        try:
            con = sqlite3.connect(path)
            have = con.execute("SELECT count(*) FROM result").fetchone()[0]
            con.close()
        except sqlite3.Error:
            have = 0
    if have != n:
        print(f"  building a {n:,}-result catalog in {path} (cached for reruns)")
        build_catalog(path, n)
    t0 = time.perf_counter()
    open_catalog(path).close()  # adds any index the models gained since the cache was built
    if time.perf_counter() - t0 > 1:
        print(f"  added new indexes to the cached catalog in {time.perf_counter() - t0:.0f} s")
    return path


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))]


def _timed(fn: Any, runs: int) -> tuple[float, float, float, float, Any]:
    """Wall p50/p95 and CPU-time p50/p95 (ms): CPU time shows what an idle machine would see."""
    fn()  # warm-up, not counted
    wall, cpu, out = [], [], None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), _pct(wall, 95), statistics.median(cpu), _pct(cpu, 95), out


def bench_queries(path: Path, runs: int) -> None:
    from gentui.catalog.db import open_catalog
    from gentui.catalog.query import count, search

    con = sqlite3.connect(path)
    sizes = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
             for t in ("result", "character", "annotation", "tag", "field_value")}
    con.close()
    print(f"(b) queries on {path.name} ({path.stat().st_size / 1e9:.2f} GB): "
          + ", ".join(f"{v:,} {k}" for k, v in sizes.items()) + f"; p50/p95 over {runs} runs after a warm-up")
    cat = open_catalog(path)
    print(f"    load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; wall ms (cpu ms)")
    for i, q in enumerate([TARGET_QUERY] + OTHER_QUERIES):
        s50, s95, sc50, sc95, rows = _timed(lambda: search(cat, q, limit=100), runs)
        c50, c95, cc50, cc95, n = _timed(lambda: count(cat, q), runs if i == 0 else max(5, runs // 4))
        tgt = "  (targets: p95 <= 50 / <= 200 ms)" if i == 0 else ""
        print(f"    {q or '(everything)'!s:<92} first {len(rows):>3}: p50 {s50:5.0f} ({sc50:4.0f}) p95 {s95:5.0f} ({sc95:4.0f})"
              f" | count {n:>9,}: p50 {c50:5.0f} ({cc50:5.0f}) p95 {c95:5.0f} ({cc95:5.0f}){tgt}")
    cat.close()


# ---------------------------------------------------------------- (c) memory
_LAUNCHER = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out, err = p.communicate()
_pid, status, usage = os.wait4(p.pid, 0) if p.returncode is None else (p.pid, 0, None)
print(p.returncode, len(out.splitlines()), err[:200].decode(errors="replace").replace(chr(10), " "))
"""


def bench_rss(path: Path) -> None:
    """Peak RSS of `gentui query` runs, each started from a tiny launcher process.

    A child forked from this (large) benchmark process would count the parent's
    pages as its own before exec; the launcher is small, and RUSAGE_CHILDREN
    of the launcher is the query process's peak.
    """
    with tempfile.TemporaryDirectory(prefix="gentui-bench-") as tmp:
        cfg = Path(tmp) / "config.toml"
        cfg.write_text(f'[paths]\ncatalog = "{path}"\ndata_dir = "{tmp}"\n')
        env = dict(os.environ, GENTUI_HOME=tmp, PYTHONPATH=str(ROOT))
        peak = 0.0
        for extra in ([], ["--count"], ["--format", "json"], ["--limit", "0", "--format", "csv"]):
            argv = [sys.executable, "-m", "gentui.cli", "--config", str(cfg), "query", TARGET_QUERY, *extra]
            probe = ("import resource, runpy, sys; sys.argv = ['x'] + sys.argv[1:]; "
                     "exec(sys.stdin.read()); "
                     "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-c", probe, *argv], input=_LAUNCHER, capture_output=True,
                                 text=True, env=env)
            dt = time.perf_counter() - t0
            lines = res.stdout.splitlines()
            code, n_lines, err = lines[0].split(" ", 2) if lines else ("?", "?", res.stderr[-200:])
            rss = int(lines[1]) / 1024 if len(lines) > 1 else float("nan")
            peak = max(peak, rss)
            print(f"    gentui query ... {' '.join(extra):<28} exit {code}, {n_lines} lines, {dt:.2f} s wall, "
                  f"peak RSS {rss:.0f} MB" + (f"  stderr: {err}" if code != "0" else ""))
        print(f"(c) peak RSS of `gentui query` on {path.name}: {peak:.0f} MB (target <= 150 MB)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=20_000, help="sidecar + PNG pairs to import (0 skips)")
    ap.add_argument("--png-size", default="888x768", help="PNG size WxH (default 888x768, the workflows' default)")
    ap.add_argument("--noise", action="store_true", help="noise-like PNGs (worst case) instead of illustration-like")
    ap.add_argument("--stages", type=int, default=300, metavar="N",
                    help="after the import, CPU per pair of each stage on N pairs (0 skips)")
    ap.add_argument("--import-runs", type=int, default=1, metavar="K",
                    help="fresh imports to time (the best CPU figure is the closest to an idle machine)")
    ap.add_argument("--results", type=int, default=1_000_000, help="results in the query catalog (0 skips)")
    ap.add_argument("--runs", type=int, default=30, help="timed runs per query (>= 20 for p95)")
    args = ap.parse_args()
    print(f"gentui catalog benchmark: python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, "
          f"{os.cpu_count()} cores")
    if args.results:
        path = ensure_catalog(args.results)
        bench_queries(path, args.runs)
        bench_rss(path)
    if args.pairs:
        w, h = (int(x) for x in args.png_size.lower().split("x"))
        from bench.catalog_import import bench_import

        bench_import(args.pairs, w, h, args.noise, args.stages, args.import_runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
