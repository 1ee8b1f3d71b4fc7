"""TUI benchmark: the app headless (`App.run_test`) on a 1,000,000-result catalog.

Prints four figures with the size of the work. Not a test: run it by hand.

    python bench/tui.py                    # reuses bench/out/catalog-1000000.db (bench/catalog.py builds it)
    python bench/tui.py --results 50000    # a quick run on a smaller catalog of its own

(1) start to first frame: from constructing the App (catalog opened) until the
    table shows its first page of rows.
(2) a filter typed -> table updated: a whole query put in the filter bar, until
    the table shows the first page of the new result set and the frame is
    painted; p50/p95 over 20 queries typed `--rounds` times. (The preview
    follows a new filter's first row 0.12 s after typing pauses, by design,
    so it is not part of this figure; a cursor move updates it at once.)
    The same queries are then typed key by key into the focused bar (each key
    a new filter) and timed from the last key to the table showing the query.
(3) cursor moved -> preview updated: one `down`, until the preview shows the new
    result's facts and its thumbnail; measured on a second pass over rows whose
    thumbnails are cached (the catalog's image paths are synthetic, so each row
    is given one of a few real PNGs).
(4) peak RSS of the whole process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds scripts named like stdlib modules (queue.py): keep it off the import path
sys.path[:] = [x for x in sys.path if Path(x or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
KEY_GAP_S = 0.08
"""Between two keys when typing a query key by key (a fast typist: 150 words a minute)."""
QUERIES = [
    "w:0.6..0.8", "chars:3 layout:side_by_side", "tag:bleed", "w:none", "seed:1293127692,42",
    "char:Lily -tag:keeper", "feature:side_ponytail=migrated layout:depth", "named:yes w:1.0",
    "layout:cluster tag:keeper", '"blue ribbon"', "w:>=1.2", "status:done w:0.4",
    "w:0.6..0.8 chars:3 layout:side_by_side tag:bleed char:Lily feature:side_ponytail=migrated",
    "", "sweep:sweep-42", "field:extra.sampler_eta>=0.5 w:1.0", "-tag:bleed w:0.2", "chars:3",
    "layout:front_back named:no", "w:0.8",
]


def _rows(path: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        n = con.execute("SELECT max(id) FROM result").fetchone()[0] or 0
        idx = con.execute("SELECT count(*) FROM sqlite_master WHERE type='index'").fetchone()[0]
        con.close()
        return n if idx > 10 else 0
    except sqlite3.Error:
        return 0


def catalog_for(n: int) -> Path:
    for shared in (OUT / f"catalog-{n}.db", OUT / "raw-1m.db"):  # bench/catalog.py's, if built
        if _rows(shared) >= n:
            return shared
    from bench.catalog import build_catalog

    path = OUT / f"tui-{n}.db"
    if _rows(path) < n:
        OUT.mkdir(parents=True, exist_ok=True)
        print(f"building {path} with {n:,} results ...")
        build_catalog(path, n)
    return path


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def until(predicate, timeout: float = 30.0, state=None) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the app did not get there in time" + (f": {state()}" if state else ""))
        await asyncio.sleep(0.0005)


async def run(catalog_path: Path, moves: int, verbose: bool = False, rounds: int = 3) -> dict[str, float]:
    from PIL import Image

    import gentui.tui.data.details as details_mod
    from textual import events
    from textual.keys import _character_to_key

    from gentui.config import settings_from_dict
    from gentui.tui.app import GentuiApp
    from gentui.tui.data import images
    from gentui.tui.widgets.filter_bar import FilterBar
    from gentui.tui.widgets.preview import Preview
    from gentui.tui.widgets.results_table import ResultsTable

    tmp = Path(tempfile.mkdtemp(prefix="gentui-bench-"))
    pngs = []
    for i in range(8):
        png = tmp / f"thumb{i}.png"
        Image.new("RGB", (256, 222), (30 * i, 200 - 20 * i, 120)).save(png)
        pngs.append(str(png))
    details_mod.thumb_for = lambda result, _dir: pngs[int(result.id or 0) % len(pngs)]  # synthetic paths
    images.force_protocol("halfblock")
    settings = settings_from_dict({"paths": {"data_dir": str(tmp), "catalog": str(catalog_path)},
                                   "tui": {"image_protocol": "halfblock"}})
    figures: dict[str, float] = {}
    t0 = time.perf_counter()
    app = GentuiApp(settings, start_worker=False, health_interval=0, poll_interval=0.5)
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.screen.query_one(ResultsTable)
        await until(lambda: table._shown >= 0 and table.row is not None)
        await pilot.pause(0)
        figures["first_frame_s"] = time.perf_counter() - t0
        await until(lambda: table.total is not None, 60)
        figures["rows"] = table.total or 0

        bar = app.screen.query_one(FilterBar)
        filter_ms = []
        for q in QUERIES * rounds:
            t = time.perf_counter()
            bar.query_one("#filter-input").value = q
            await until(lambda: table._shown == table._generation and table.flt.text == q)
            await pilot.pause(0)
            filter_ms.append((time.perf_counter() - t) * 1000)
            if verbose:
                print(f"  {filter_ms[-1]:7.1f} ms  {q!r}", flush=True)
        figures["filter_p50_ms"] = statistics.median(filter_ms)
        figures["filter_p95_ms"] = p(filter_ms, 0.95)
        figures["filter_max_ms"] = max(filter_ms)

        # the same, typed one key at a time into the focused bar, KEY_GAP_S apart, as the
        # terminal driver delivers keys: every key is a new filter (typing past slow
        # ones); timed from the last key until the table shows the whole query
        typed_ms = []
        await pilot.press("slash")
        for q in [q for q in QUERIES if q] * rounds:
            await pilot.press("end", "ctrl+u")
            for i, ch in enumerate(q):
                if i:
                    await asyncio.sleep(KEY_GAP_S)
                t = time.perf_counter()
                app._driver.send_message(events.Key(ch if ch.isalnum() else _character_to_key(ch), ch))
            await until(lambda: table._shown == table._generation and table.flt.text == q,
                        state=lambda: (q, bar.text, table.flt.text))
            await pilot.pause(0)
            typed_ms.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.3)
        figures["typed_p50_ms"] = statistics.median(typed_ms)
        figures["typed_p95_ms"] = p(typed_ms, 0.95)
        figures["typed_n"] = len(typed_ms)
        await pilot.press("escape")

        bar.query_one("#filter-input").value = ""
        await until(lambda: table._shown == table._generation and table.flt.text == "")
        table.focus()
        preview = app.screen.query_one(Preview)
        thumb = preview.query_one("Thumbnail")

        async def walk(n: int) -> list[float]:
            out = []
            for _ in range(n):
                want = table.cursor + 1
                t = time.perf_counter()
                app.simulate_key("down")  # as the terminal driver delivers it
                await until(timeout=10, predicate=lambda: table.cursor == want and table.row is not None
                            and preview.details is not None and preview.details.id == table.row.id
                            and thumb.rendered_key is not None and thumb.rendered_key[0] == preview.details.thumb_path,
                            state=lambda: (table.cursor, want, app.focused, preview.details and preview.details.id,
                                           table.row and table.row.id, thumb.rendered_key))
                out.append((time.perf_counter() - t) * 1000)
            return out

        await walk(moves)  # warm: details and thumbnails into their caches
        await pilot.press("home")
        await until(lambda: table.cursor == 0)
        cursor_ms = await walk(moves)
        figures["cursor_p50_ms"] = statistics.median(cursor_ms)
        figures["cursor_p95_ms"] = p(cursor_ms, 0.95)
        await pilot.press("end")
        t = time.perf_counter()
        try:
            await until(lambda: table.row is not None and table.cursor == (table.total or 1) - 1, 20)
        except TimeoutError:
            print("END", table.cursor, table.total, table.row, app.focused, table._shown, table._generation, table._inflight)
            raise
        figures["jump_to_end_ms"] = (time.perf_counter() - t) * 1000
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def main() -> int:
    if os.environ.get("GENTUI_BENCH_TRACE"):
        import faulthandler

        faulthandler.dump_traceback_later(float(os.environ["GENTUI_BENCH_TRACE"]), exit=True)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=int, default=1_000_000)
    ap.add_argument("--moves", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3, help="times the list of queries is typed")
    ap.add_argument("-v", action="store_true", help="print each step")
    args = ap.parse_args()
    path = catalog_for(args.results)
    print(f"catalog {path} ({path.stat().st_size / 1e9:.2f} GB)")
    f = asyncio.run(run(path, args.moves, args.v, args.rounds))
    print(f"results in catalog            {int(f['rows']):,}")
    print(f"start -> first frame          {f['first_frame_s']:.2f} s   (target <= 1.0 s)")
    print(f"filter typed -> table updated p50 {f['filter_p50_ms']:.0f} ms  p95 {f['filter_p95_ms']:.0f} ms  "
          f"max {f['filter_max_ms']:.0f} ms over {len(QUERIES) * args.rounds} filters   (target p95 <= 100 ms)")
    print(f"  typed key by key, {KEY_GAP_S * 1000:.0f} ms apart: last key -> table updated p50 {f['typed_p50_ms']:.0f} ms  "
          f"p95 {f['typed_p95_ms']:.0f} ms over {int(f['typed_n'])} queries")
    print(f"cursor moved -> preview       p50 {f['cursor_p50_ms']:.1f} ms  p95 {f['cursor_p95_ms']:.1f} ms "
          f"over {args.moves} moves, thumbnails cached   (target p95 <= 50 ms)")
    print(f"jump to the last row          {f['jump_to_end_ms']:.0f} ms")
    print(f"peak memory (RSS)             {f['peak_rss_mb']:.0f} MB   (target <= 250 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
