"""The prompt spec's JSON and text forms: rendering, parsing, round trips, and errors that point."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gentui.prompt.forms import (
    json_form_problems,
    parse_json_prompt,
    parse_prompt,
    parse_text_prompt,
    render_json,
    render_text,
    spec_from_dict,
    text_form_problems,
)
from gentui.prompt.spec import (
    DEFAULT_RULE,
    Character,
    PromptError,
    PromptSpec,
    spec_to_dict,
)

KANA = Character(name="Kanachan", lora_trigger="kanachan", position="left",
                 appearance="chestnut hair, side ponytail, yellow scrunchie, ahoge, school uniform")
REINA = Character(name="Reina", position="right", appearance="black hair, long straight hair, navy blazer, red ribbon")
SPEC = PromptSpec(scene="simple background", count="2girls", layout="side_by_side", characters=(KANA, REINA),
                  rule=DEFAULT_RULE)


def test_text_form_matches_the_seed_shape():
    unnamed = PromptSpec(scene="simple background", count="2girls", layout="side_by_side", rule=DEFAULT_RULE,
                         characters=(Character(lora_trigger="kanachan", position="left", appearance=KANA.appearance),
                                     Character(position="right", appearance=REINA.appearance)))
    assert render_text(unnamed) == (
        "2girls, simple background, side by side\n"
        "Left girl: kanachan, chestnut hair, side ponytail, yellow scrunchie, ahoge, school uniform\n"
        "Right girl: black hair, long straight hair, navy blazer, red ribbon\n"
        "Keep the characters visually distinct. Do not mix hairstyles, outfits, or eye colors."
    )


def test_json_form_uses_slot_keys_in_a_stable_order_with_the_trigger_first():
    obj = json.loads(render_json(SPEC))
    assert list(obj) == ["scene", "left_character", "right_character", "rule"]
    assert obj["scene"] == "2girls, simple background, side by side"
    assert obj["left_character"] == {"name": "Kanachan", "appearance": "kanachan, " + KANA.appearance}
    assert "negative" not in obj


def test_three_characters_get_a_middle_slot_and_free_positions_a_list():
    three = PromptSpec(count="3girls", characters=(KANA, Character(position="middle", appearance="x"), REINA))
    assert list(json.loads(render_json(three))) == ["scene", "left_character", "middle_character", "right_character"]
    free = PromptSpec(characters=(Character(appearance="a"), Character(position="left", appearance="b")))
    obj = json.loads(render_json(free))
    assert obj["characters"] == [{"appearance": "a"}, {"position": "left", "appearance": "b"}]
    assert parse_json_prompt(render_json(free)) == free
    assert "Other character: a" in render_text(free)


def test_both_forms_read_back_with_known_triggers():
    assert parse_text_prompt(render_text(SPEC), triggers=["kanachan"]) == SPEC
    assert parse_json_prompt(render_json(SPEC), triggers=["kanachan"]) == SPEC
    with_neg = PromptSpec(**{**SPEC.__dict__, "negative": "lowres, bad hands"})
    assert parse_prompt(render_text(with_neg, with_negative=True), triggers=["kanachan"]) == with_neg
    assert parse_prompt(render_json(with_neg, with_negative=True), triggers=["kanachan"]) == with_neg


def test_without_triggers_the_trigger_stays_in_the_appearance():
    c = parse_text_prompt(render_text(SPEC)).characters[0]
    assert c.lora_trigger == "" and c.appearance.startswith("kanachan, ")


def test_pasted_characters_list_and_explicit_trigger_key():
    spec = parse_json_prompt(json.dumps({
        "scene": "2girls, classroom",
        "characters": [{"position": "left", "name": "Lily", "lora_trigger": "lily_v2", "appearance": "blue ribbon"},
                       {"slot": "right", "appearance": ["red hair", "twintails"]}],
        "rule": "Do not mix outfits.",
    }))
    assert spec.count == "2girls" and spec.scene == "classroom" and spec.layout == ""
    assert spec.characters[0] == Character(name="Lily", lora_trigger="lily_v2", appearance="blue ribbon", position="left")
    assert spec.characters[1].appearance == "red hair, twintails" and spec.characters[1].position == "right"
    assert json.loads(render_json(spec))["left_character"]["appearance"] == "lily_v2, blue ribbon"


def test_free_text_layout_is_its_own_line_and_key():
    spec = PromptSpec(scene="park", count="2girls", layout="walking arm in arm", characters=(KANA, REINA))
    text = render_text(spec)
    assert text.splitlines()[:2] == ["2girls, park", "Layout: walking arm in arm"]
    assert json.loads(render_json(spec))["layout"] == "walking arm in arm"
    assert parse_text_prompt(text, triggers=["kanachan"]) == spec
    assert parse_json_prompt(render_json(spec), triggers=["kanachan"]) == spec


def test_layout_phrases_are_recognised():
    assert parse_text_prompt("2girls, beach, side-by-side").layout == "side_by_side"
    assert parse_text_prompt("2girls, beach, one in front of the other").layout == "depth"
    assert parse_text_prompt("2girls, beach, standing close together").layout == "cluster"
    assert parse_json_prompt('{"scene": "beach", "layout": "intertwined"}').layout == "intertwined"


@pytest.mark.parametrize("text, where, expected", [
    ('{"scene": "x",\n "rule": }', (2, 10), "not valid JSON"),
    ('{"left_character": {"appearance": 3}}', "left_character.appearance", "expected a string"),
    ('{"left_character": {"hair": "red"}}', "left_character.hair", "unknown key"),
    ('{"scene": "x", "style": "anime"}', "style", "unknown key"),
    ('{"characters": {"a": 1}}', "characters", "expected a list"),
    ('{"characters": [{"position": "top"}]}', "characters[0].position", "unknown position"),
    ('{"left_character": {"position": "right"}}', "left_character.position", "under the left slot"),
    ('{"left_character": {}, "characters": []}', "characters", "both slot keys"),
    ("[1, 2]", (1, 1), "the prompt is a list"),
    ("2girls\nLeft girl (Kana: chestnut hair", (2, 11), "not closed"),
    ("2girls\nLeft girl: a\nKeep them apart.\nRight girl: b", (4, 1), "after the rule"),
])
def test_errors_point_at_the_line_or_field(text, where, expected):
    with pytest.raises(PromptError) as exc:
        parse_prompt(text)
    e = exc.value
    if isinstance(where, tuple):
        assert (e.line, e.column) == where
    else:
        assert e.field == where
    assert expected in str(e)
    assert e.expected or "unknown position" in str(e) or "expected" in str(e)


def test_dict_form_round_trip_and_defaults():
    assert spec_from_dict(spec_to_dict(SPEC)) == SPEC
    spec = spec_from_dict({"scene": "2girls, simple background, side by side",
                           "characters": [{"name": "A", "appearance": "x"}, {"appearance": "y"}, "z"]})
    assert (spec.count, spec.scene, spec.layout) == ("2girls", "simple background", "side_by_side")
    assert [c.position for c in spec.characters] == ["left", "middle", "right"]
    depth = spec_from_dict({"layout": "depth", "characters": [{"appearance": "x"}, {"appearance": "y"}]})
    assert [c.position for c in depth.characters] == ["front", "back"]
    omitted = SPEC.with_character(0, omit_trigger=True)
    assert spec_from_dict(spec_to_dict(omitted)) == omitted
    with pytest.raises(PromptError, match=r"prompt\.characters\[1\]\.appearance: expected a string"):
        spec_from_dict({"characters": [{}, {"appearance": 5}]})
    with pytest.raises(PromptError, match=r"prompt\.count"):
        spec_from_dict({"count": "two girls"})
    with pytest.raises(PromptError, match=r"prompt\.colour: unknown key"):
        spec_from_dict({"colour": "x"})


def test_sidecar_characters_record_the_trigger_even_when_omitted():
    chars = SPEC.with_character(0, omit_trigger=True).sidecar_characters()
    assert chars[0]["lora_trigger"] == "kanachan" and chars[0]["has_trigger"] is False
    assert chars[0]["slot"] == "left" and chars[1]["has_trigger"] is False
    assert "kanachan" not in render_text(SPEC.with_character(0, omit_trigger=True))


# -- properties ---------------------------------------------------------------

WORDS = st.sampled_from(["red", "hair", "2girls", "side by side", "Left girl", "(x)", "a:b", "kanachan", "Layout:",
                         "Negative:", "ribbon", "赤い", "髪", "1boy", "close together", "Other", "depth", ",", "-"])
_text = st.lists(st.one_of(WORDS, st.text(alphabet="ab (),:;-\n\t\u3000漢\u2028{}\"", max_size=5)), max_size=4)
FIELD = _text.map(lambda parts: " ".join(parts).strip())
LINES = st.lists(FIELD, max_size=3).map("\n".join)
TRIGGERS = ["kanachan", "lily_v2"]


@st.composite
def specs(draw):
    chars = []
    for _ in range(draw(st.integers(0, 4))):
        chars.append(Character(
            name=draw(FIELD), identity=draw(FIELD), appearance=draw(FIELD),
            lora_trigger=draw(st.sampled_from(["", *TRIGGERS])),
            position=draw(st.sampled_from(["left", "middle", "right", "front", "back", "free"]))))
    return PromptSpec(scene=draw(FIELD), characters=tuple(chars), rule=draw(LINES), negative=draw(FIELD),
                      layout=draw(st.sampled_from(["", "side_by_side", "cluster", "depth", "holding hands"]) | FIELD),
                      count=draw(st.sampled_from(["", "2girls", "1girl, 1boy", "3girls", "2boys"])))


@settings(max_examples=150, deadline=None)
@given(specs())
def test_text_form_round_trip(spec):
    assume(not text_form_problems(spec, TRIGGERS))
    assert parse_text_prompt(render_text(spec, with_negative=True), triggers=TRIGGERS) == spec


@settings(max_examples=150, deadline=None)
@given(specs())
def test_json_form_round_trip(spec):
    assume(not json_form_problems(spec, TRIGGERS))
    assert parse_json_prompt(render_json(spec, with_negative=True), triggers=TRIGGERS) == spec
    assert spec_from_dict(spec_to_dict(spec)) == spec


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.lists(WORDS, max_size=12).map("\n".join))
def test_hostile_text_raises_only_prompt_error_and_reparses_stably(text):
    try:
        spec = parse_prompt(text, triggers=TRIGGERS)
    except PromptError:
        return
    again = parse_text_prompt(render_text(spec, with_negative=True), triggers=TRIGGERS) if not text.lstrip(
    ).startswith(("{", "[")) else spec
    assert parse_text_prompt(render_text(again, with_negative=True), triggers=TRIGGERS) == again


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | WORDS,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
        st.sampled_from(["scene", "layout", "rule", "negative", "left_character", "right_character", "characters",
                         "name", "appearance", "position", "lora_trigger", "has_trigger", "x"]), kids, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(JSONISH.map(json.dumps) | st.text(max_size=60).map(lambda t: "{" + t))
def test_hostile_json_raises_only_prompt_error(text):
    try:
        spec = parse_json_prompt(text, triggers=TRIGGERS)
    except PromptError as e:
        assert e.field or e.line
        return
    assert parse_json_prompt(render_json(spec, with_negative=True), triggers=TRIGGERS).characters is not None


def test_deeply_nested_json_is_a_prompt_error():
    with pytest.raises(PromptError):
        parse_json_prompt("[" * 100_000 + "]" * 100_000)
