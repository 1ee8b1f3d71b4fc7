"""Config: defaults without a file, GENTUI_HOME, and errors that name key and file."""

from __future__ import annotations

import pytest

from gentui.config import ConfigError, load_settings


def test_no_config_file_gives_defaults_under_gentui_home(gentui_home):
    s = load_settings()
    assert s.source is None
    assert s.catalog_path == gentui_home / "catalog.db"
    assert s.output_dir == gentui_home / "outputs"
    assert s.backends["comfyui"].url == "http://127.0.0.1:8188"
    assert s.translate.models[0] == "llm-jp:4-8b-fixed"


def test_config_file_is_read_and_typed(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(
        """
[backends.gpu]
url = "https://gpu.example:8443"
headers = { X-API-Key = "k" }
read_timeout_s = 30
[backends.gpu.launch]
command = "python main.py"
cwd = "/opt/ComfyUI"
[defaults]
backend = "gpu"
[translate]
models = ["a", "b"]
timeout_s = 5
"""
    )
    s = load_settings(p)
    gpu = s.backends["gpu"]
    assert gpu.read_timeout_s == 30.0 and isinstance(gpu.read_timeout_s, float)
    assert gpu.launch is not None and gpu.launch.cwd == "/opt/ComfyUI"
    assert s.translate.models == ["a", "b"]
    assert list(s.backends) == ["gpu"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[translate]\ntimeout_s = 'soon'\n", "translate.timeout_s = 'soon': expected a number"),
        ("[tui]\nimage_protocol = 'png'\n", "tui.image_protocol = 'png': allowed values are auto, kitty, sixel, halfblock"),
        ("[tui]\ncolour = 1\n", "unknown key 'tui.colour'"),
        ("[backends.x]\nurl = 'ftp://h'\n[defaults]\nbackend='x'\n", "backends.x.url = 'ftp://h': expected an http:// or https:// URL"),
        ("[defaults]\nbackend = 'nope'\n", "defaults.backend = 'nope' is not a configured backend; allowed: comfyui"),
        ("[translate\n", "not valid TOML"),
    ],
)
def test_bad_values_name_file_key_and_allowed(tmp_path, body, expected):
    p = tmp_path / "bad.toml"
    p.write_text(body)
    with pytest.raises(ConfigError) as e:
        load_settings(p)
    assert str(p) in str(e.value)
    assert expected in str(e.value)


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml")
