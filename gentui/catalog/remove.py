"""Removing results from the catalog (their characters, annotations, tags and fields go with them)."""

from __future__ import annotations

from collections.abc import Iterable

from gentui.catalog.db import Catalog


def remove_results(catalog: Catalog, ids: Iterable[int]) -> int:
    """Delete these result rows (and, by cascade, their child rows); returns how many went."""
    ids = [int(i) for i in ids]
    if not ids:
        return 0
    conn = catalog.connect()
    try:
        conn.execute("BEGIN IMMEDIATE")
        n = conn.execute(f"DELETE FROM result WHERE id IN ({', '.join('?' for _ in ids)})", ids).rowcount
        conn.execute("COMMIT")
        return n
    finally:
        conn.close()
