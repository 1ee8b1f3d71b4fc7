"""The mflux command line: built from job parameters, refused before queueing when mflux would fail."""

from __future__ import annotations

import pytest

from gentui.backends.base import ValidationFailed
from gentui.backends.mflux_command import build_argv, job_from_params, resolve_lora
from gentui.config import BackendSettings


def params(**kw):
    base = {"prompt_en": "2girls, simple background", "seed": 1293127692, "steps": 4, "cfg": 1.0,
            "width": 896, "height": 768, "use_lora": False}
    base.update(kw)
    return base


@pytest.fixture
def loras(tmp_path):
    d = tmp_path / "loras"
    d.mkdir()
    (d / "kanachan-v4.safetensors").write_bytes(b"x")
    (d / "turbo.safetensors").write_bytes(b"x")
    return d


def test_command_line_has_every_flag(tmp_path, loras):
    cfg = BackendSettings(type="mflux", model="flux2-klein-9b", quantize=8, lora_dir=str(loras))
    job = job_from_params(params(use_lora=True, lora_name="kanachan-v4", lora_strength=0.6000000000000001), cfg)
    argv = build_argv(["mflux-generate-flux2"], job, tmp_path / "image.png")
    assert argv == [
        "mflux-generate-flux2", "-m", "flux2-klein-9b", "--prompt=2girls, simple background",
        "--seed", "1293127692", "--steps", "4", "--guidance", "1.0", "--width", "896", "--height", "768",
        "-q", "8", "--lora", str(loras / "kanachan-v4.safetensors"), "0.6",
        "--output", str(tmp_path / "image.png"), "--metadata",
    ]


def test_speed_lora_is_a_second_lora_and_defaults_apply(tmp_path, loras):
    cfg = BackendSettings(type="mflux", lora_dir=str(loras))
    p = {"prompt_en": "a cat", "seed": 7, "use_lora": True, "lora_name": "kanachan-v4.safetensors",
         "lora_strength": 1.2, "use_speed_lora": True, "speed_lora_name": "turbo", "speed_lora_strength": 1.0}
    job = job_from_params(p, cfg)
    argv = build_argv(["mflux-generate-flux2"], job, tmp_path / "o.png")
    assert argv.count("--lora") == 2
    assert argv[argv.index("-m") + 1] == "flux2-klein-4b"
    assert argv[argv.index("--steps") + 1] == "4" and argv[argv.index("--width") + 1] == "1024"
    assert "-q" not in argv


def test_prompt_starting_with_dash_stays_a_value(tmp_path):
    job = job_from_params(params(prompt_en="-weird prompt"), BackendSettings(type="mflux"))
    argv = build_argv(["m"], job, tmp_path / "o.png")
    assert "--prompt=-weird prompt" in argv


@pytest.mark.parametrize("text", ["line one\nline two", "x" * 5000, "-"])
def test_long_multiline_or_stdin_prompts_use_a_prompt_file(tmp_path, text):
    job = job_from_params(params(prompt_en=text), BackendSettings(type="mflux"))
    assert job.needs_prompt_file()
    argv = build_argv(["m"], job, tmp_path / "o.png", tmp_path / "prompt.txt")
    assert argv[argv.index("--prompt-file") + 1] == str(tmp_path / "prompt.txt")
    assert not any(a.startswith("--prompt=") for a in argv)


def test_cfg_other_than_one_is_refused_with_the_reason():
    with pytest.raises(ValidationFailed, match=r"cfg = 4.*guidance 1.0"):
        job_from_params(params(cfg=4), BackendSettings(type="mflux"))


def test_missing_lora_is_refused_listing_what_exists(loras):
    with pytest.raises(ValidationFailed) as e:
        job_from_params(params(use_lora=True, lora_name="reina-v2"), BackendSettings(type="mflux", lora_dir=str(loras)))
    assert "reina-v2" in str(e.value) and "kanachan-v4.safetensors" in str(e.value)


def test_lora_ignored_when_use_lora_is_false(loras):
    job = job_from_params(params(use_lora=False, lora_name="nope"), BackendSettings(type="mflux", lora_dir=str(loras)))
    assert job.loras == []


def test_absolute_lora_path(loras):
    path = loras / "turbo.safetensors"
    assert resolve_lora(str(path), "") == path.resolve()


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"prompt_en": ""}, "no prompt"),
        ({"seed": None}, "no seed"),
        ({"steps": 0}, "steps"),
        ({"steps": "many"}, "steps"),
        ({"width": 10.5}, "width"),
        ({"checkpoint": "flux2-klein-12b"}, "allowed: flux2-klein-4b"),
        ({"use_lora": True, "lora_name": "x", "lora_strength": "strong"}, "not found|lora_strength"),
    ],
)
def test_bad_parameters_get_clear_errors(bad, match):
    with pytest.raises(ValidationFailed, match=match):
        job_from_params(params(**bad), BackendSettings(type="mflux"))


def test_comfy_checkpoint_and_negative_are_ignored_not_sent(tmp_path):
    job = job_from_params(params(checkpoint="anima-base-v1.0.safetensors", negative="bad hands"),
                          BackendSettings(type="mflux"))
    argv = build_argv(["m"], job, tmp_path / "o.png")
    assert job.model == "flux2-klein-4b" and "negative" in job.ignored
    assert not any("negative" in a for a in argv)


def test_skip_translate_uses_source_text():
    job = job_from_params(params(prompt_en="", prompt_src="blue ribbon", skip_translate=True),
                          BackendSettings(type="mflux"))
    assert job.prompt == "blue ribbon"
