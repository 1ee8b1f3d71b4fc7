"""Which of `search`'s two plans to try first, from rough selectivity guesses.

SQLite keeps no statistics here (ANALYZE over a multi-GB catalog takes
minutes and can flip carefully chosen plans), so it cannot tell whether
walking the sort index (good when matches are common) or driving from the
most selective index (good when they are rare) is cheaper. This module
guesses each term's share of the catalog from what the key usually selects
and turns the product into an expected cost of each plan, in SQLite VM steps.
A wrong guess costs time, never rows: every plan runs under a step budget,
and the last one runs unbounded.
"""

from __future__ import annotations

from gentui.catalog.query_parser import Eq, Glob, IsNone, Query, Range, Term

_EQ_SHARE = {
    # a single value of a low-cardinality column
    "layout": 0.25, "named": 0.5, "status": 0.9, "chars": 0.5, "model": 0.3, "backend": 0.5,
    "workflow": 0.5, "steps": 0.3, "cfg": 0.3, "sampler": 0.3, "scheduler": 0.3, "lora": 0.5,
    "variant": 0.3, "size": 0.5, "rating": 0.1, "weight": 0.1, "tag": 0.2, "char": 0.25,
    "outcome": 0.2, "field": 0.1, "text": 0.3,
    # near-unique columns
    "seed": 0.001, "id": 1e-6, "job": 1e-4, "sweep": 1e-3, "date": 0.01,
}
_RANGE_SHARE = 0.3
_SCAN_STEPS_PER_ROW = 20
"""A walk of the sort index tests each row for about this many VM steps."""
_DRIVE_STEPS_PER_ROW = 10
"""Driving from an index: reading, probing and sorting, per row of the driving set."""
SCAN_PROBE = 20_000
"""When driving looks cheaper, a short walk first still catches a guess that was far off."""
MIN_SCAN_BUDGET = 60_000
DRIVE_BUDGET = 2_000_000


def _cond_share(key: str, cond: object) -> float:
    if isinstance(cond, Eq):
        return _EQ_SHARE.get(key, 0.3)
    if isinstance(cond, IsNone):
        return 0.1
    if isinstance(cond, (Range, Glob)):
        return 0.1 if key == "date" else _RANGE_SHARE
    return _EQ_SHARE.get(key, 0.3)


def term_share(term: Term) -> float:
    """Guessed share of the catalog matching one term."""
    if term.key == "feature":
        share = 0.3 if term.path in (None, "*") or "*" in (term.path or "") else 0.2
        if term.conds:
            share *= min(1.0, sum(_EQ_SHARE["outcome"] if isinstance(c, Eq) else 0.5 for c in term.conds))
    elif not term.conds:
        share = 0.5  # a bare `field:PATH` (has the field)
    else:
        share = min(1.0, sum(_cond_share(term.key, c) for c in term.conds))
    return max(0.5, 1.0 - share) if term.negated else share


def driver_term(q: Query) -> Term | None:
    """The positive term guessed to match the fewest rows (what a driven plan starts from)."""
    positive = [t for t in q.terms if not t.negated and t.key != "text"]
    return min(positive, key=term_share, default=None)


def probe_cap(term: Term, n_rows: int) -> int:
    """How many rows of `term` are worth counting to check its guessed share.

    Twenty times the guess (at least 2,000, at most 100,000 index entries,
    about a millisecond): enough to see that `seed:42` matches 2% of a
    catalog, not the 0.1% a seed usually does.
    """
    return int(max(2_000, min(100_000, 20 * term_share(term) * max(1, n_rows))))


def plan_order(q: Query, n_rows: int, limit: int, offset: int,
               driver_rows: int | None = None) -> tuple[tuple[str, int | None], ...]:
    """The plans to try and their step budgets, cheapest expected first.

    `driver_rows`, when known (counted up to `probe_cap`), replaces the guess
    for the driving term, and scales the guessed share of the whole query.
    """
    shares = [term_share(t) for t in q.terms]
    share = 1.0
    for s in shares:
        share *= s
    wanted = limit + offset
    n = max(1, n_rows)
    term = driver_term(q)
    driver = term_share(term) if term is not None else 1.0
    if driver_rows is not None and term is not None:
        known = max(driver_rows, 1) / n
        share = min(1.0, share * known / driver)
        driver = known
    scan = _SCAN_STEPS_PER_ROW * min(n, wanted / max(share, 1e-12))
    drive = _DRIVE_STEPS_PER_ROW * n * driver
    if scan <= drive:
        return (("scan", int(max(MIN_SCAN_BUDGET, 4 * scan))), ("drive", DRIVE_BUDGET), ("scan", None))
    driven = (("drive", int(max(DRIVE_BUDGET, 4 * drive))), ("scan", None))
    # a guess this lopsided (several rare terms) is not worth a probe
    return driven if scan > 25 * drive else (("scan", SCAN_PROBE),) + driven
