"""The results table's window onto the catalog: parse, count and fetch pages.

Every method here blocks on SQLite, so the widgets call them from thread
workers only. The query language itself lives in `gentui.catalog.query`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from gentui.catalog.db import Catalog

TAG_SEP = "\x1f"
PAGE_SIZE = 100
"""Rows fetched per round trip; a page is the unit of the table's LRU cache."""
WINDOWS = (2_000, 20_000)
"""How many of the first rows in sort order are searched before the filter's indexes are used."""

SORT_FIELDS = {
    "created": "created_at",
    "id": "id",
    "seed": "seed",
    "weight": "lora_strength",
    "layout": "layout",
    "chars": "n_characters",
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

    def page(self, flt: ParsedFilter, sort: str, descending: bool, page_no: int) -> list[Any]:
        """Rows `page_no * PAGE_SIZE ...` of the filtered, sorted results.

        The page's ids come first (see `page_ids`), then the full rows with
        their tags for those ids alone.
        """
        from sqlalchemy import func, select

        from gentui.catalog.models import Result, Tag
        from gentui.catalog.query import ResultRow

        ids = self.page_ids(flt, sort, descending, page_no)
        if not ids:
            return []
        R, T = Result.__table__, Tag.__table__
        tags = (select(func.group_concat(T.c.tag, TAG_SEP)).where(T.c.result_id == R.c.id)
                .correlate(R).scalar_subquery().label("tags"))
        stmt = select(R, tags).where(R.c.id.in_(ids))
        with self.catalog.engine.connect() as conn:
            rows = {}
            for m in conn.execute(stmt).mappings():
                data = dict(m)
                tag_text = data.pop("tags", None)
                created = data.get("created_at")
                if isinstance(created, datetime) and created.tzinfo is None:
                    data["created_at"] = created.replace(tzinfo=timezone.utc)
                rows[data["id"]] = ResultRow(**data, tags=sorted(tag_text.split(TAG_SEP)) if tag_text else [])
        return [rows[i] for i in ids if i in rows]

    def page_ids(self, flt: ParsedFilter, sort: str, descending: bool, page_no: int) -> list[int]:
        """Ids of one page, found the cheap way for the filter at hand.

        Sorting every match of a broad filter (`chars:3` matches a million rows)
        takes seconds. The newest WINDOWS[0] rows, walked in sort order through
        the sort column's index, usually hold the first pages already; when they
        hold too few matches, a wider window or the filter's own indexes (a
        selective filter has few matches to sort) take over. All three give the
        same order: the window is a prefix of the full sort.
        """
        from sqlalchemy import select
        from sqlalchemy.sql.util import ClauseAdapter

        from gentui.catalog.models import Result
        from gentui.catalog.query import SORT_KEYS, where_clause

        R = Result.__table__
        key = SORT_FIELDS.get(sort, sort)
        need = (page_no + 1) * PAGE_SIZE
        where = where_clause(flt.query)

        def order(table: Any) -> list[Any]:
            col, rid = table.c[SORT_KEYS[key].name], table.c.id
            return [col.desc(), rid.desc()] if descending else [col.asc(), rid.asc()]

        with self.catalog.engine.connect() as conn:
            if getattr(flt.query, "terms", None) and need <= WINDOWS[0] // 4:
                found, prev = 0, 1
                for width in WINDOWS:
                    if width != WINDOWS[0] and found * width / prev < need:
                        break  # too sparse: the filter's indexes will do better
                    recent = select(R).order_by(*order(R)).limit(width).subquery("recent")
                    stmt = (select(recent.c.id).where(ClauseAdapter(recent).traverse(where))
                            .order_by(*order(recent)).limit(need))
                    got = [r[0] for r in conn.execute(stmt)]
                    if len(got) >= need:
                        return got[need - PAGE_SIZE:need]
                    found, prev = len(got), width
            stmt = (select(R.c.id).where(where).order_by(*order(R))
                    .limit(PAGE_SIZE).offset(page_no * PAGE_SIZE))
            return [r[0] for r in conn.execute(stmt)]

    def count(self, flt: ParsedFilter, on_connection: Any = None) -> int:
        """How many results match; `on_connection(raw)` gets the sqlite3 connection
        first, so a newer filter can interrupt a count nobody needs any more."""
        from sqlalchemy import func, select

        from gentui.catalog.models import Result
        from gentui.catalog.query import where_clause

        stmt = select(func.count()).select_from(Result.__table__).where(where_clause(flt.query))
        with self.catalog.engine.connect() as conn:
            if on_connection is not None:
                on_connection(conn.connection.dbapi_connection)
            try:
                return int(conn.execute(stmt).scalar_one())
            finally:
                if on_connection is not None:
                    on_connection(None)
