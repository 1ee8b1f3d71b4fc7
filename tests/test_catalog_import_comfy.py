"""ComfyUI PNGs: graphs followed from the sampler, PNGs written the way ComfyUI writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from catalog_import_fixtures import PROMPT_EN, anima_graph, comfy_png
from hypothesis import given, settings
from hypothesis import strategies as st

from gentui.catalog.comfy_png import (
    PngTextError,
    lora_kind,
    png_text_chunks,
    sidecar_from_graph,
    sidecar_from_png_text,
)
from gentui.catalog.db import open_catalog
from gentui.catalog.importer import import_paths, index_image
from gentui.config import load_settings

TRANSCRIPTS = Path("/work/shared/comfyui-transcripts")


def _captured_graph() -> dict:
    path = TRANSCRIPTS / "txt2img_lora_0.4.json"
    if not path.exists():  # pragma: no cover - the captures live outside the repo
        pytest.skip("captures not available")
    events = json.loads(path.read_text())["events"]
    post = next(e for e in events if e.get("src") == "http" and e.get("path") == "/prompt" and e.get("method") == "POST")
    return post["request_json"]["prompt"]


def test_captured_sd15_graph_with_lora_loader():
    d, problems = sidecar_from_graph(_captured_graph())
    assert problems == []
    assert (d["seed"], d["steps"], d["cfg"], d["sampler"], d["scheduler"]) == (42, 2, 7.0, "euler", "normal")
    assert d["model"] == d["checkpoint"] == "random_sd15_tiny.safetensors"
    assert (d["lora_name"], d["lora_strength"], d["use_lora"]) == ("random_lora_sd15_tiny.safetensors", 0.4, True)
    assert d["prompt_en"] == "a photo of a cat" and d["negative"] == "blurry, low quality"
    assert (d["width"], d["height"]) == (64, 64)


def test_anima_chain_turbo_and_character_lora():
    d, _ = sidecar_from_graph(anima_graph(char_strength=0.6000000000000001))
    assert d["unet"] == d["model"] == "anima-base-v1.0.safetensors"
    assert (d["speed_lora_name"], d["speed_lora_strength"]) == ("anima-turbo-lora-v0.2.safetensors", 1.0)
    assert (d["lora_name"], d["use_lora"]) == ("kanachan-v4.safetensors", True)
    assert [x["kind"] for x in d["loras"]] == ["speed", "character"]
    assert d["prompt_en"] == PROMPT_EN
    assert d["text_encoder"] == "qwen_3_06b_base.safetensors"


def test_ids_are_followed_not_guessed():
    """Renumbered nodes, a second (hires) sampler and a decoy LoRA loader that is not wired in."""
    g = anima_graph()
    ren = {k: str(int(k) * 7 + 100) for k in g}
    g2 = {}
    for k, node in g.items():
        inputs = {n: ([ren[v[0]], v[1]] if isinstance(v, list) else v) for n, v in node["inputs"].items()}
        g2[ren[k]] = {**node, "inputs": inputs}
    g2["1"] = {"class_type": "LoraLoaderModelOnly", "inputs": {"model": [ren["1"], 0], "lora_name": "decoy.safetensors",
                                                               "strength_model": 2.0}}
    g2["2"] = {"class_type": "LatentUpscale", "inputs": {"samples": [ren["12"], 0], "upscale_method": "nearest-exact",
                                                         "width": 1776, "height": 1536, "crop": "disabled"}}
    g2["0"] = {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 4, "cfg": 1.0, "sampler_name": "euler",
                                                    "scheduler": "simple", "denoise": 0.4, "model": [ren["3"], 0],
                                                    "positive": [ren["5"], 0], "negative": [ren["6"], 0],
                                                    "latent_image": ["2", 0]}}
    d, _ = sidecar_from_graph(g2)
    assert d["seed"] == 1293127692 and (d["width"], d["height"]) == (888, 768)
    assert "decoy.safetensors" not in json.dumps(d["loras"])
    assert d["n_samplers"] == 2


def test_sampler_custom_advanced_with_primitives_and_combine():
    g = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux.safetensors"}},
        "2": {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_name": "sub/Hyper-FLUX-8steps.safetensors",
                                                     "strength_model": 0.125, "strength_clip": 1.0}},
        "3": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "a girl with a blue ribbon"}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": ["3", 0], "clip": ["2", 1]}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "sunset", "clip": ["2", 1]}},
        "6": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["4", 0], "conditioning_2": ["5", 0]}},
        "7": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["6", 0], "guidance": 3.5}},
        "8": {"class_type": "BasicGuider", "inputs": {"model": ["2", 0], "conditioning": ["7", 0]}},
        "9": {"class_type": "PrimitiveInt", "inputs": {"value": 777}},
        "10": {"class_type": "RandomNoise", "inputs": {"noise_seed": ["9", 0]}},
        "11": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "12": {"class_type": "BasicScheduler", "inputs": {"model": ["2", 0], "scheduler": "simple", "steps": 20, "denoise": 1.0}},
        "13": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 1024, "height": 768, "batch_size": 1}},
        "14": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["10", 0], "guider": ["8", 0], "sampler": ["11", 0],
                                                                 "sigmas": ["12", 0], "latent_image": ["13", 0]}},
    }
    d, problems = sidecar_from_graph(g)
    assert problems == []
    assert (d["seed"], d["steps"], d["sampler"], d["scheduler"]) == (777, 20, "euler", "simple")
    assert d["prompt_en"] == "a girl with a blue ribbon\nsunset"
    assert (d["width"], d["height"]) == (1024, 768)
    assert d["use_lora"] is False and d["speed_lora_name"] == "sub/Hyper-FLUX-8steps.safetensors"
    assert d["flux_guidance"] == 3.5


def test_lora_kind_rule():
    assert lora_kind("anima-turbo-lora-v0.2.safetensors") == "speed"
    assert lora_kind("sdxl_lightning_8step_lora.safetensors") == "speed"
    assert lora_kind("loras/LCM_LoRA_SDXL.safetensors") == "speed"
    assert lora_kind("kanachan-v4.safetensors") == "character"


def test_png_written_like_comfyui_is_imported(tmp_path):
    img = comfy_png(tmp_path / "out" / "ComfyUI_00001_.png", anima_graph(char_strength=1.2),
                    workflow={"nodes": [], "links": [], "version": 0.4})
    texts, size = png_text_chunks(img.read_bytes())
    assert set(texts) == {"prompt", "workflow"} and size == (64, 48)
    cat = open_catalog(tmp_path / "c.db")
    rid = index_image(cat, img, tmp_path / "thumbs")
    con = cat.engine.raw_connection()
    row = con.execute("SELECT source_format, seed, lora_name, lora_strength, speed_lora_strength, model, sampler, "
                      "width, height, n_characters, named, layout, backend FROM result WHERE id=?", (rid,)).fetchone()
    assert row == ("comfyui_png", 1293127692, "kanachan-v4.safetensors", 1.2, 1.0, "anima-base-v1.0.safetensors",
                   "er_sde", 888, 768, 2, 1, "side_by_side", "comfyui")
    keys = {k for (k,) in con.execute("SELECT key FROM field_value WHERE result_id=?", (rid,))}
    assert "workflow_api.12.inputs.seed" in keys and "loras.1.name" in keys
    con.close()
    assert not img.with_suffix(".json").exists()  # the image is never given a sidecar just for importing


def test_builtin_workflow_graph_bound_by_gentui(tmp_path):
    from gentui.backends.workflow import load_workflow

    wf = load_workflow("anima", load_settings(None))
    graph = wf.bind({"positive": "a girl", "seed": 9, "lora_name": "kanachan-v4.safetensors", "lora_strength": 0.8})
    d, _ = sidecar_from_graph(graph)
    assert (d["seed"], d["lora_name"], d["lora_strength"], d["prompt_en"]) == (9, "kanachan-v4.safetensors", 0.8, "a girl")


def test_ui_workflow_only_is_read_best_effort():
    ui = {
        "nodes": [
            {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": ["wai.safetensors"], "inputs": [], "mode": 0},
            {"id": 10, "type": "LoraLoader", "widgets_values": ["lily.safetensors", 0.8, 1.0], "mode": 0,
             "inputs": [{"name": "model", "link": 1}, {"name": "clip", "link": 2}]},
            {"id": 11, "type": "LoraLoader", "widgets_values": ["bypassed.safetensors", 1.0, 1.0], "mode": 4,
             "inputs": [{"name": "model", "link": 3}, {"name": "clip", "link": 4}]},
            {"id": 6, "type": "CLIPTextEncode", "widgets_values": ["1girl, blue ribbon"], "inputs": [{"name": "clip", "link": 5}]},
            {"id": 7, "type": "CLIPTextEncode", "widgets_values": ["lowres"], "inputs": [{"name": "clip", "link": 5}]},
            {"id": 5, "type": "EmptyLatentImage", "widgets_values": [832, 1216, 1], "inputs": []},
            {"id": 3, "type": "KSampler", "widgets_values": [1234, "randomize", 28, 6.5, "euler_ancestral", "normal", 1],
             "inputs": [{"name": "model", "link": 6}, {"name": "positive", "link": 7}, {"name": "negative", "link": 8},
                        {"name": "latent_image", "link": 9}]},
        ],
        "links": [[1, 4, 0, 10, 0, "MODEL"], [2, 4, 1, 10, 1, "CLIP"], [3, 10, 0, 11, 0, "MODEL"],
                  [4, 10, 1, 11, 1, "CLIP"], [5, 11, 1, 6, 0, "CLIP"], [6, 11, 0, 3, 0, "MODEL"],
                  [7, 6, 0, 3, 1, "CONDITIONING"], [8, 7, 0, 3, 2, "CONDITIONING"], [9, 5, 0, 3, 3, "LATENT"]],
    }
    d, problems = sidecar_from_png_text({"workflow": json.dumps(ui)})
    assert any("UI `workflow`" in p for p in problems)
    assert (d["seed"], d["steps"], d["cfg"], d["sampler"]) == (1234, 28, 6.5, "euler_ancestral")
    assert (d["lora_name"], d["lora_strength"], d["model"]) == ("lily.safetensors", 0.8, "wai.safetensors")
    assert [x["name"] for x in d["loras"]] == ["lily.safetensors"]
    assert (d["prompt_en"], d["negative"], d["width"], d["height"]) == ("1girl, blue ribbon", "lowres", 832, 1216)


def test_bad_chunks_are_problems_not_crashes():
    d, problems = sidecar_from_png_text({"prompt": "{not json", "workflow": "[]"})
    assert d is None and len(problems) == 2
    d, problems = sidecar_from_png_text({"prompt": json.dumps({"1": {"class_type": "SaveImage", "inputs": {}}})})
    assert "no sampler node" in problems[0]
    # cyclic links end instead of looping
    cyc = {"1": {"class_type": "KSampler", "inputs": {"model": ["2", 0], "positive": ["3", 0], "latent_image": ["3", 0]}},
           "2": {"class_type": "LoraLoader", "inputs": {"model": ["2", 0], "lora_name": "x.safetensors", "strength_model": 1}},
           "3": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["3", 0], "conditioning_2": ["1", 0]}}}
    d, _ = sidecar_from_graph(cyc)
    assert d["lora_name"] == "x.safetensors"


def test_png_text_reader_rejects_non_png_and_truncation(tmp_path):
    with pytest.raises(PngTextError):
        png_text_chunks(b"GIF89a....")
    data = comfy_png(tmp_path / "a.png", anima_graph()).read_bytes()
    with pytest.raises(PngTextError):
        png_text_chunks(data[:20])
    texts, _ = png_text_chunks(data[: data.index(b"IDAT") + 10])  # cut in the pixels: chunks before still read
    assert "prompt" in texts


def test_folder_of_comfy_pngs_without_sidecars(tmp_path):
    for i, w in enumerate((0.4, 0.8)):
        comfy_png(tmp_path / "out" / f"ComfyUI_{i:05d}_.png", anima_graph(char_strength=w, seed=i), color=(i, 9, 9))
    cat = open_catalog(tmp_path / "c.db")
    rep = import_paths(cat, [tmp_path / "out"], tmp_path / "thumbs")
    assert (rep.imported, rep.failed) == (2, [])
    con = cat.engine.raw_connection()
    assert sorted(con.execute("SELECT seed, lora_strength FROM result")) == [(0, 0.4), (1, 0.8)]
    con.close()


def test_annotation_only_sidecar_beside_a_comfy_png_keeps_the_graph_values(tmp_path):
    img = comfy_png(tmp_path / "ComfyUI_00001_.png", anima_graph(char_strength=0.8))
    img.with_suffix(".json").write_text(json.dumps(
        {"annotations": [{"slot": "left", "feature": "ahoge", "outcome": "present"}], "tags": ["keeper"]}))
    cat = open_catalog(tmp_path / "c.db")
    rid = index_image(cat, img, None)
    con = cat.engine.raw_connection()
    assert con.execute("SELECT seed, lora_strength, source_format FROM result WHERE id=?", (rid,)).fetchone() == (
        1293127692, 0.8, "comfyui_png+sidecar")
    assert con.execute("SELECT tag FROM tag").fetchall() == [("keeper",)]
    con.close()


_ids = st.sampled_from(["1", "2", "3", "4", "5", "x"])
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_values = _scalars | st.tuples(_ids | st.integers(), st.integers(-1, 3)).map(list) | st.lists(_scalars, max_size=3) \
    | st.dictionaries(st.sampled_from(["on", "lora", "strength"]), _scalars, max_size=3)
_inputs = st.dictionaries(st.sampled_from(["model", "positive", "negative", "latent_image", "seed", "noise_seed", "text",
                                           "lora_name", "strength_model", "ckpt_name", "unet_name", "width", "height",
                                           "conditioning", "conditioning_1", "guider", "sampler", "sigmas", "noise",
                                           "value", "string_a", "clip_name", "samples", "lora_1"]), _values, max_size=6)
_nodes = st.fixed_dictionaries({"class_type": st.sampled_from(
    ["KSampler", "KSamplerAdvanced", "SamplerCustomAdvanced", "LoraLoader", "CLIPTextEncode", "UNETLoader",
     "ConditioningCombine", "EmptyLatentImage", "PrimitiveInt", "StringConcatenate", "CFGGuider", "Other"]) | _scalars,
    "inputs": _inputs | _scalars})


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_ids, _nodes | _scalars, max_size=6))
def test_any_api_graph_is_walked_without_raising(graph):
    d, problems = sidecar_from_graph(graph)
    assert isinstance(d, dict) and isinstance(problems, list)


@settings(max_examples=100, deadline=None)
@given(st.fixed_dictionaries({
    "nodes": st.lists(st.fixed_dictionaries({"id": st.integers(0, 5) | st.text(max_size=2), "type": st.sampled_from(
        ["KSampler", "LoraLoader", "CLIPTextEncode", "CheckpointLoaderSimple", "EmptyLatentImage", "X"]),
        "widgets_values": st.lists(_scalars, max_size=8) | _scalars,
        "inputs": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["model", "positive", "clip", "latent_image"]),
                                                  "link": st.integers(0, 5) | st.none()}), max_size=4) | _scalars,
        "mode": st.sampled_from([0, 2, 4])}), max_size=6) | _scalars,
    "links": st.lists(st.lists(st.integers(0, 5) | st.text(max_size=2), max_size=6), max_size=6) | _scalars,
}))
def test_any_ui_workflow_is_read_without_raising(ui):
    d, _problems = sidecar_from_png_text({"workflow": json.dumps(ui)})
    assert d is None or isinstance(d, dict)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_png_chunk_reader_raises_only_its_error(raw):
    try:
        png_text_chunks(b"\x89PNG\r\n\x1a\n" + raw)
    except PngTextError:
        pass
