"""The two threads behind the results table: one fetches pages, one counts.

Each filter, sort or reload is a new *generation*. Requests of an older
generation are skipped when they come off the queue, a page query already
running for one is abandoned (`SearchCancelled`), and a running count is
interrupted, so typing fast never builds a backlog of stale queries. Answers
go back through callbacks (the table posts them as messages); nothing here
touches a widget.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gentui.catalog.query import SearchCancelled
from gentui.tui.data.results import ParsedFilter, ResultSource


@dataclass
class Request:
    """One page (or the count) of one generation's filter and sort."""

    generation: int
    flt: ParsedFilter
    sort: str = "created"
    descending: bool = True
    page_no: int = 0


class ResultFetcher:
    """Page and count threads for one `ResultSource`.

    `current()` returns the generation the table wants now; `on_page(req, rows)`,
    `on_count(req, total)` and `on_error(req, text)` are called from the threads.
    """

    def __init__(self, source: ResultSource, current: Callable[[], int],
                 on_page: Callable[[Request, list[Any]], None], on_count: Callable[[Request, int], None],
                 on_error: Callable[[Request, str], None]):
        self.source = source
        self._current = current
        self._on_page, self._on_count, self._on_error = on_page, on_count, on_error
        self._pages: queue.Queue[Request | None] = queue.Queue()
        self._counts: queue.Queue[Request | None] = queue.Queue()
        self._count_conn: Any = None
        """The sqlite3 connection of the running count (interrupted by a newer generation)."""
        self._threads = [threading.Thread(target=self._page_loop, name="results-pages", daemon=True),
                         threading.Thread(target=self._count_loop, name="results-count", daemon=True)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Let both threads finish (they drop whatever they were asked for)."""
        self._pages.put(None)
        self._counts.put(None)
        self.interrupt_count()

    def page(self, req: Request) -> None:
        self._pages.put(req)

    def count(self, req: Request) -> None:
        self._counts.put(req)

    def interrupt_count(self) -> None:
        """Stop a running count (its filter is no longer shown)."""
        conn = self._count_conn
        if conn is not None:
            try:
                conn.interrupt()
            except Exception:  # closed meanwhile: nothing left to stop
                pass

    def _page_loop(self) -> None:
        while (req := self._pages.get()) is not None:
            if req.generation != self._current():
                continue
            try:
                rows = self.source.page(req.flt, req.sort, req.descending, req.page_no,
                                        should_stop=lambda req=req: req.generation != self._current())
            except SearchCancelled:  # typed past it: the newer filter's request is next in the queue
                continue
            except Exception as e:  # shown, never fatal: the filter bar stays usable
                self._on_error(req, str(e))
                continue
            self._on_page(req, rows)

    def _set_count_conn(self, conn: Any) -> None:
        self._count_conn = conn

    def _count_loop(self) -> None:
        while (req := self._counts.get()) is not None:
            while True:  # only the newest count matters
                try:
                    newer = self._counts.get_nowait()
                except queue.Empty:
                    break
                if newer is None:
                    return
                req = newer
            if req.generation != self._current():
                continue
            try:
                total = self.source.count(req.flt, self._set_count_conn)
            except Exception as e:  # interrupted (stale) or a locked catalog
                if req.generation == self._current():
                    self._on_error(req, str(e))
                continue
            self._on_count(req, total)
