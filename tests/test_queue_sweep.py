"""Sweep definitions -> jobs: exact axes, the example file, key-hash dedupe on re-queue."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from queue_support import control

from gentui.catalog.db import open_catalog
from gentui.config import Settings
from gentui.queue.axes import AxisError, parse_range, parse_seeds, parse_weights
from gentui.queue.plan import plan_sweep, queue_plan
from gentui.queue.store import JobStore
from gentui.queue.sweep import SweepError, load_sweep_file, sweep_from_dict

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "kana-2girls.toml"


def test_weight_range_is_exact():
    assert parse_weights("0.4:1.2:0.2") == [0.4, 0.6, 0.8, 1.0, 1.2]
    assert parse_range("0:1:0.1") == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert parse_weights("1.2:0.4:-0.4") == [1.2, 0.8, 0.4]
    assert parse_weights([0.6, "0.8", 1]) == [0.6, 0.8, 1.0]
    assert parse_weights("0.6,none") == [0.6, None]


@pytest.mark.parametrize("bad", ["0.4:1.2", "0.4:1.2:0", "a:1:0.1", "1:0:0.1", [], "", True, {"a": 1}])
def test_weight_errors_say_what_is_expected(bad):
    with pytest.raises(AxisError) as e:
        parse_weights(bad)
    assert "weights" in str(e.value)


@given(st.text(max_size=30))
@hsettings(max_examples=200, deadline=None)
def test_weight_parser_never_crashes(text):
    try:
        values = parse_weights(text)
    except AxisError:
        return
    assert all(v is None or isinstance(v, float) for v in values)


def test_seeds():
    assert parse_seeds(1293127692) == [1293127692]
    assert parse_seeds("1,2,2,3") == [1, 2, 3]
    rnd = parse_seeds("random:3", rng=random.Random(1))
    assert len(rnd) == 3 and all(0 <= s < 2**32 for s in rnd)
    with pytest.raises(AxisError):
        parse_seeds(-1)
    with pytest.raises(AxisError):
        parse_seeds("x")


def test_example_reproduces_the_seed_sweep():
    sweep = load_sweep_file(EXAMPLE)
    plan = plan_sweep(sweep, Settings())
    jobs = plan.grid.jobs
    assert [j.params.weight for j in jobs] == [0.4, 0.6, 0.8, 1.0, 1.2]
    assert {j.params.seed for j in jobs} == {1293127692}
    p = jobs[2].params
    assert (p.width, p.height, p.steps, p.cfg, p.sampler, p.scheduler) == (888, 768, 8, 1.0, "er_sde", "simple")
    assert p.unet == "waiANIMA_v10.safetensors" and p.character_lora.name == "kanachan-v4.safetensors"
    assert p.speed_lora.name == "anima-turbo-lora-v0.2.safetensors" and p.speed_lora.strength_model == 1.0
    assert p.layout == "side_by_side" and len(p.characters) == 2
    assert '"left_character"' in p.prompt_src and "kanachan" in p.prompt_src
    assert p.prompt_en == p.prompt_src  # skip_translate
    assert jobs[2].label == "w0.8 s1293127692 named"
    assert len({j.key_hash for j in jobs}) == 5


def test_any_parameter_is_an_axis():
    raw = {"name": "grid", "prompt": {"text": "1girl, red ribbon"},
           "params": {"lora_name": "kanachan-v4.safetensors", "skip_translate": True},
           "axes": {"steps": [8, 12], "seeds": [1, 2], "weights": [0.6, 1.0]}}
    plan = plan_sweep(sweep_from_dict(raw, "grid.toml"), Settings())
    cells = {(j.params.steps, j.params.seed, j.params.weight) for j in plan.grid.jobs}
    assert len(cells) == 8
    assert "steps=12" in plan.grid.jobs[-1].label


@pytest.mark.parametrize("raw, words", [
    ({"name": "x", "prompt": {"text": "a"}, "bogus": 1}, ["bogus", "allowed"]),
    ({"name": "x"}, ["[prompt]"]),
    ({"name": "x", "prompt": {"text": "a"}, "params": {"steps": "eight"}}, ["params.steps", "integer"]),
    ({"name": "x", "prompt": {"text": "a"}, "axes": {"weights": "1:0:0.1"}}, ["axes.weights"]),
    ({"name": "x", "prompt": {"text": "a", "scene": "b"}}, ["prompt", "text"]),
    ({"name": "x", "prompt": {"text": "a"}, "params": {"workflow": "nope", "lora_name": "a"}}, ["workflow", "nope"]),
    ({"name": "x", "prompt": {"text": "a"}, "params": {"no_such_param": 1, "lora_name": "a"}}, ["no_such_param"]),
])
def test_errors_name_file_key_and_expectation(raw, words):
    with pytest.raises(SweepError) as e:
        plan_sweep(sweep_from_dict(raw, "bad.toml"), Settings())
    msg = str(e.value)
    assert msg.startswith("bad.toml")
    for w in words:
        assert w in msg


def test_bad_toml_names_the_file(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("name = \n")
    with pytest.raises(SweepError, match="s.toml: not valid TOML"):
        load_sweep_file(f)


def test_requeue_adds_only_missing_or_failed(tmp_path):
    catalog = open_catalog(tmp_path / "c.db")
    settings = Settings()
    sweep = load_sweep_file(EXAMPLE)
    first = queue_plan(catalog, plan_sweep(sweep, settings, catalog))
    assert len(first.added) == 5
    again = queue_plan(catalog, plan_sweep(sweep, settings, catalog))
    assert again.queued == 0 and again.kept == {"queued": 5}
    ids = first.added
    with catalog.engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE job SET state='done' WHERE id IN (:a, :b)"), {"a": ids[0], "b": ids[1]})
        conn.execute(text("UPDATE job SET state='failed', error='x' WHERE id=:c"), {"c": ids[2]})
    control(catalog).cancel([ids[3]])
    sweep.axes["weights"] = "0.4:1.4:0.2"  # one more cell
    third = queue_plan(catalog, plan_sweep(sweep, settings, catalog))
    assert sorted(third.rearmed) == sorted([ids[2], ids[3]])
    assert len(third.added) == 1
    assert third.kept == {"done": 2, "queued": 1}
    jobs = JobStore(catalog).list(sweep="kana-2girls")
    assert len(jobs) == 6
    assert JobStore(catalog).get(ids[2]).error is None


def test_random_seed_is_recorded_and_reused(tmp_path):
    catalog = open_catalog(tmp_path / "c.db")
    raw = {"name": "r", "prompt": {"text": "1girl"}, "params": {"lora_name": "a.safetensors"},
           "axes": {"seeds": "random", "weights": [0.5, 1.0]}}
    r1 = queue_plan(catalog, plan_sweep(sweep_from_dict(raw, "r.toml"), Settings(), catalog))
    r2 = queue_plan(catalog, plan_sweep(sweep_from_dict(raw, "r.toml"), Settings(), catalog))
    assert len(r1.added) == 2 and r2.queued == 0


def test_variants_and_layouts_transform_the_prompt():
    sweep = load_sweep_file(EXAMPLE)
    sweep.axes = {"variants": ["named", "unnamed", "no_trigger"], "layouts": ["side_by_side", "depth"],
                  "seeds": 1293127692}
    jobs = plan_sweep(sweep, Settings()).grid.jobs
    assert len(jobs) == 6 and len({j.key_hash for j in jobs}) == 6
    by = {(j.params.variant, j.params.layout): j.params for j in jobs}
    assert "Kanachan" in by[("named", "side_by_side")].prompt_src
    assert "Kanachan" not in by[("unnamed", "side_by_side")].prompt_src
    assert "kanachan," not in by[("no_trigger", "side_by_side")].prompt_src
    assert [c["slot"] for c in by[("named", "depth")].characters] == ["front", "back"]
    assert [j.label for j in jobs][:2] == ["w1.0 s1293127692 named side_by_side", "w1.0 s1293127692 named depth"]
    bad = load_sweep_file(EXAMPLE)
    bad.axes = {"variants": ["set:Nobody.name=X"]}
    with pytest.raises(SweepError, match="kana-2girls.toml: prompt"):
        plan_sweep(bad, Settings())


def test_sdxl_jobs_carry_no_speed_lora():
    """The sdxl workflow has no speed LoRA, so its jobs and sidecars never claim one (issue 9, defect 3)."""
    raw = {"name": "x", "prompt": {"text": "1girl, red ribbon"},
           "params": {"workflow": "sdxl", "lora_name": "kanachan-v4.safetensors", "skip_translate": True},
           "axes": {"weights": [0.6, 1.0]}}
    jobs = plan_sweep(sweep_from_dict(raw, "x.toml"), Settings()).grid.jobs
    for j in jobs:
        assert j.params.speed_lora is None and j.params.character_lora.name == "kanachan-v4.safetensors"
        side = j.params.sidecar_fields()
        assert side["use_speed_lora"] is False and side["speed_lora_name"] is None
        assert [lo["role"] for lo in side["loras"]] == ["character"]
    raw["params"]["use_speed_lora"] = True
    with pytest.raises(SweepError, match="workflow 'sdxl' has no speed LoRA"):
        plan_sweep(sweep_from_dict(raw, "x.toml"), Settings())


def test_no_lora_means_no_weight_everywhere():
    """`weights = none` and --no-lora give a job without a character LoRA: no weight in label, hash or record."""
    raw = {"name": "x", "prompt": {"text": "1girl"}, "params": {"lora_name": "kanachan-v4.safetensors"},
           "axes": {"weights": ["none", 0.8]}}
    off, on = plan_sweep(sweep_from_dict(raw, "x.toml"), Settings()).grid.jobs
    assert off.params.character_lora is None and off.params.weight is None and off.label.startswith("wnone ")
    assert off.params.columns()["lora_strength"] is None and off.params.columns()["use_lora"] is False
    assert on.params.weight == 0.8 and on.label.startswith("w0.8 ")
    assert off.key_hash != on.key_hash


MULTI = Path(__file__).resolve().parents[1] / "examples" / "kana-reina-2loras.toml"


def test_two_character_loras_each_with_its_own_weight_axis():
    plan = plan_sweep(load_sweep_file(MULTI), Settings())
    jobs = plan.grid.jobs
    assert len(jobs) == 10 and len({j.key_hash for j in jobs}) == 10
    pairs = {(j.params.weight_of("Kanachan"), j.params.weight_of("Reina")) for j in jobs}
    assert pairs == {(k, r) for k in (0.4, 0.6, 0.8, 1.0, 1.2) for r in (0.6, 0.8)}
    p = jobs[0].params
    assert [(lo.name, lo.character, lo.role) for lo in p.loras] == [
        ("kanachan-v4.safetensors", "Kanachan", "character"), ("reina-v1.safetensors", "Reina", "character"),
        ("anima-turbo-lora-v0.2.safetensors", None, "speed")]
    assert jobs[0].label == "wKanachan0.4+Reina0.6 s1293127692"
    side = p.sidecar_fields()
    assert side["lora_name"] == "kanachan-v4.safetensors" and side["lora_strength"] == 0.4  # the old keys: the first
    assert [lo["character"] for lo in side["loras"]] == ["Kanachan", "Reina", None]


def _sweep(**changes):
    raw = {"name": "x", "prompt": {"text": "2girls"}, "params": {"skip_translate": True,
           "loras": [{"name": "kanachan-v4.safetensors", "character": "Kanachan"},
                     {"name": "reina-v1.safetensors", "character": "Reina", "strength": 0.7}]},
           "axes": {"weight.kanachan": [0.5, 1.0]}}
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if value is None:
            raw[section].pop(name, None)
        else:
            raw[section][name] = value
    return plan_sweep(sweep_from_dict(raw, "x.toml"), Settings())


def test_a_lora_stack_takes_its_strengths_from_axes_entries_or_the_workflow():
    jobs = _sweep().grid.jobs
    assert [(j.params.weight_of("Kanachan"), j.params.weight_of("reina-v1")) for j in jobs] == [(0.5, 0.7), (1.0, 0.7)]
    none = _sweep(**{"axes__weight.Reina": ["none", 0.6]}).grid.jobs
    assert {(j.params.weight_of("Kanachan"), j.params.weight_of("Reina")) for j in none} == {
        (0.5, None), (0.5, 0.6), (1.0, None), (1.0, 0.6)}  # `none`: that cell runs without Reina's LoRA
    plain = _sweep(**{"params__loras": [{"name": "kanachan-v4.safetensors"}], "axes__weight.kanachan": None,
                      "axes__weights": [0.6, 0.8]}).grid.jobs
    assert [j.params.weight for j in plain] == [0.6, 0.8]  # a plain weights axis: the one character LoRA


@pytest.mark.parametrize("changes, words", [
    ({"axes__weights": [0.6]}, ["axes.weights", "2 character LoRAs", "weight.Kanachan", "weight.Reina"]),
    ({"axes__weight.Nobody": [0.6]}, ["axes.weight.Nobody", "Kanachan, Reina"]),
    ({"params__lora_name": "x.safetensors"}, ["either lora_name", "[[params.loras]]"]),
    ({"params__loras": [{"character": "Kanachan"}]}, ["params.loras[0]", "name"]),
    ({"params__loras": [{"name": "a", "strength": "high"}]}, ["params.loras[0].strength", "number"]),
])
def test_lora_stack_mistakes_name_the_key(changes, words):
    with pytest.raises(SweepError) as e:
        _sweep(**changes)
    for w in words:
        assert w in str(e.value)


def test_characters_may_name_their_own_lora():
    raw = {"name": "c", "prompt": {"scene": "2girls", "characters": [
        {"name": "Kanachan", "lora": "kanachan-v4.safetensors", "appearance": "side ponytail"},
        {"name": "Reina", "lora": "reina-v1.safetensors", "appearance": "long black hair"}]},
        "params": {"skip_translate": True}, "axes": {"weight.Reina": [0.6, 0.8]}}
    jobs = plan_sweep(sweep_from_dict(raw, "c.toml"), Settings()).grid.jobs
    assert [(lo.character, lo.strength_model) for lo in jobs[1].params.character_loras] == [("Kanachan", 1.0),
                                                                                             ("Reina", 0.8)]
    assert "reina-v1" not in jobs[0].params.prompt_src  # a LoRA file is not prompt text
