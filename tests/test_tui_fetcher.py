"""The results table's fetcher threads: stale generations are skipped, answers come back."""

from __future__ import annotations

import threading

from query_fixtures import small_catalog

from gentui.tui.data.fetcher import Request, ResultFetcher
from gentui.tui.data.results import ResultSource


def test_only_the_current_generation_is_fetched_and_counted(tmp_path):
    cat, _ids = small_catalog(tmp_path)
    source = ResultSource(cat)
    generation = [1]
    got: list[tuple] = []
    done = threading.Semaphore(0)

    def on_page(req, rows):
        got.append(("page", req.generation, len(rows)))
        done.release()

    def on_count(req, total):
        got.append(("count", req.generation, total))
        done.release()

    fetcher = ResultFetcher(source, lambda: generation[0], on_page, on_count,
                            lambda req, err: got.append(("error", req.generation, err)))
    fetcher.start()
    try:
        everything = source.parse("")
        generation[0] = 2  # generation 1 is stale before its requests are read
        fetcher.page(Request(1, everything))
        fetcher.count(Request(1, everything))
        fetcher.page(Request(2, source.parse("w:0.8")))
        fetcher.count(Request(2, source.parse("w:0.8")))
        assert done.acquire(timeout=10) and done.acquire(timeout=10)  # one page, one count
        assert ("page", 2, 1) in got and ("count", 2, 1) in got
        assert not [g for g in got if g[1] == 1]
    finally:
        fetcher.stop()
        cat.close()
