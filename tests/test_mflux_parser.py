"""Our command line against mflux's real argument parser (when mflux is installed).

mflux only installs usefully on Apple Silicon (on Linux it pulls ~6 GB of CUDA
wheels and then cannot import `mlx.core` without a GPU driver), so these tests
skip, saying why, where it is absent. On a Mac with mflux they prove every flag
gentui sends is one mflux's parser accepts, with the values gentui meant.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys

import pytest

from gentui.backends.mflux_command import USED_FLAGS, build_argv, job_from_params
from gentui.config import BackendSettings


def _flux2_parser():
    try:
        module = importlib.import_module("mflux.models.flux2.cli.flux2_generate")
    except Exception as e:  # noqa: BLE001 -- ImportError, or mlx failing to load without a GPU
        pytest.skip(f"mflux is not importable here ({type(e).__name__}: {e}); it needs Apple Silicon")
    if hasattr(module, "build_parser"):
        return module.build_parser()
    # Older releases build the parser inside main(); do what main() does.
    from mflux.cli.parser.parsers import CommandLineParser

    parser = CommandLineParser(description="Generate an image using Flux2 Klein.")
    parser.add_general_arguments()
    parser.add_model_arguments(require_model_arg=False)
    parser.add_lora_arguments()
    parser.add_image_generator_arguments(supports_metadata_config=True, supports_dimension_scale_factor=True)
    parser.add_image_to_image_arguments(required=False)
    parser.add_output_arguments()
    return parser


def test_real_mflux_parser_accepts_our_command_line(tmp_path, monkeypatch):
    parser = _flux2_parser()
    lora = tmp_path / "kana.safetensors"
    lora.write_bytes(b"x")
    cfg = BackendSettings(type="mflux", model="flux2-klein-9b", quantize=4, lora_dir=str(tmp_path))
    job = job_from_params({"prompt_en": "-2girls", "seed": 42, "steps": 6, "cfg": 1.0, "width": 896,
                           "height": 768, "use_lora": True, "lora_name": "kana", "lora_strength": 0.8}, cfg)
    argv = build_argv(["mflux-generate-flux2"], job, tmp_path / "image.png")
    monkeypatch.setattr(sys, "argv", argv)  # mflux's parse_args() reads sys.argv itself
    args = parser.parse_args()
    assert args.model == "flux2-klein-9b"
    assert args.prompt == "-2girls"
    assert args.seed == [42] and args.steps == 6 and args.guidance == 1.0
    assert (args.width, args.height) == (896, 768)
    assert args.quantize == 4 and args.metadata is True
    assert args.output == str(tmp_path / "image.png")
    assert [str(p) for p in args.lora_paths] == [str(lora.resolve())] and args.lora_scales == [0.8]


def test_real_mflux_parser_accepts_prompt_file(tmp_path, monkeypatch):
    parser = _flux2_parser()
    job = job_from_params({"prompt_en": "a\nb", "seed": 1}, BackendSettings(type="mflux"))
    argv = build_argv(["mflux-generate-flux2"], job, tmp_path / "image.png", tmp_path / "prompt.txt")
    monkeypatch.setattr(sys, "argv", argv)
    args = parser.parse_args()
    assert str(args.prompt_file) == str(tmp_path / "prompt.txt") and args.prompt is None


def test_mflux_capabilities_lists_every_flag_we_send(tmp_path):
    exe = shutil.which("mflux-capabilities")
    if exe is None:
        pytest.skip("mflux-capabilities is not on PATH (mflux is not installed; it needs Apple Silicon)")
    out = subprocess.run([exe, "--command", "mflux-generate-flux2"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    caps = json.loads(out.stdout)
    cmd = caps["commands"][0]
    if cmd.get("coverage") != "full":
        pytest.skip(f"this mflux does not describe mflux-generate-flux2's options ({cmd.get('coverage')})")
    flags = set()
    for opt in cmd["options"]:
        flags.add(opt["flag"])
        flags.update(opt.get("aliases", []))
    ours = set(USED_FLAGS)
    assert ours <= flags, f"mflux no longer accepts: {sorted(ours - flags)}"
