"""End to end: a sweep through an authenticating proxy leaves no secret anywhere gentui wrote."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from comfyui_proxy import ComfyProxy

from gentui.cli import main

pytestmark = pytest.mark.timeout(90)

PASSWORD, TOKEN, CF = "pw-Noleak-8842", "tok-Noleak-1177", "cf-Noleak-5531"


async def test_sweep_through_auth_proxy_writes_no_secret(simulator, gentui_home, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COMFY_PASS", PASSWORD)
    token_file = tmp_path / "cf-secret"
    token_file.write_text(CF + "\n")
    async with ComfyProxy(simulator.url, basic=("ann", PASSWORD)) as proxy:
        cfg = Path(gentui_home) / "config.toml"
        cfg.write_text(
            f"""
[backends.gpu]
url = "{proxy.url}"
username = "ann"
password_env = "COMFY_PASS"
headers = {{ "X-API-Key" = "{TOKEN}" }}
header_files = {{ "CF-Access-Client-Secret" = "{token_file}" }}

[defaults]
backend = "gpu"
workflow = "anima"
"""
        )
        argv = ["--config", str(cfg), "sweep", "--prompt", "2girls, side ponytail", "--weights", "0.6,1.0",
                "--seeds", "42", "--lora", "kanachan-v4.safetensors", "--skip-translate", "--width", "64",
                "--height", "64", "--name", "noleak"]
        code = await asyncio.to_thread(main, argv)
        # a wrong password too, so error paths are covered
        monkeypatch.setenv("COMFY_PASS", "wrong-" + PASSWORD)
        await asyncio.to_thread(main, argv[:2] + ["sweep", "--prompt", "x", "--skip-translate",
                                                  "--lora", "kanachan-v4.safetensors", "--name", "noleak2",
                                                  "--detach"])
        doctor = await asyncio.to_thread(main, ["--config", str(cfg), "doctor"])
    out = capsys.readouterr()
    assert code == 0, out.err
    pngs = list((Path(gentui_home)).rglob("*.png"))
    assert len([p for p in pngs if "thumb" not in str(p)]) >= 2
    secrets = [PASSWORD, TOKEN, CF, "YW5uOnB3LU5vbGVhay04ODQy"]  # last: base64 of ann:password
    blob = out.out + out.err
    for p in Path(gentui_home).rglob("*"):
        if p.is_file() and p != cfg:
            blob += p.read_bytes().decode("latin-1")
    db = next(Path(gentui_home).rglob("catalog.db"))
    con = sqlite3.connect(db)
    for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
        blob += repr(con.execute(f'SELECT * FROM "{table}"').fetchall())
    con.close()
    for s in secrets:
        assert s not in blob, f"secret {s!r} leaked"
    assert doctor in (0, 1)
