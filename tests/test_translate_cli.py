"""`gentui translate` against the stand-in Ollama server: output, --json, exit status."""

from __future__ import annotations

import json

import pytest
from fake_ollama import FakeOllama, Script, closed_port_url

from gentui.cli import main

JA = "赤いリボンの女の子"
EN = "a girl with a red ribbon"


@pytest.fixture
def server():
    s = FakeOllama({"refuser": Script("申し訳ありませんが、できません。"), "good": Script(EN)})
    yield s
    s.stop()


def write_config(home, url):
    (home / "config.toml").write_text(f'[translate]\nhost = "{url}"\nmodels = ["refuser", "good"]\ntimeout_s = 5\n')


def test_prints_english_and_the_path(server, gentui_home, capsys):
    write_config(gentui_home, server.url)
    assert main(["translate", JA]) == 0
    out, err = capsys.readouterr()
    assert out == EN + "\n"
    assert "refuser: rejected: refusal" in err and "good: accepted" in err
    assert main(["translate", JA]) == 0
    assert "good: accepted (cached)" in capsys.readouterr().err


def test_json_output_and_file_input(server, gentui_home, capsys, tmp_path):
    write_config(gentui_home, server.url)
    f = tmp_path / "p.txt"
    f.write_text(JA + "\n", encoding="utf-8")
    assert main(["translate", "--file", str(f), "--json", "--no-cache"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["text"] == EN and data["model"] == "good"
    assert data["rejected"][0]["model"] == "refuser" and data["rejected"][0]["reason"].startswith("refusal")
    assert main(["translate", JA, "--model", "good", "--json", "--no-cache"]) == 0
    assert json.loads(capsys.readouterr().out)["rejected"] == []


def test_ollama_down_exits_1_and_says_where_it_looked(gentui_home, capsys):
    url = closed_port_url()
    write_config(gentui_home, url)
    assert main(["translate", JA]) == 1
    err = capsys.readouterr().err
    assert url in err and "[translate] host" in err and "Traceback" not in err


def test_usage_mistakes_exit_2(gentui_home, capsys):
    assert main(["translate"]) == 2
    assert main(["translate", "--file", str(gentui_home / "missing.txt")]) == 2
    err = capsys.readouterr().err
    assert "TEXT or with --file" in err and "cannot read" in err
