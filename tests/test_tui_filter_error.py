"""The filter bar's error line puts its caret under the bad token, as typed in the one-cell-padded input."""

from __future__ import annotations

from gentui.catalog.query_parser import QueryError, parse_query
from gentui.tui.widgets.filter_bar import describe_error


def test_caret_sits_under_the_bad_token():
    text = "w:0.8.. lyaout:x"
    try:
        parse_query(text)
    except QueryError as e:
        lines = describe_error(text, e).plain.splitlines()
    else:  # pragma: no cover
        raise AssertionError("the query should not parse")
    shown = " " + text  # the input's padding
    caret = lines[0]
    assert shown[caret.index("^"):].startswith("lyaout:x")
    assert caret.count("^") == len("lyaout:x")
    assert lines[1].startswith("col 9: unknown key 'lyaout'")
