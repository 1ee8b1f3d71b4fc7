"""Judging replies: refusals in English and Japanese, untranslated text, JSON shape."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gentui.prompt.refusal import (
    has_japanese,
    japanese_ratio,
    refusal_phrase,
    reject_reason,
    shape_difference,
    strip_reply,
)


@pytest.mark.parametrize("reply", [
    "Sorry, I can't help with that.",
    "I'm sorry, but I cannot translate this.",
    "I cannot assist with this request.",
    "I\u2019m unable to help with that.",
    "As an AI language model, I must decline.",
    "申し訳ありませんが、お手伝いできません。",
    "この内容は翻訳できません。",
])
def test_refusals_are_recognised(reply):
    assert refusal_phrase(reply)
    assert reject_reason(reply).startswith("refusal")


@pytest.mark.parametrize("reply", [
    "2girls, a sorry-looking umbrella, simple background",
    "A girl holding a sign that reads 'I cannot wait'",
    "Kanachan and Reina are two distinct people. Do not mix hairstyles.",
])
def test_ordinary_translations_are_accepted(reply):
    assert reject_reason(reply) is None


def test_japanese_ratio_and_detection():
    assert has_japanese("ポニーテール") and not has_japanese("ponytail, 1girl")
    assert japanese_ratio("2girls, 田中 standing side by side in a classroom") < 0.3
    assert reject_reason("二人の女の子が並んで立っている、 two girls").startswith("still Japanese")
    assert japanese_ratio("1234 !!") == 0.0


def test_json_shape_and_stripping():
    src = {"scene": "x", "characters": [{"name": "a"}, {"name": "b"}]}
    assert shape_difference(src, {"scene": "y", "characters": [{"name": "c"}, {"name": "d"}]}) is None
    assert "characters[1]" in shape_difference(src, {"scene": "y", "characters": [{"name": "c"}, {"nom": "d"}]})
    assert "not a list of 2" in shape_difference(src, {"scene": "y", "characters": [{"name": "c"}]})
    assert reject_reason('{"scene": "y"}', {"scene": "x", "rule": "z"}) == "JSON keys differ at the top level: missing 'rule'"
    assert reject_reason('{"scene": "二人の女の子が立つ"}', {"scene": "x"}).startswith("still Japanese")
    assert strip_reply("<think>hmm</think>\n```json\n{\"a\": 1}\n```") == '{"a": 1}'


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=3), kids,
                                                                                      max_size=3), max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80) | JSON_VALUES.map(json.dumps), st.none() | JSON_VALUES)
def test_judging_any_reply_never_raises(reply, source):
    reason = reject_reason(strip_reply(reply), source)
    assert reason is None or isinstance(reason, str)
