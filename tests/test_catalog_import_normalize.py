"""Sidecar -> catalog fields: genserver keys, aliases, weights, characters, wrong types, the field index."""

from __future__ import annotations

import json

import pytest
from catalog_import_fixtures import PROMPT_EN, genserver_sidecar
from hypothesis import given, settings
from hypothesis import strategies as st

from gentui.catalog.normalize import MAX_FIELD_LEAVES, flatten, normalize_sidecar
from gentui.catalog.sidecar import SidecarError, parse_sidecar


def test_genserver_sidecar_maps_every_key():
    n = normalize_sidecar(genserver_sidecar())
    f = n.fields
    assert f["model"] == "waiANIMA_v10.safetensors"
    assert (f["seed"], f["width"], f["height"], f["steps"], f["cfg"]) == (1293127692, 888, 768, 8, 1.0)
    assert f["lora_strength"] == 0.6  # 0.6000000000000001 as typed
    assert f["use_lora"] is True and f["use_speed_lora"] is True and f["skip_translate"] is True
    assert f["elapsed_s"] == 12.3
    assert f["prompt_en"] == PROMPT_EN
    assert f["layout"] == "side_by_side"
    assert f["n_characters"] == 2 and f["named"] is True
    assert [(c.slot, c.name) for c in n.characters] == [("left", "Kanachan"), ("right", "Reina")]
    assert n.problems == []


def test_aliases_cfg_scale_and_text_ja():
    n = normalize_sidecar({"cfg_scale": 4.5, "text_ja": "公園で二人", "seed": 1})
    assert n.fields["cfg"] == 4.5
    assert n.fields["prompt_src"] == "公園で二人"


def test_use_lora_false_means_no_weight():
    n = normalize_sidecar(genserver_sidecar(use_lora=False, lora_strength=0.8))
    assert n.fields["use_lora"] is False
    assert n.fields["lora_strength"] is None


def test_unnamed_character_makes_named_false():
    prompt = {"layout": "cluster", "characters": [{"name": "Lily"}, {"appearance": "red scarf"}, {"name": "Mio"}]}
    n = normalize_sidecar({"prompt_en": json.dumps(prompt)})
    assert n.fields["n_characters"] == 3 and n.fields["named"] is False
    assert n.fields["layout"] == "cluster"


def test_sidecar_characters_list_and_layout_key_win():
    n = normalize_sidecar(genserver_sidecar(layout="depth", characters=[{"slot": "front", "name": "Aoi"}]))
    assert n.fields["layout"] == "depth"
    assert [(c.slot, c.name) for c in n.characters] == [("front", "Aoi")]
    assert n.fields["n_characters"] == 1


def test_wrong_types_are_reported_field_by_field():
    n = normalize_sidecar(genserver_sidecar(seed="abc", steps=[8], cfg={"x": 1}, use_lora="maybe", width=True,
                                            created_at="yesterday", annotations="oops", tags=[1, "keeper"]))
    keys = " ".join(n.problems)
    for k in ("seed", "steps", "cfg", "use_lora", "width", "created_at", "annotations", "tags"):
        assert k in keys
    assert "seed" not in n.fields and "steps" not in n.fields
    assert n.fields["height"] == 768  # the rest is still read
    assert n.tags == ["keeper"]


def test_lenient_numbers_and_bools():
    n = normalize_sidecar({"seed": "42", "steps": 8.0, "use_lora": "yes", "cfg": "1.5"})
    assert (n.fields["seed"], n.fields["steps"], n.fields["use_lora"], n.fields["cfg"]) == (42, 8, True, 1.5)
    assert n.problems == []


def test_seed_beyond_64_bits_is_reported_not_stored():
    n = normalize_sidecar({"seed": 2**64 - 1})
    assert "seed" not in n.fields and "64-bit" in n.problems[0]
    assert ("seed", float(2**64 - 1), str(2**64 - 1)) in n.values  # still searchable by text


def test_annotations_and_tags():
    n = normalize_sidecar({"annotations": [
        {"slot": "left", "feature": "side_ponytail", "outcome": "migrated", "target": ["right"], "author": "user",
         "created_at": "2026-03-01T10:00:00+00:00"},
        {"slot": "right", "feature": "scrunchie_color", "outcome": "color_drift", "color": "orange"},
        "not an annotation", {"note": "neither feature nor outcome"},
    ], "tags": ["bleed", "keeper", "bleed", " "]})
    assert [(a["feature"], a["outcome"], a["target"]) for a in n.annotations] == [
        ("side_ponytail", "migrated", "right"), ("scrunchie_color", "color_drift", None)]
    assert n.annotations[0]["created_at"].year == 2026
    assert n.tags == ["bleed", "keeper"]
    assert len(n.problems) == 2


def test_field_index_leaves():
    data = genserver_sidecar(extra={"sampler_eta": 0.5, "flags": [True, None]}, use_lora=True)
    vals = {k: (num, text) for k, num, text in normalize_sidecar(data).values}
    assert vals["extra.sampler_eta"] == (0.5, "0.5")
    assert vals["extra.flags.0"] == (1.0, "true")
    assert "extra.flags.1" not in vals  # nulls are skipped
    assert vals["lora_strength"] == (0.6, "0.6")
    assert vals["seed"] == (1293127692.0, "1293127692")
    # characters from the JSON prompt are indexed as if the sidecar listed them
    assert vals["characters.0.name"] == (None, "Kanachan")
    assert vals["characters.1.slot"] == (None, "right")


def test_field_index_cap_keeps_own_keys_before_the_graph():
    graph = {str(i): {"class_type": "X", "inputs": {"a": i, "b": "t"}} for i in range(1000)}
    vals = flatten(genserver_sidecar(workflow_api=graph, zzz_last=1))
    assert len(vals) == MAX_FIELD_LEAVES
    keys = [k for k, _, _ in vals]
    assert "zzz_last" in keys and "seed" in keys
    assert keys[-1].startswith("workflow_api.")


def test_lone_surrogates_become_storable_text():
    data = parse_sidecar(b'{"prompt_en": "bad \\ud800 text", "k\\udc00": "v"}')
    n = normalize_sidecar(data)
    n.fields["prompt_en"].encode("utf-8")
    for k, _num, text in n.values:
        k.encode("utf-8")
        (text or "").encode("utf-8")


def test_not_an_object_is_a_sidecar_error():
    with pytest.raises(SidecarError):
        normalize_sidecar([1, 2])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=15,
)
KEYS = ["seed", "width", "steps", "cfg", "use_lora", "lora_strength", "prompt_en", "characters", "annotations",
        "tags", "created_at", "translation", "sweep", "layout", "named", "rating", "cfg_scale", "text_ja"]


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), json_values, max_size=10))
def test_normalize_never_raises_on_any_json_object(data):
    n = normalize_sidecar(data)
    for k, _num, text in n.values:
        k.encode("utf-8")
        if text is not None:
            text.encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_reader_raises_only_sidecar_error_on_any_bytes(raw):
    try:
        data = parse_sidecar(raw)
    except SidecarError:
        return
    try:
        normalize_sidecar(data)
    except SidecarError:
        pass


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["left_character", "right_character", "characters", "layout", "scene"]),
                       json_values, max_size=4))
def test_any_json_prompt_is_read_without_raising(prompt):
    normalize_sidecar({"prompt_en": json.dumps(prompt)})


def test_deeply_nested_sidecar_is_a_sidecar_error_or_read():
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(SidecarError):
        parse_sidecar(('{"a": ' + deep + "}").encode())
    nested: dict = {}
    cur = nested
    for _ in range(3000):
        cur["x"] = {}
        cur = cur["x"]
    normalize_sidecar({"extra": nested})  # capped depth, no RecursionError
