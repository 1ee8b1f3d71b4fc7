"""JobParams: one typed value for a job's parameters, and every form it takes (row, sidecar, columns)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gentui.params import CHARACTER, SPEED, JobParams, Lora, ParamError, format_weight

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
weights = st.decimals(min_value=-2, max_value=3, places=2).map(float)
loras = st.builds(Lora, name=names, strength_model=weights, strength_clip=st.none() | weights,
                  role=st.just(CHARACTER), character=st.none() | names)
params = st.builds(
    JobParams,
    workflow=st.none() | st.sampled_from(["anima", "sdxl", "mflux"]),
    unet=st.none() | names,
    loras=st.tuples(loras) | st.tuples(loras, st.builds(Lora, name=names, strength_model=weights, role=st.just(SPEED)))
    | st.just(()),
    seed=st.none() | st.integers(0, 2**63 - 1),
    width=st.none() | st.integers(16, 4096),
    steps=st.none() | st.integers(1, 200),
    cfg=st.none() | weights,
    prompt_src=st.none() | st.text(max_size=40),
    variant=st.none() | st.sampled_from(["named", "unnamed", "no_trigger"]),
    characters=st.lists(st.fixed_dictionaries({"slot": st.sampled_from(["left", "right"]), "name": names}),
                        max_size=3).map(tuple),
    extra=st.dictionaries(st.sampled_from(["denoise", "shift"]), weights, max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(params)
def test_job_row_form_round_trips_exactly(p):
    row = json.loads(json.dumps(p.to_json()))  # what SQLite's JSON column gives back
    back = JobParams.from_json(row)
    assert back == p and back.key_hash() == p.key_hash()


@settings(max_examples=150, deadline=None)
@given(params)
def test_sidecar_form_reads_back_the_same_parameters(p):
    side = json.loads(json.dumps(p.sidecar_fields()))
    back, problems = JobParams.from_sidecar(side)
    assert problems == []
    assert back.loras == p.loras and back.seed == p.seed and back.cfg == p.cfg and back.unet == p.unet
    assert back.columns() == p.columns()


def test_the_hash_ignores_translation_but_not_parameters():
    p = JobParams(seed=1, prompt_src="こんにちは", loras=(Lora("k.safetensors", 0.8),))
    assert p.with_(prompt_en="hello", translation={"model": "m"}).key_hash() == p.key_hash()
    assert p.with_(seed=2).key_hash() != p.key_hash()
    assert p.with_(loras=(Lora("k.safetensors", 0.6),)).key_hash() != p.key_hash()


def test_weights_are_exact_and_shown_one_way():
    assert Lora("k", 0.6000000000000001).strength_model == 0.6
    assert JobParams(loras=(Lora("k", 0.1 + 0.2),)).weight == 0.3
    assert [format_weight(w) for w in (0.6, 1, 1.0, None)] == ["0.6", "1.0", "1.0", "none"]
    with pytest.raises(ParamError):
        Lora("k", float("nan"))


def test_flat_form_no_lora_means_no_weight():
    base = {"lora_name": "k.safetensors", "lora_strength": 0.8, "use_speed_lora": True,
            "speed_lora_name": "turbo.safetensors", "speed_lora_strength": 1.0}
    p = JobParams.from_flat(base)
    assert p.weight == 0.8 and p.speed_lora.name == "turbo.safetensors"
    off = JobParams.from_flat({**base, "use_lora": False})
    assert off.character_lora is None and off.weight is None and off.binding_values()["lora_strength"] is None
    no_speed_file = JobParams.from_flat({**base, "speed_lora_name": None})
    assert no_speed_file.speed_lora is None  # a speed LoRA needs a file: it cannot be recorded without one
    with pytest.raises(ParamError):
        JobParams(loras=(Lora("a", 1, role=SPEED), Lora("b", 1, role=SPEED)))


def test_genserver_sidecar_keys_keep_their_meaning():
    p, problems = JobParams.from_sidecar({"model": "wai.safetensors", "seed": 7, "cfg_scale": 4.5, "use_lora": True,
                                          "lora_strength": 0.6000000000000001, "use_speed_lora": True,
                                          "text_ja": "女の子"})
    assert problems == []
    cols = p.columns()
    assert (cols["model"], cols["seed"], cols["cfg"], cols["lora_strength"]) == ("wai.safetensors", 7, 4.5, 0.6)
    assert cols["use_lora"] is True and cols["lora_name"] is None  # genserver never wrote the file name
    assert cols["use_speed_lora"] is True and cols["prompt_src"] == "女の子"


hostile = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
keys = st.sampled_from(["seed", "cfg", "loras", "use_lora", "lora_strength", "lora_name", "use_speed_lora",
                        "speed_lora_name", "characters", "extra", "sweep", "width", "model", "unet", "x"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, hostile, max_size=8))
def test_any_sidecar_reads_without_raising(data):
    p, problems = JobParams.from_sidecar(data)
    assert isinstance(problems, list)
    json.dumps(p.to_json(), default=str)
    p.columns()
