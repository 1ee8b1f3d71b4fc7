"""`gentui sim` and the simulator's models file."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import httpx
import pytest

from gentui.cli import main
from gentui.simulator import CatalogueError, default_catalogue, load_catalogue


def test_default_catalogue_matches_the_builtin_workflows():
    cat = default_catalogue()
    assert "waiANIMA_v10.safetensors" in cat.names("diffusion_models")
    assert "anima-base-v1.0.safetensors" in cat.names("diffusion_models")
    assert cat.names("text_encoders") == ["qwen_3_06b_base.safetensors"]
    assert cat.names("vae") == ["qwen_image_vae.safetensors"]
    assert cat.names("checkpoints") == ["waiIllustriousSDXL_v160.safetensors"]
    assert {"anima-turbo-lora-v0.2.safetensors", "kanachan-v4.safetensors", "lily-v2.safetensors"} <= set(
        cat.names("loras")
    )
    assert cat.has_folder("embeddings") and cat.names("embeddings") == []
    assert not cat.broken


def test_models_file_toml_and_json(tmp_path):
    toml = tmp_path / "models.toml"
    toml.write_text(
        '[models]\nloras = ["b.safetensors", "A.safetensors"]\ncheckpoints = ["x.safetensors"]\n'
        'broken = ["bad.safetensors"]\n[broken_unused]\n'
    )
    cat = load_catalogue(toml)
    assert cat.names("loras") == ["A.safetensors", "b.safetensors"] and cat.is_broken("bad.safetensors")
    js = tmp_path / "models.json"
    js.write_text(json.dumps({"loras": ["k.safetensors"], "broken": {"loras": ["zz.safetensors"]}}))
    cat = load_catalogue(js)
    assert cat.names("loras") == ["k.safetensors", "zz.safetensors"] and cat.is_broken("zz.safetensors")


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("m.toml", "[models\n", "not valid TOML"),
        ("m.json", "{", "not valid JSON"),
        ("m.json", '{"loras": "one.safetensors"}', "folder 'loras' must be a list"),
        ("m.json", "[1, 2]", "expected a table"),
    ],
)
def test_bad_models_file_names_the_file_and_the_problem(tmp_path, name, text, fragment):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(CatalogueError) as err:
        load_catalogue(path)
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_sim_command_refuses_a_bad_models_file_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "models.toml"
    bad.write_text("[models\n")
    assert main(["sim", "--models", str(bad), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "models.toml" in err and "Traceback" not in err
    assert main(["sim", "--models", str(tmp_path / "missing.json")]) == 2
    assert "cannot read models file" in capsys.readouterr().err


def test_sim_command_serves_until_interrupted(tmp_path):
    models = tmp_path / "models.json"
    models.write_text(json.dumps({"loras": ["only.safetensors"]}))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gentui.cli",
            "sim",
            "--port",
            "0",
            "--step-ms",
            "5",
            "--models",
            str(models),
            "--jobs-api",
            "--output-dir",
            str(tmp_path / "out"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        banner = [proc.stdout.readline() for _ in range(3)]
        assert "SIMULATOR" in banner[0] and "test double" in banner[0]
        url = re.search(r"(http://\S+)", banner[1]).group(1)
        stats = httpx.get(url + "/system_stats", timeout=5).json()
        assert stats["system"]["simulator"] is True
        assert httpx.get(url + "/models/loras", timeout=5).json() == ["only.safetensors"]
        assert httpx.get(url + "/api/jobs", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "GET /system_stats -> 200" in err and "Traceback" not in err


def test_sim_command_reports_a_busy_port(simulator, capsys):
    assert main(["sim", "--port", str(simulator.port)]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{simulator.port}" in err and "Traceback" not in err
