"""Prompt variants: the syntax, what each step does to a spec, labels, and errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gentui.prompt.forms import render_json, render_text
from gentui.prompt.spec import DEFAULT_RULE, Character, PromptSpec
from gentui.prompt.variants import (
    Step,
    Variant,
    VariantError,
    apply_variant,
    parse_variant,
)

KANA = Character(name="Kanachan", lora_trigger="kanachan", position="left", appearance="chestnut hair, yellow scrunchie")
LILY = Character(name="Lily", position="right", appearance="blonde hair, blue ribbon")
SPEC = PromptSpec(scene="simple background", count="2girls", layout="side_by_side", characters=(KANA, LILY),
                  rule=DEFAULT_RULE)


def test_named_names_everyone_in_the_rule():
    named = apply_variant(SPEC, "named")
    assert named.rule == ("Kanachan and Lily are two distinct people. "
                          "Do not mix hairstyles, outfits, or eye colors.")
    three = PromptSpec(characters=(KANA, Character(name="Mio", position="middle"), LILY), rule=DEFAULT_RULE)
    assert apply_variant(three, "named").rule.startswith("Kanachan, Mio and Lily are three distinct people. ")
    assert apply_variant(named, "named") == named


def test_unnamed_drops_names_and_restores_the_generic_rule():
    un = apply_variant(apply_variant(SPEC, "named"), "unnamed")
    assert [c.name for c in un.characters] == ["", ""]
    assert un.rule == DEFAULT_RULE
    assert '"name"' not in render_json(un)
    with pytest.raises(VariantError, match="has no name"):
        apply_variant(SPEC, "unnamed+named")


def test_no_trigger_keeps_the_trigger_on_record_but_out_of_the_prompt():
    nt = apply_variant(SPEC, "named+no_trigger")
    assert nt.characters[0].lora_trigger == "kanachan" and not nt.characters[0].has_trigger
    assert "kanachan" not in render_text(nt) and "Kanachan" in render_text(nt)
    with pytest.raises(VariantError, match="no character here has a lora_trigger"):
        apply_variant(SPEC, "no_trigger:Lily")


def test_set_and_replace_find_characters_by_name_position_or_number():
    assert apply_variant(SPEC, "set:Lily.appearance=red hair").characters[1].appearance == "red hair"
    assert apply_variant(SPEC, "set:right.name=Reina").characters[1].name == "Reina"
    assert apply_variant(SPEC, "set:1.identity=the new student").characters[0].identity == "the new student"
    assert apply_variant(SPEC, "replace:lily:blue ribbon=>green ribbon").characters[1].appearance == (
        "blonde hair, green ribbon")
    assert apply_variant(SPEC, 'set:scene="beach+sunset"').scene == "beach+sunset"
    everywhere = apply_variant(SPEC, "replace:hair=>locks")
    assert everywhere.characters[0].appearance.startswith("chestnut locks") and "locks" in everywhere.rule
    with pytest.raises(VariantError, match="'purple ribbon' is not in Lily's"):
        apply_variant(SPEC, "replace:Lily:purple ribbon=>green ribbon")
    with pytest.raises(VariantError, match="no character 'Mio'") as exc:
        apply_variant(SPEC, "set:Mio.name=x")
    assert "1: Kanachan, 2: Lily" in str(exc.value)


def test_layout_swaps_positions_for_depth_and_back():
    depth = apply_variant(SPEC, "layout:depth")
    assert depth.layout == "depth" and [c.position for c in depth.characters] == ["front", "back"]
    assert render_text(depth).startswith("2girls, simple background, one in front of the other\nFront girl")
    back = apply_variant(depth, "layout:side by side")
    assert back == SPEC
    cluster = apply_variant(SPEC, "layout:cluster")
    assert [c.position for c in cluster.characters] == ["left", "right"] and cluster.layout == "cluster"


def test_labels_are_short_stable_and_file_name_safe():
    assert parse_variant("named+no_trigger").label == "named+notrigger"
    assert parse_variant("").label == "base"
    long = parse_variant("set:Lily.appearance=" + "very long description, " * 10)
    assert len(long.label) < 48 and long.label == parse_variant(long.text).label
    assert parse_variant("replace:Lily:a=>b").label != parse_variant("replace:Lily:c=>b").label


@pytest.mark.parametrize("text, column, expected", [
    ("bogus", 1, "unknown variant"),
    ("named+bogus", 7, "unknown variant"),
    ("named:x", 6, "takes no argument"),
    ("set:Lily.hair=x", 5, "replace:CHAR:OLD=>NEW"),
    ("set:left.position=top", 5, "unknown position"),
    ("replace:Lily:blue", 18, "OLD=>NEW"),
    ('set:scene="open', 11, "quoted value"),
    ("layout:", 8, "missing argument"),
])
def test_syntax_errors_point_at_the_column(text, column, expected):
    with pytest.raises(VariantError) as exc:
        parse_variant(text)
    assert exc.value.column == column
    assert expected in str(exc.value)


VALUES = st.text(alphabet='ab :.=+>"\\\u00e9-', max_size=8)
STEPS = st.one_of(
    st.sampled_from([Step("base"), Step("named"), Step("unnamed"), Step("no_trigger")]),
    st.builds(Step, st.just("no_trigger"), char=VALUES.filter(lambda v: v.strip() == v and v)),
    st.builds(Step, st.just("layout"), value=st.sampled_from(["cluster", "depth", "arm in arm", "a+b"])),
    st.builds(Step, st.just("set"), char=VALUES.map(str.strip), field=st.sampled_from(["name", "appearance"]),
              value=VALUES),
    st.builds(Step, st.just("replace"), char=VALUES.map(str.strip), old=VALUES.filter(bool), value=VALUES),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(STEPS, min_size=1, max_size=3))
def test_variant_text_reads_back(steps):
    steps = [Step("set", "", "scene", s.value) if s.kind == "set" and not s.char else s for s in steps]
    v = Variant(tuple(steps))
    assert parse_variant(v.text) == v


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40) | st.lists(st.sampled_from(["set:", "replace:", "named", "+", "=>", ".", "=", ":",
                                                          '"', "Lily", "layout:", "no_trigger"]), max_size=8).map("".join))
def test_hostile_variant_text_raises_only_variant_error(text):
    try:
        v = parse_variant(text)
    except VariantError:
        return
    assert parse_variant(v.text) == v
    try:
        apply_variant(SPEC, v)
    except VariantError:
        pass
