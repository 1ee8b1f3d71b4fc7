"""The planner's rewrites (EXCEPT for negations, probed lists, plan order) never change what matches."""

from __future__ import annotations

import pytest
from query_fixtures import small_catalog
from sqlalchemy import func, select

from gentui.catalog.models import Result
from gentui.catalog.query import (
    count,
    count_statement,
    parse_query,
    search,
    search_statement,
    where_clause,
)
from gentui.catalog.query_plan import plan_order


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    c, ids = small_catalog(tmp_path_factory.mktemp("plans"))
    c.ids = ids
    yield c
    c.close()


@pytest.fixture
def fresh_plans_cat(tmp_path):
    c, _ids = small_catalog(tmp_path)
    yield c
    c.close()


QUERIES = [
    "char:lily -tag:keeper", "tag:bleed -tag:keeper", "char:lily -tag:keeper -char:reina", "tag:bleed -feature:ahoge",
    "char:lily -feature:side_ponytail=migrated", "tag:bleed,keeper -outcome:duplicated", "char:lily -tag:none",
    "field:extra.sampler_eta>=0.4 w:0.6..0.8", "tag:bleed w:0.8", "status:done w:0.6", "named:yes layout:side_by_side",
    "status:done -tag:bleed", "feature:ahoge", "-feature:ahoge", "char:l* -tag:b*",
    "w:0.6..0.8 chars:2 layout:side_by_side tag:bleed char:Lily feature:side_ponytail=migrated",
]


def _plain_count(cat, q):
    """The reference: one WHERE over `result`, no rewrites of the count."""
    stmt = select(func.count()).select_from(Result.__table__).where(where_clause(q, scan=()))
    with cat.engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


@pytest.mark.parametrize("q", QUERIES)
def test_rewrites_match_the_plain_query(cat, q):
    expected = _plain_count(cat, q)
    assert count(cat, q) == expected
    assert len(search(cat, q, limit=None)) == expected
    with cat.engine.connect() as conn:
        assert conn.execute(count_statement(q)).scalar_one() == expected
        for scan in (True, False):
            assert len(conn.execute(search_statement(q, limit=50, scan=scan)).all()) == expected


def _plan(cat, stmt):
    compiled = stmt.compile(cat.engine)
    with cat.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled),
                                    tuple(compiled.params[k] for k in compiled.positiontup))
        return "\n".join(r[-1] for r in rows)


def test_negated_terms_count_by_merging_index_ranges(cat):
    assert "EXCEPT" in _plan(cat, count_statement("char:lily -tag:keeper"))


def test_feature_probe_goes_through_result_id(cat):
    """`feature:x` without an outcome, probed per row, must not scan a third of the feature index."""
    plan = _plan(cat, search_statement("tag:bleed -feature:ahoge", scan=True))
    assert "ix_annotation_feature (feature=?)" not in plan


def test_plan_order_rare_drives_first_common_walks_first():
    rare = plan_order(parse_query("w:0.6..0.8 chars:3 layout:side_by_side tag:bleed char:Lily "
                                  "feature:side_ponytail=migrated"), 1_000_000, 100, 0)
    assert rare[0][0] == "drive" and rare[-1] == ("scan", None)
    common = plan_order(parse_query("tag:bleed"), 1_000_000, 100, 0)
    assert common[0][0] == "scan" and common[-1] == ("scan", None)
    assert plan_order(parse_query("sweep:x"), 1_000_000, 100, 0)[0][0] == "drive"
    probe = plan_order(parse_query("tag:a char:b layout:c w:0.6..0.8 feature:x"), 1_000_000, 100, 0)
    assert probe[0] == ("scan", 20_000) and probe[1][0] == "drive"


def test_a_counted_driver_overrules_the_guess():
    from gentui.catalog.query_plan import driver_term, probe_cap

    q = parse_query("seed:42 layout:side_by_side")
    assert driver_term(q).key == "seed"
    # a seed is usually near-unique: drive from its index, then sort the few rows
    assert plan_order(q, 1_000_000, 100, 0)[0][0] == "drive"
    # counted at 2% of the catalog (a default seed): walking the sort order finds 100 sooner
    assert probe_cap(driver_term(q), 1_000_000) >= 20_000
    assert plan_order(q, 1_000_000, 100, 0, driver_rows=20_000)[0][0] == "scan"
    # counted as rare as guessed: still driven
    assert plan_order(q, 1_000_000, 100, 0, driver_rows=800)[0][0] == "drive"


def test_a_common_seed_still_finds_the_same_rows(fresh_plans_cat):
    cat = fresh_plans_cat
    with cat.engine.begin() as conn:  # seed 42 on half of 3,000 extra results
        conn.exec_driver_sql(
            "INSERT INTO result (path, created_at, status, seed) VALUES (?, ?, 'done', ?)",
            [(f"/x/{i}.png", f"2026-01-01 00:{i // 60 % 60:02d}:{i % 60:02d}", 42 if i % 2 else 7)
             for i in range(3000)])
    q = "seed:42,7 -tag:keeper"
    expected = _plain_count(cat, q)
    assert len(search(cat, q, limit=None)) == expected
    first = search(cat, q, limit=100)
    assert len(first) == 100 and [r.id for r in first] == [r.id for r in search(cat, q, limit=None)[:100]]
