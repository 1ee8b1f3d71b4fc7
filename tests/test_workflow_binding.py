"""Workflow pairs: title lookup, defaults, bypass rewiring, and errors that name file and key."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from gentui.backends.workflow import (
    WorkflowError,
    list_workflows,
    load_binding,
    load_workflow,
)
from gentui.config import Settings


@pytest.fixture
def settings():
    return Settings()


def _links_to(graph, node_id):
    return [
        (nid, name)
        for nid, node in graph.items()
        for name, v in node["inputs"].items()
        if isinstance(v, list) and len(v) == 2 and str(v[0]) == node_id
    ]


def _node_by_title(graph, title):
    return next(nid for nid, n in graph.items() if n.get("_meta", {}).get("title") == title)


def test_builtin_workflows_listed(settings):
    names = list_workflows(settings)
    assert "anima" in names and "sdxl" in names


def test_anima_defaults_match_the_reference_model(settings):
    wf = load_workflow("anima", settings)
    d = wf.defaults
    assert d["unet"] == "waiANIMA_v10.safetensors"
    assert d["text_encoder"] == "qwen_3_06b_base.safetensors"
    assert d["vae"] == "qwen_image_vae.safetensors"
    assert d["speed_lora_name"] == "anima-turbo-lora-v0.2.safetensors" and d["speed_lora_strength"] == 1.0
    assert (d["steps"], d["cfg"], d["sampler"], d["scheduler"]) == (8, 1.0, "er_sde", "simple")
    assert (d["width"], d["height"]) == (888, 768)
    assert d["use_lora"] is True and d["use_speed_lora"] is True
    classes = {n["class_type"] for n in wf.graph.values()}
    assert {"UNETLoader", "CLIPLoader", "VAELoader", "LoraLoaderModelOnly", "KSampler", "SaveImage"} <= classes


def test_bind_sets_inputs_by_title_and_prompt_en_feeds_positive(settings):
    wf = load_workflow("anima", settings)
    g = wf.bind({"prompt_en": "2girls, side ponytail", "seed": 1293127692, "lora_name": "kana.safetensors",
                 "lora_strength": 0.6000000000000001, "steps": "12", "layout": "side_by_side", "characters": []})
    assert g[_node_by_title(g, "Positive Prompt")]["inputs"]["text"] == "2girls, side ponytail"
    ks = g[_node_by_title(g, "KSampler")]["inputs"]
    assert ks["seed"] == 1293127692 and ks["steps"] == 12
    lora = g[_node_by_title(g, "Character LoRA")]["inputs"]
    assert lora["lora_name"] == "kana.safetensors" and lora["strength_model"] == pytest.approx(0.6)
    # the workflow object itself is untouched (bind deep-copies)
    assert wf.graph[_node_by_title(wf.graph, "Positive Prompt")]["inputs"]["text"] == ""


def test_sdxl_strength_goes_to_model_and_clip(settings):
    wf = load_workflow("sdxl", settings)
    g = wf.bind({"lora_name": "kana.safetensors", "lora_strength": 0.8})
    lora = g[_node_by_title(g, "Character LoRA")]["inputs"]
    assert lora["strength_model"] == 0.8 and lora["strength_clip"] == 0.8
    assert g[_node_by_title(g, "Checkpoint")]["inputs"]["ckpt_name"] == "waiIllustriousSDXL_v160.safetensors"


def test_use_lora_false_rewires_consumers_and_removes_node(settings):
    wf = load_workflow("sdxl", settings)
    g = wf.bind({"use_lora": False, "lora_name": "ignored.safetensors"})
    assert "Character LoRA" not in {n["_meta"]["title"] for n in g.values()}
    ckpt = _node_by_title(g, "Checkpoint")
    ks = g[_node_by_title(g, "KSampler")]["inputs"]
    assert ks["model"] == [ckpt, 0]
    assert g[_node_by_title(g, "Positive Prompt")]["inputs"]["clip"] == [ckpt, 1]
    assert g[_node_by_title(g, "Negative Prompt")]["inputs"]["clip"] == [ckpt, 1]
    # an empty LoRA name is fine when the LoRA is bypassed
    wf.bind({"use_lora": False})


def test_both_loras_off_chains_through_to_the_unet(settings):
    wf = load_workflow("anima", settings)
    g = wf.bind({"use_lora": "false", "use_speed_lora": False})
    unet = _node_by_title(g, "Diffusion Model")
    assert g[_node_by_title(g, "KSampler")]["inputs"]["model"] == [unet, 0]
    assert not any(n["class_type"] == "LoraLoaderModelOnly" for n in g.values())
    # no dangling links anywhere
    for node in g.values():
        for v in node["inputs"].values():
            if isinstance(v, list) and len(v) == 2 and isinstance(v[1], int):
                assert str(v[0]) in g


def test_speed_lora_off_uses_the_non_turbo_defaults_unless_given(settings):
    wf = load_workflow("anima", settings)
    vals = wf.resolve({"use_speed_lora": False, "lora_name": "k.safetensors"})
    assert (vals["steps"], vals["cfg"]) == (30, 4.0)
    vals = wf.resolve({"use_speed_lora": False, "steps": 20})
    assert (vals["steps"], vals["cfg"]) == (20, 4.0)
    g = wf.bind({"use_speed_lora": False, "lora_name": "k.safetensors"})
    assert _links_to(g, _node_by_title(g, "Diffusion Model")) == [(_node_by_title(g, "Character LoRA"), "model")]


def test_empty_character_lora_is_refused_with_a_hint(settings):
    wf = load_workflow("anima", settings)
    with pytest.raises(WorkflowError, match=r"lora_name.*use_lora = false"):
        wf.bind({})


def test_extra_params_bind_and_unknown_ones_list_the_parameters(settings):
    wf = load_workflow("anima", settings)
    g = wf.bind({"lora_name": "k.safetensors", "extra": {"denoise": "0.5", "unet": "other.safetensors"}})
    assert g[_node_by_title(g, "KSampler")]["inputs"]["denoise"] == 0.5
    assert g[_node_by_title(g, "Diffusion Model")]["inputs"]["unet_name"] == "other.safetensors"
    with pytest.raises(WorkflowError) as ei:
        wf.bind({"lora_name": "k.safetensors", "extra": {"sampler_eta": 1}})
    msg = str(ei.value)
    assert "sampler_eta" in msg and "lora_strength" in msg and "anima.toml" in msg


def test_bad_values_are_refused(settings):
    wf = load_workflow("anima", settings)
    with pytest.raises(WorkflowError, match="steps"):
        wf.bind({"lora_name": "k", "steps": "many"})
    with pytest.raises(WorkflowError, match="use_lora"):
        wf.bind({"use_lora": "maybe"})


def test_required_models_per_folder(settings):
    wf = load_workflow("sdxl", settings)
    assert wf.required_models({"lora_name": "kana.safetensors"}) == {
        "checkpoints": ["waiIllustriousSDXL_v160.safetensors"], "loras": ["kana.safetensors"]}
    assert wf.required_models({"use_lora": False}) == {"checkpoints": ["waiIllustriousSDXL_v160.safetensors"]}


def _write_pair(d, name, graph, toml):
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.json").write_text(json.dumps(graph))
    (d / f"{name}.toml").write_text(toml)
    return d / f"{name}.toml"


GRAPH = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"}, "_meta": {"title": "Ckpt"}},
    "2": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "seed": 3, "steps": 10}, "_meta": {"title": "Sampler"}},
}


def test_user_workflow_overrides_builtin_and_binds_by_id(settings, tmp_path):
    settings.paths.workflows_dir = str(tmp_path / "wf")
    _write_pair(tmp_path / "wf", "anima", GRAPH, '[params]\nseed = { node = 2, input = "seed" }\n'
                'steps = { node = "Sampler", input = "steps", default = 4 }\n')
    wf = load_workflow("anima", settings)
    assert wf.defaults == {"seed": 3, "steps": 4}
    assert wf.bind({"seed": 9})["2"]["inputs"] == {"model": ["1", 0], "seed": 9, "steps": 4}
    assert list_workflows(settings)[0] == "anima"


@pytest.mark.parametrize(
    "toml, expect",
    [
        ('[params]\nseed = { node = "Nope", input = "seed" }\n', r"params\.seed\.node = 'Nope' matches no node.*Ckpt, Sampler"),
        ('[params]\nseed = { node = "Sampler", input = "sed" }\n', r"params\.seed\.input = 'sed'.*seed, steps"),
        ('[params]\nseed = { node = "Sampler", input = "model" }\n', r"params\.seed\.input = 'model' is a link"),
        ('[params]\nseed = { node = "Sampler" }\n', r"params\.seed needs both node and input"),
        ('[params]\nseed = "Sampler"\n', r"params\.seed must be a table"),
        ('[params\nseed = 1\n', r"not valid TOML"),
        ('[switches]\nuse_x = { bypass = "Sampler" }\n', r"switches\.use_x.*through"),
        ('[switches]\nuse_x = { bypass = "Ghost" }\n', r"switches\.use_x\.bypass = 'Ghost'"),
        ('[other]\n', r"unknown section"),
        ('[workflow]\ngraph = "missing.json"\n', r"workflow\.graph = 'missing\.json'.*graph file not found"),
    ],
)
def test_binding_errors_name_the_file_and_key(tmp_path, toml, expect):
    path = _write_pair(tmp_path, "mine", GRAPH, toml)
    with pytest.raises(WorkflowError, match=expect) as ei:
        load_binding(path)
    assert "mine" in str(ei.value)


def test_ui_format_graph_is_refused_with_advice(tmp_path):
    path = _write_pair(tmp_path, "ui", {"nodes": [], "links": []}, "")
    with pytest.raises(WorkflowError, match="Export \\(API\\)"):
        load_binding(path)


def test_unknown_workflow_lists_available(settings):
    with pytest.raises(WorkflowError, match="available: .*anima"):
        load_workflow("nosuch", settings)
    with pytest.raises(WorkflowError, match="plain name"):
        load_workflow("../etc/passwd", settings)


@hsettings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12), st.one_of(st.none(), st.integers(), st.text(max_size=8), st.booleans(), st.floats(allow_nan=False)), max_size=5))
def test_hostile_extra_params_give_workflow_errors_only(extra):
    wf = load_workflow("sdxl", Settings())
    try:
        wf.bind({"lora_name": "k.safetensors", "extra": extra})
    except WorkflowError:
        pass
