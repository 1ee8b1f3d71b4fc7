"""Doctor's check of the installed mflux's options, against a stand-in `mflux-capabilities`."""

from __future__ import annotations

import json
import stat
import sys

from gentui.backends.mflux_command import USED_FLAGS
from gentui.doctor.backends import check_mflux_flags


def write_caps(tmp_path, flags, coverage="full"):
    options = [{"flag": f if f.startswith("--") else {"-m": "--model", "-q": "--quantize"}[f],
                **({"aliases": [f]} if not f.startswith("--") else {}), "type": "str", "status": "honored"}
               for f in flags]  # fmt: skip
    payload = {"schema_version": 1, "mflux_version": "0.24.0",
               "commands": [{"command": "mflux-generate-flux2", "coverage": coverage, "options": options}]}
    exe = tmp_path / "mflux-capabilities"
    exe.write_text(f"#!{sys.executable}\nprint({json.dumps(json.dumps(payload))})\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    gen = tmp_path / "mflux-generate-flux2"
    gen.write_text("#!/bin/sh\n")
    return str(gen)


def test_every_flag_accepted(tmp_path):
    check = check_mflux_flags("mac", write_caps(tmp_path, USED_FLAGS))
    assert check.status == "ok" and "0.24.0" in check.summary


def test_a_dropped_flag_is_an_error(tmp_path):
    check = check_mflux_flags("mac", write_caps(tmp_path, [f for f in USED_FLAGS if f != "--metadata"]))
    assert check.status == "error" and "--metadata" in check.summary and check.fix


def test_no_capabilities_command_is_only_info(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    gen = tmp_path / "mflux-generate-flux2"
    gen.write_text("")
    check = check_mflux_flags("mac", str(gen))
    assert check.status == "info" and "not checked" in check.summary
