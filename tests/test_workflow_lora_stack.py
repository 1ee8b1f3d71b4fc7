"""A job's LoRA stack applied to a graph: loaders chained in order, consumers rewired, checked as ComfyUI checks."""

from __future__ import annotations

import json

import pytest

from gentui.backends.workflow import WorkflowError, load_binding, load_workflow
from gentui.config import Settings
from gentui.params import JobParams, Lora

KANA = Lora("kanachan-v4.safetensors", 0.8, character="Kanachan")
REINA = Lora("reina-v1.safetensors", 0.6, strength_clip=0.5, character="Reina")
SPEED = Lora("anima-turbo-lora-v0.2.safetensors", 1.0, role="speed")


def _bind(workflow: str, *loras: Lora) -> dict:
    params = JobParams(workflow=workflow, seed=1, prompt_en="2girls", loras=loras)
    return load_workflow(workflow, Settings()).bind(params.binding_values())


def _by_lora(graph: dict, name: str) -> str:
    return next(nid for nid, n in graph.items() if n["inputs"].get("lora_name") == name)


def _class(graph: dict, cls: str) -> str:
    return next(nid for nid, n in graph.items() if n["class_type"] == cls)


def test_anima_chains_model_only_loaders_after_the_speed_lora():
    g = _bind("anima", KANA, REINA, SPEED)
    speed, kana, reina = (_by_lora(g, lo.name) for lo in (SPEED, KANA, REINA))
    assert g[kana]["inputs"]["model"] == [speed, 0]  # the template keeps its place in the chain
    assert g[reina]["inputs"]["model"] == [kana, 0]
    assert g[reina]["class_type"] == "LoraLoaderModelOnly" and "clip" not in g[reina]["inputs"]
    assert (g[kana]["inputs"]["strength_model"], g[reina]["inputs"]["strength_model"]) == (0.8, 0.6)
    assert g[_class(g, "KSampler")]["inputs"]["model"] == [reina, 0]  # the sampler gets the end of the chain
    assert g[kana]["_meta"]["title"] == "Character LoRA (Kanachan)" and "Reina" in g[reina]["_meta"]["title"]
    assert len(g) == 12


def test_sdxl_chains_model_and_clip():
    g = _bind("sdxl", KANA, REINA)
    kana, reina = _by_lora(g, KANA.name), _by_lora(g, REINA.name)
    ckpt = _class(g, "CheckpointLoaderSimple")
    assert g[kana]["inputs"]["model"] == [ckpt, 0] and g[kana]["inputs"]["clip"] == [ckpt, 1]
    assert g[reina]["inputs"]["model"] == [kana, 0] and g[reina]["inputs"]["clip"] == [kana, 1]
    assert (g[kana]["inputs"]["strength_clip"], g[reina]["inputs"]["strength_clip"]) == (0.8, 0.5)
    encoders = [n for n in g.values() if n["class_type"] == "CLIPTextEncode"]
    assert {tuple(n["inputs"]["clip"]) for n in encoders} == {(reina, 1)}
    assert g[_class(g, "KSampler")]["inputs"]["model"] == [reina, 0]


def test_no_character_lora_bypasses_the_template():
    g = _bind("anima", SPEED)
    assert all(n["inputs"].get("lora_name") != "" for n in g.values())
    assert g[_class(g, "KSampler")]["inputs"]["model"] == [_by_lora(g, SPEED.name), 0]
    one = _bind("anima", KANA, SPEED)
    assert g.keys() < one.keys() or len(one) == len(g) + 1


def test_a_binding_without_a_stack_takes_one_lora_and_says_how_to_take_more(tmp_path):
    sdxl = load_workflow("sdxl", Settings())
    (tmp_path / "sdxl.json").write_text(sdxl.graph_path.read_text())
    (tmp_path / "mine.toml").write_text(sdxl.binding_path.read_text().split("[loras]")[0])  # an older binding
    wf = load_binding(tmp_path / "mine.toml")
    one = wf.bind(JobParams(workflow="mine", loras=(KANA,)).binding_values())
    assert one[_by_lora(one, KANA.name)]["inputs"]["strength_model"] == 0.8
    with pytest.raises(WorkflowError, match=r"takes one character LoRA and this job has 2.*\[loras\]"):
        wf.bind(JobParams(workflow="mine", loras=(KANA, REINA)).binding_values())


def test_a_stack_after_a_model_source_for_a_graph_without_lora_nodes(tmp_path):
    graph = json.loads(open(load_workflow("sdxl", Settings()).graph_path).read())
    del graph["2"]  # no LoRA loader at all: the checkpoint feeds the sampler and the encoders directly
    for n in graph.values():
        for k, v in n["inputs"].items():
            if isinstance(v, list) and v[0] == "2":
                n["inputs"][k] = ["1", v[1]]
    (tmp_path / "bare.json").write_text(json.dumps(graph))
    (tmp_path / "bare.toml").write_text('[params]\npositive = { node = "Positive Prompt", input = "text" }\n\n'
                                        '[loras]\ncharacter = { after = "Checkpoint", class = "LoraLoader" }\n')
    wf = load_binding(tmp_path / "bare.toml")
    g = wf.bind(JobParams(loras=(KANA, REINA)).binding_values())
    kana, reina = _by_lora(g, KANA.name), _by_lora(g, REINA.name)
    assert g[kana]["inputs"]["model"] == ["1", 0] and g[kana]["inputs"]["clip"] == ["1", 1]
    assert g[reina]["inputs"]["model"] == [kana, 0]
    assert g[_class(g, "KSampler")]["inputs"]["model"] == [reina, 0]
    assert {tuple(n["inputs"]["clip"]) for n in g.values() if n["class_type"] == "CLIPTextEncode"} == {(reina, 1)}
    assert g[_class(g, "VAEDecode")]["inputs"]["vae"] == ["1", 2]  # other outputs of the source stay
    assert wf.bind(JobParams().binding_values()) == graph


def test_stack_mistakes_name_the_file_and_key(tmp_path):
    graph = open(load_workflow("anima", Settings()).graph_path).read()
    (tmp_path / "w.json").write_text(graph)
    for body, words in (('character = { node = "KSampler" }', "not one of LoraLoader"),
                        ('character = { node = "Nope" }', "matches no node"),
                        ('character = { after = "Diffusion Model", class = "Lora" }', "class = 'Lora'"),
                        ('extra = 1', "takes one key")):
        (tmp_path / "w.toml").write_text(f"[loras]\n{body}\n")
        with pytest.raises(WorkflowError, match=words):
            load_binding(tmp_path / "w.toml")
