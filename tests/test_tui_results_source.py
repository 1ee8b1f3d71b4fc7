"""The table's pages, read one after the other, are the whole sorted result set, and the count agrees."""

from __future__ import annotations

import pytest

from gentui.catalog.annotations import add_annotation, add_tags
from gentui.catalog.query import search
from gentui.tui.data import results
from gentui.tui.data.results import PAGE_SIZE, ResultSource
from tests.tui_helpers import make_settings, populate

QUERIES = ["", "w:0.6..1.0", "tag:bleed", "-tag:bleed", "tag:keeper -tag:bleed", "char:Kanachan",
           "char:reina w:>=0.8", "feature:side_ponytail=migrated", "-feature:ahoge=present layout:clustered",
           "seed:42", "named:yes tag:bleed", '"clustered"', "w:none", "status:failed"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("src") / "home")
    catalog = populate(settings)
    add_tags(catalog, [1, 3, 5, 7], ["keeper"])
    add_annotation(catalog, 3, "left", "side_ponytail", "migrated", target="right")
    add_annotation(catalog, 4, "left", "ahoge", "present")
    add_annotation(catalog, 12, "right", "ahoge", "present")
    yield ResultSource(catalog)
    catalog.close()


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("sort", ["created", "weight", "seed", "layout"])
@pytest.mark.parametrize("descending", [True, False])
def test_pages_match_search(source, monkeypatch, query, sort, descending):
    monkeypatch.setattr(results, "PAGE_SIZE", 3)  # tiny pages: offsets and page edges are exercised
    flt = source.parse(query)
    expected = [r.id for r in search(source.catalog, flt.query, sort=results.SORT_FIELDS[sort],
                                     descending=descending, limit=None)]
    got = []
    for page_no in range(10):
        rows = source.page(flt, sort, descending, page_no)
        got += [r.id for r in rows]
        if len(rows) < 3:
            break
    assert got == expected
    assert source.count(flt) == len(expected)
    assert PAGE_SIZE == 100
