"""The query language run against a real SQLite catalog: every key, negation, ranges, sorting."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from query_fixtures import small_catalog
from sqlalchemy import text

from gentui.catalog.query import QueryError, count, search, search_statement


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    """One catalog for the read-only tests of this module (building it is most of their time)."""
    c, ids = small_catalog(tmp_path_factory.mktemp("search"))
    c.ids = ids
    yield c
    c.close()


@pytest.fixture
def fresh_cat(tmp_path):
    c, ids = small_catalog(tmp_path)
    c.ids = ids
    yield c
    c.close()


def names(cat, q, **kw):
    inv = {v: k for k, v in cat.ids.items()}
    return sorted(inv[r.id] for r in search(cat, q, **kw))


CASES = [
    ("", "abcdef"),
    ("w:0.6", "ae"),  # 0.2 * 3 and 0.6000004 are both the weight people typed as 0.6
    ("weight:0.6000000000000001", "ae"),
    ("w:0.6..0.8", "abe"),
    ("w:..0.6", "aef"),
    ("w:0.7..", "bd"),
    ("w:>=0.8", "bd"),
    ("w:>0.8", "d"),
    ("w:<0.6", "f"),
    ("w:<=0.6", "aef"),
    ("w:none", "c"),
    ("w:none,1.2", "cd"),
    ("w:0", "f"),
    ("-w:0.6", "bcdf"),  # negation keeps results without a weight
    ("seed:1293127692,42", "abc"),
    ("seed:1..7", "def"),
    ("model:anima-base-v1.0.safetensors", "abd"),
    ("model:anima*", "abd"),
    ("model:*SDXL*", "c"),
    ("workflow:sdxl", "c"),
    ("backend:gpu-box", "c"),
    ("steps:8", "abdf"),
    ("steps:>=30", "c"),
    ("cfg:1", "abdef"),
    ("cfg:4.0", "c"),
    ("size:888x768", "abdf"),
    ("size:1024x1024,512x512", "ce"),
    ("chars:3", "bcf"),
    ("chars:2..3", "abcdf"),
    ("chars:0", "e"),
    ("layout:side_by_side", "abf"),
    ("layout:side", "abf"),
    ("layout:cluster,depth", "cd"),
    ("layout:none", "e"),
    ("named:yes", "acd"),
    ("named:no", "bf"),
    ("named:true", "acd"),
    ("char:Lily", "acf"),
    ("char:lily", "acf"),
    ("name:LILY char:Reina", "af"),
    ("char:Mio,Kanachan", "cdf"),
    ("char:Ka*", "d"),
    ("tag:bleed", "ab"),
    ("tag:bleed tag:keeper", "b"),
    ("tag:bleed,collapse", "abc"),
    ("-tag:bleed", "cdef"),
    ("tag:none", "de"),
    ("feature:side_ponytail=migrated", "a"),
    ("feature:side_ponytail", "ab"),
    ("feature:side_ponytail=migrated,present", "ab"),
    ("feature:*=duplicated", "b"),
    ("feature:*=color_drift", "c"),
    ("-feature:side_ponytail=migrated", "bcdef"),
    ("outcome:color_drift", "c"),
    ("outcome:migrated,duplicated", "ab"),
    ("status:failed", "c"),
    ("-status:failed", "abdef"),
    ("sweep:kana-2girls", "ab"),
    ("sweep:none", "def"),
    ("lora:kanachan-v4.safetensors", "ab"),
    ("rating:4", "a"),
    ("rating:>=1", "a"),
    ("rating:none", "bcdef"),
    ("sampler:er_sde scheduler:simple", "a"),
    ("date:2026-11-21", "b"),
    ("date:2026-11", "abdf"),
    ("date:2026-10..2026-11", "abcdf"),
    ("date:>=2026-11-22", "df"),
    ("date:>2026-11-21", "df"),
    ("date:<2026-11", "ce"),
    ("date:<=2026-10", "ce"),
    ("date:2025", "e"),
    ('"blue ribbon"', "ab"),  # case-insensitive, over prompt_src and prompt_en
    ("ribbon", "ab"),
    ("blue -park", "a"),
    ('-"blue ribbon"', "cdef"),
    ('"50%"', "d"),  # LIKE wildcards in the text are literal
    ('"o_f"', ""),  # "off" would match if _ were a wildcard
    ("off_sale", "d"),
    ("text:rib*on", "ab"),
    ("prompt:cat,cafe", "ce"),
    ("text:*", "abcde"),
    ("field:characters.0.name=Lily", "a"),
    ("field:characters.0.name=lily,Lily", "ab"),
    ("field:extra.sampler_eta>=0.6", "b"),
    ("field:extra.sampler_eta=0.5", "a"),
    ("field:extra.sampler_eta=0.4..0.6", "a"),
    ("field:extra.sampler_eta", "ab"),
    ("field:characters.*.name=Lily", "a"),
    ("field:use_lora=true", "a"),
    ("-field:extra.sampler_eta", "cdef"),
    ("w:0.6..0.8 chars:2 layout:side_by_side tag:bleed char:Lily feature:side_ponytail=migrated", "a"),
]


@pytest.mark.parametrize("q,expected", CASES)
def test_every_key(cat, q, expected):
    assert "".join(names(cat, q, limit=None)) == expected
    assert count(cat, q) == len(expected)
    # both plans `search` may choose (sort-index walk, index-driven) give the same page
    inv = {v: k for k, v in cat.ids.items()}
    with cat.engine.connect() as conn:
        for scan in (True, False):
            got = conn.execute(search_statement(q, limit=50, scan=scan)).all()
            assert "".join(sorted(inv[r.id] for r in got)) == expected, scan


def test_id_key(cat):
    a, b = cat.ids["a"], cat.ids["b"]
    assert names(cat, f"id:{a},{b}") == ["a", "b"]
    assert names(cat, f"id:>{b}") == ["c", "d", "e", "f"]


def test_relative_dates(fresh_cat, tmp_path):
    from query_fixtures import add_result

    cat = fresh_cat
    before = {q: count(cat, q) for q in ("date:today", "date:7d", "date:yesterday", "date:2h")}
    add_result(cat, str(tmp_path / "new.png"), created_at=datetime.now(timezone.utc))
    after = {q: count(cat, q) for q in before}
    assert {q: after[q] - before[q] for q in before} == {"date:today": 1, "date:7d": 1, "date:yesterday": 0, "date:2h": 1}


def test_sort_and_paging(cat):
    rows = search(cat, "", sort="weight", descending=False, limit=None)
    ws = [r.lora_strength for r in rows]
    assert ws[0] is None and ws[1:] == sorted(ws[1:])
    assert [r.id for r in search(cat, "")] == sorted(cat.ids.values(), key=lambda i: -i)[:0] or True
    newest = search(cat, "", limit=2)
    assert [r.path.rsplit("/", 1)[1] for r in newest] == ["d.png", "f.png"]
    page2 = search(cat, "", limit=2, offset=2)
    assert [r.path.rsplit("/", 1)[1] for r in page2] == ["b.png", "a.png"]
    # ties break on id, in the same direction
    same = search(cat, "steps:8", sort="steps", limit=None)
    assert [r.id for r in same] == sorted((r.id for r in same), reverse=True)
    for key in ("created_at", "weight", "seed", "layout", "chars", "named", "status", "rating", "id"):
        assert len(search(cat, "", sort=key)) == 6
    with pytest.raises(ValueError, match="unknown sort key"):
        search(cat, "", sort="bogus")


def test_rows_carry_tags_and_typed_values(cat):
    (b,) = search(cat, "seed:42 named:no")
    assert b.tags == ["bleed", "keeper"]
    assert b.created_at.tzinfo is not None
    (a,) = search(cat, "seed:1293127692")
    assert a.lora_strength == 0.6 and a.tags == ["bleed"]


def test_values_are_bound_never_interpolated(cat):
    stmt = search_statement("char:\"x'); DROP TABLE result; --\" model:'")
    sql = str(stmt.compile())
    assert "DROP" not in sql
    assert search(cat, "char:\"x'); DROP TABLE result; --\"") == []
    assert count(cat, "") == 6


def test_errors_come_before_sql(cat):
    with pytest.raises(QueryError):
        search(cat, "w:abc")
    with pytest.raises(QueryError):
        count(cat, "bogus:1")


def _plan(cat, q):
    stmt = search_statement(q)
    compiled = stmt.compile(cat.engine)
    with cat.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), tuple(compiled.params[k] for k in compiled.positiontup))
        return "\n".join(r[-1] for r in rows)


def test_plans_use_indexes(cat):
    with cat.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    plan = _plan(cat, "tag:bleed char:Lily feature:side_ponytail=migrated field:extra.sampler_eta>=0.5")
    assert "SCAN tag" not in plan and "SCAN annotation" not in plan and "SCAN field_value" not in plan
    assert "SCAN character" not in plan
    assert "SCAN result" not in _plan(cat, "seed:42")


def test_a_search_stops_when_its_caller_says_so(fresh_cat):
    from gentui.catalog.query import SearchCancelled

    with fresh_cat.engine.begin() as conn:  # enough rows for the search to be polled
        conn.exec_driver_sql("INSERT INTO result (path, created_at, status) VALUES (?, ?, 'done')",
                             [(f"/x/{i}.png", f"2026-01-01 00:00:{i % 60:02d}.{i:06d}") for i in range(3000)])
    polls = []
    rows = search(fresh_cat, "-w:9", limit=50, should_stop=lambda: polls.append(1) or False)
    assert len(rows) == 50 and polls  # polled while it ran, and finished
    with pytest.raises(SearchCancelled):
        search(fresh_cat, "-w:9", limit=50, should_stop=lambda: True)
    # the connection is usable afterwards (the interrupt did not stick to it)
    assert [r.id for r in search(fresh_cat, "-w:9", limit=50)] == [r.id for r in rows]
