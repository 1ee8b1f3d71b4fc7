"""The top-level command line: help, version, config errors."""

from __future__ import annotations

import subprocess
import sys

from gentui.cli import COMMANDS, main


def _gentui(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gentui.cli", *args], capture_output=True, text=True, timeout=60, **kw)


def test_help_lists_every_command():
    out = _gentui("--help")
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout


def test_every_command_module_has_its_entry_points():
    import importlib

    for name, (module, _help) in COMMANDS.items():
        mod = importlib.import_module(module)
        assert callable(mod.add_arguments) and callable(mod.run), name


def test_bad_config_is_reported_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "c.toml"
    bad.write_text("[tui]\nimage_protocol = 'png'\n")
    assert main(["--config", str(bad), "export", "table"]) == 2
    err = capsys.readouterr().err
    assert "tui.image_protocol" in err and str(bad) in err
