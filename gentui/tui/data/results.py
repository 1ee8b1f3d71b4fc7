"""The results table's window onto the catalog: parse, count and fetch pages.

Every method here blocks on SQLite, so the widgets call them from thread
workers only. The query language itself lives in `gentui.catalog.query`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gentui.catalog.db import Catalog

PAGE_SIZE = 100
"""Rows fetched per round trip; a page is the unit of the table's LRU cache."""

SORT_FIELDS = {
    "created": "created_at",
    "id": "id",
    "seed": "seed",
    "weight": "weight",
    "layout": "layout",
    "chars": "chars",
    "rating": "rating",
    "status": "status",
}
"""Table column -> sort name understood by `query.search`."""


@dataclass(frozen=True)
class ParsedFilter:
    """A filter the user typed, parsed (or the empty filter)."""

    text: str
    query: Any


class ResultSource:
    """Parse filters and fetch counted pages of results for one catalog."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    @staticmethod
    def parse(text: str) -> ParsedFilter:
        """Parse `text` with the query language; raises `QueryError` on mistakes."""
        from gentui.catalog.query import parse_query

        return ParsedFilter(text, parse_query(text))

    def page(self, flt: ParsedFilter, sort: str, descending: bool, page_no: int,
             should_stop: Callable[[], bool] | None = None) -> list[Any]:
        """Rows `page_no * PAGE_SIZE ...` of the filtered, sorted results.

        `query.search` picks between walking the sort index and driving from the
        filter's most selective index, so a broad filter over a million results
        still returns its first page in milliseconds. `should_stop()` turning
        true raises `SearchCancelled` (the user typed past this filter).
        """
        from gentui.catalog.query import search

        return search(self.catalog, flt.query, sort=SORT_FIELDS.get(sort, sort), descending=descending,
                      limit=PAGE_SIZE, offset=page_no * PAGE_SIZE, should_stop=should_stop)

    def count(self, flt: ParsedFilter, on_connection: Any = None) -> int:
        """How many results match; `on_connection(raw)` gets the sqlite3 connection
        first, so a newer filter can interrupt a count nobody needs any more."""
        from gentui.catalog.query import count_statement

        stmt = count_statement(flt.query)  # counts a tag/char/feature-only query from its index
        with self.catalog.engine.connect() as conn:
            if on_connection is not None:
                on_connection(conn.connection.dbapi_connection)
            try:
                return int(conn.execute(stmt).scalar_one())
            finally:
                if on_connection is not None:
                    on_connection(None)
