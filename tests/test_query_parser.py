"""The query parser: values typed per key, errors that point at the column, hostile input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from query_fixtures import small_catalog

from gentui.catalog.query import count, search
from gentui.catalog.query_parser import (
    VALID_KEYS,
    Eq,
    IsNone,
    QueryError,
    Range,
    Size,
    parse_query,
)


def test_design_example_parses():
    q = parse_query('w:0.6..0.8 chars:3 layout:side_by_side named:yes tag:bleed char:Lily '
                    'feature:side_ponytail=migrated seed:1293127692,42 -status:failed "blue ribbon"')
    keys = [t.key for t in q.terms]
    assert keys == ["weight", "chars", "layout", "named", "tag", "char", "feature", "seed", "status", "text"]
    assert q.terms[0].conds == (Range(0.6, 0.8),)
    assert q.terms[6].path == "side_ponytail" and q.terms[6].conds == (Eq("migrated"),)
    assert q.terms[7].conds == (Eq(1293127692), Eq(42))
    assert q.terms[8].negated and q.terms[9].conds == (Eq("blue ribbon"),)
    assert q.terms[9].column == 135


def test_weights_are_read_as_typed():
    assert parse_query("w:0.6000000000000001").terms[0].conds == (Eq(0.6),)
    assert parse_query("weight:none").terms[0].conds == (IsNone(),)
    assert parse_query("w:..0.8").terms[0].conds == (Range(None, 0.8),)
    assert parse_query("w:0.6..").terms[0].conds == (Range(0.6, None),)
    assert parse_query("w:>0.8").terms[0].conds == (Range(0.8, None, lo_incl=False),)
    assert parse_query("w:-0.5..0").terms[0].conds == (Range(-0.5, 0.0),)


def test_values_per_key():
    assert parse_query("size:888x768,1024X1024").terms[0].conds == (Size(888, 768), Size(1024, 1024))
    assert parse_query("named:no").terms[0].conds == (Eq(False),)
    assert parse_query("layout:side").terms[0].conds == (Eq("side_by_side"),)
    assert parse_query('layout:"side"').terms[0].conds == (Eq("side"),)
    t = parse_query("field:characters.1.name=Lily").terms[0]
    assert (t.key, t.path, t.conds) == ("field", "characters.1.name", (Eq("Lily"),))
    t = parse_query("field:extra.eta>=0.5").terms[0]
    assert t.conds == (Range(0.5, None),)
    assert parse_query('char:"Mary Jane"').terms[0].conds == (Eq("Mary Jane"),)
    assert parse_query('"say \\"hi\\""').terms[0].conds == (Eq('say "hi"'),)
    assert parse_query("feature:*=migrated").terms[0].path == "*"
    assert parse_query("feature:ahoge").terms[0].conds == ()
    assert parse_query("").terms == () and parse_query("   ").is_empty


@pytest.mark.parametrize("text,column,token,reason", [
    ("w:abc", 3, "w:abc", "expected a number"),
    ("chars:3 size:12", 14, "size:12", "WIDTHxHEIGHT"),
    ("tag:a bogus:1", 7, "bogus:1", "unknown key 'bogus'"),
    ("lyaout:side", 1, "lyaout:side", "did you mean 'layout'"),
    ('char:Lily "blue ribbon', 11, '"blue ribbon', "unterminated quote"),
    ("w:", 1, "w:", "empty value"),
    ("seed:1,,2", 6, "seed:1,,2", "empty value"),
    ("w:0.8..0.6", 3, "w:0.8..0.6", "bad range"),
    ("w:..", 3, "w:..", "bad range"),
    ("w:1..2..3", 3, "w:1..2..3", "bad range"),
    ("steps:1.5", 7, "steps:1.5", "whole number"),
    ("named:maybe", 7, "named:maybe", "yes or no"),
    ("feature:ahoge=gone", 15, "feature:ahoge=gone", "unknown outcome"),
    ("outcome:bleed", 9, "outcome:bleed", "unknown outcome"),
    ("date:2026-13-01", 6, "date:2026-13-01", "not a real date"),
    ("date:last-week", 6, "date:last-week", "expected a date"),
    ("date:2026-12..2026-11", 6, "date:2026-12..2026-11", "bad range"),
    ("field:=3", 7, "field:=3", "field path expected"),
    ("field:a.b>=", 10, "field:a.b>=", "nothing after"),
    ("x -", 3, "-", "nothing after '-'"),
    ("w:nan", 3, "w:nan", "expected a number"),
])
def test_errors_name_token_column_reason(text, column, token, reason):
    with pytest.raises(QueryError) as info:
        parse_query(text)
    e = info.value
    assert (e.column, e.token) == (column, token)
    assert reason in e.reason
    assert "weight" in e.valid_keys and "w" in e.valid_keys
    one_line = str(e)
    assert "\n" not in one_line and f"column {column}" in one_line and "valid keys:" in one_line
    assert e.caret().splitlines()[1] == " " * (column - 1) + "^"


def test_limits_keep_sql_bounded():
    with pytest.raises(QueryError, match="too many terms"):
        parse_query(" ".join(["tag:a"] * 100))
    with pytest.raises(QueryError, match="too many values"):
        parse_query("seed:" + ",".join(str(i) for i in range(500)))
    with pytest.raises(QueryError, match="longer than"):
        parse_query("a" * 100_000)


# ---------------------------------------------------------------- property tests
@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    cat, _ids = small_catalog(tmp_path_factory.mktemp("q"))
    yield cat
    cat.close()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_query_error(text):
    try:
        parse_query(text)
    except QueryError as e:
        assert e.column >= 1 and e.reason


@settings(max_examples=25, deadline=None)
@given(st.text(alphabet=st.characters(), min_size=1000, max_size=5000))
def test_huge_and_unicode_input(text):
    try:
        parse_query(text)
    except QueryError:
        pass


_fragment = st.one_of(
    st.sampled_from(["0.6", "0.2", "..0.8", "0.6..", "1..2", ">=0.8", "<1", "none", "yes", "no", "888x768",
                     "Lily", "lily", "*", "a*b", "migrated", "side_ponytail=migrated", "*=present", "2026-11",
                     "2026-11..2026-12", ">=2026-11-01", "today", "7d", "characters.0.name=Lily",
                     "extra.eta>=0.5", "extra.eta=0.1..0.9", "x=true", '"a b"', "%_\\", "'", "1e3", "-3"]),
    st.text(alphabet="abc019.,*=<>-_x:\"' ", max_size=12),
)
_token = st.builds(lambda neg, key, val: f"{neg}{key}:{val}", st.sampled_from(["", "-"]),
                   st.sampled_from(VALID_KEYS), _fragment)
_query = st.lists(st.one_of(_token, st.text(alphabet="abc \"-", max_size=8)), max_size=6).map(" ".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_query)
def test_every_parsed_query_runs(catalog, text):
    try:
        q = parse_query(text)
    except QueryError:
        return
    rows = search(catalog, q, limit=10)
    n = count(catalog, q)
    assert len(rows) <= min(n, 10) or n == 0 and rows == []
