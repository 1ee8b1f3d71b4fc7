"""gentui doctor against real servers on 127.0.0.1: the simulator, a closed port, a fake Ollama."""

from __future__ import annotations

import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from comfyui_proxy import ComfyProxy

from gentui.catalog.db import open_catalog
from gentui.catalog.models import Job
from gentui.cli import main
from gentui.config import settings_from_dict
from gentui.doctor import run_doctor

TOKEN = "s3cret-doctor-token-value"


class _FakeOllama(BaseHTTPRequestHandler):
    models: list[str] = []

    def do_GET(self):  # noqa: N802
        if self.path != "/api/tags":
            self.send_error(404)
            return
        body = json.dumps({"models": [
            {"name": m, "model": m, "modified_at": "2026-11-01T10:00:00Z", "size": 5_000_000_000,
             "digest": "d" * 64, "details": {"format": "gguf", "family": "gemma3", "parameter_size": "12B",
                                              "quantization_level": "Q4_K_M"}}
            for m in self.models]}).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def ollama():
    handler = type("H", (_FakeOllama,), {"models": ["llm-jp:4-8b-fixed", "gemma3:12b"]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def settings(url, ollama_url, tmp_path, **extra):
    raw = {
        "paths": {"catalog": str(tmp_path / "catalog.db"), "output_dir": str(tmp_path / "out")},
        "backends": {"gpu": {"url": url, "connect_timeout_s": 2.0, "read_timeout_s": 5.0}},
        "defaults": {"backend": "gpu"},
        "translate": {"host": ollama_url, "timeout_s": 5},
    }
    for k, v in extra.items():
        raw.setdefault(k, {}).update(v)
    return settings_from_dict(raw)


def by_item(report):
    return {(c.area, c.item): c for c in report.checks}


async def test_healthy_setup_passes(simulator, ollama, tmp_path):
    open_catalog(tmp_path / "catalog.db").close()
    report = await run_doctor(settings(simulator.url, ollama, tmp_path), probe_terminal=False)
    checks = by_item(report)
    gpu = checks[("backend", "gpu")]
    assert gpu.status == "ok" and "simulator" in gpu.summary and "auth accepted" in gpu.summary
    assert gpu.details["rtt_ms"] is not None and gpu.details["jobs_api"] is False
    assert checks[("backend", "gpu: workflow anima")].status == "ok"
    assert checks[("ollama", "model gemma3:12b")].status == "ok"
    missing = checks[("ollama", "model qwen3.6:35b")]
    assert missing.status == "warn" and missing.fix == "ollama pull qwen3.6:35b"
    assert checks[("catalog", str(tmp_path / "catalog.db"))].status == "ok"
    assert checks[("output", str(tmp_path / "out"))].status == "ok"
    assert report.exit_status == 0


async def test_jobs_api_is_reported(ollama, tmp_path):
    from gentui.simulator import start_simulator

    sim = start_simulator(port=0, step_ms=2, jobs_api=True)
    try:
        report = await run_doctor(settings(sim.url, ollama, tmp_path), probe_terminal=False)
    finally:
        sim.stop()
    gpu = by_item(report)[("backend", "gpu")]
    assert "Jobs API present" in gpu.summary and gpu.details["jobs_api"] is True


async def test_default_backend_down_is_an_error_with_a_fix(ollama, tmp_path):
    url = closed_port()
    report = await run_doctor(settings(url, ollama, tmp_path), probe_terminal=False)
    gpu = by_item(report)[("backend", "gpu")]
    assert gpu.status == "error" and "not reachable" in gpu.summary
    assert url in gpu.fix and "launch" in gpu.fix
    assert report.exit_status == 1


async def test_other_backend_down_is_only_a_warning(simulator, ollama, tmp_path):
    s = settings(simulator.url, ollama, tmp_path)
    s.backends["spare"] = type(s.backends["gpu"])(url=closed_port(), connect_timeout_s=1.0)
    report = await run_doctor(s, probe_terminal=False)
    assert by_item(report)[("backend", "spare")].status == "warn"
    assert report.exit_status == 0


@pytest.mark.parametrize("token, status, meaning", [(None, "401", "wants credentials"), ("wrong", "401", "401")])
async def test_auth_refused_is_explained_and_secret_hidden(simulator, ollama, tmp_path, monkeypatch, token, status,
                                                           meaning):
    async with ComfyProxy(simulator.url, bearer=TOKEN) as proxy:
        extra = {}
        if token:
            monkeypatch.setenv("COMFY_TOKEN", f"Bearer {token}-{TOKEN[::-1]}")
            extra = {"header_envs": {"Authorization": "COMFY_TOKEN"}}
        s = settings(proxy.url, ollama, tmp_path)
        for k, v in extra.items():
            setattr(s.backends["gpu"], k, v)
        report = await run_doctor(s, probe_terminal=False)
    gpu = by_item(report)[("backend", "gpu")]
    assert gpu.status == "error" and "auth refused" in gpu.summary and f"HTTP {status}" in gpu.summary
    assert meaning in gpu.summary
    assert "backends.gpu" in gpu.fix or "header_envs" in gpu.fix
    text = json.dumps(report.to_dict())
    assert TOKEN[::-1] not in text and "Bearer wrong" not in text


async def test_credentials_accepted_through_the_proxy_show_as_stars(simulator, ollama, tmp_path, monkeypatch):
    monkeypatch.setenv("COMFY_TOKEN", f"Bearer {TOKEN}")
    async with ComfyProxy(simulator.url, bearer=TOKEN) as proxy:
        s = settings(proxy.url, ollama, tmp_path)
        s.backends["gpu"].header_envs = {"Authorization": "COMFY_TOKEN"}
        report = await run_doctor(s, probe_terminal=False)
    gpu = by_item(report)[("backend", "gpu")]
    assert gpu.status == "ok" and gpu.details["connection"]["headers"] == {"Authorization": "***"}
    assert TOKEN not in json.dumps(report.to_dict())


async def test_unset_secret_variable_names_the_setting(simulator, ollama, tmp_path, monkeypatch):
    monkeypatch.delenv("NOPE_PASS", raising=False)
    s = settings(simulator.url, ollama, tmp_path)
    s.backends["gpu"].username = "me"
    s.backends["gpu"].password_env = "NOPE_PASS"
    report = await run_doctor(s, probe_terminal=False)
    gpu = by_item(report)[("backend", "gpu")]
    assert gpu.status == "error" and "NOPE_PASS" in gpu.summary and gpu.fix.startswith("export NOPE_PASS=")


async def test_missing_workflow_models_are_listed(ollama, tmp_path):
    from gentui.simulator import start_simulator

    sim = start_simulator(port=0, step_ms=2, models={"checkpoints": ["other.safetensors"]})
    try:
        report = await run_doctor(settings(sim.url, ollama, tmp_path), probe_terminal=False)
    finally:
        sim.stop()
    anima = by_item(report)[("backend", "gpu: workflow anima")]
    assert anima.status == "error" and "missing on the server" in anima.summary and anima.fix
    assert report.exit_status == 1


async def test_ollama_down_is_a_warning_until_jobs_need_translation(simulator, tmp_path):
    s = settings(simulator.url, closed_port(), tmp_path)
    report = await run_doctor(s, probe_terminal=False)
    (oll,) = [c for c in report.checks if c.area == "ollama"]
    assert oll.status == "warn" and "ollama serve" in oll.fix and report.exit_status == 0
    catalog = open_catalog(tmp_path / "catalog.db")
    with catalog.session() as session:
        session.add(Job(key_hash="k1", params={"prompt_src": "二人の少女", "skip_translate": False,
                                               "prompt_en": None}))  # fmt: skip
        session.commit()
    catalog.close()
    report = await run_doctor(s, probe_terminal=False)
    (oll,) = [c for c in report.checks if c.area == "ollama"]
    assert oll.status == "error" and "1 queued job(s) need translation" in oll.summary
    assert report.exit_status == 1


async def test_bad_catalog_file_is_an_error_with_the_fix(simulator, ollama, tmp_path):
    (tmp_path / "catalog.db").write_bytes(b"this is not sqlite" * 100)
    report = await run_doctor(settings(simulator.url, ollama, tmp_path), probe_terminal=False)
    cat = by_item(report)[("catalog", str(tmp_path / "catalog.db"))]
    assert cat.status == "error" and "import --rebuild" in cat.fix
    assert report.exit_status == 1


async def test_catalog_counts(simulator, ollama, tmp_path):
    catalog = open_catalog(tmp_path / "catalog.db")
    with catalog.session() as session:
        session.add(Job(key_hash="a", state="done", params={}))
        session.add(Job(key_hash="b", state="failed", params={}))
        session.commit()
    catalog.close()
    report = await run_doctor(settings(simulator.url, ollama, tmp_path), probe_terminal=False)
    cat = by_item(report)[("catalog", str(tmp_path / "catalog.db"))]
    assert cat.details["jobs"] == {"done": 1, "failed": 1} and "schema v" in cat.summary


async def test_output_dir_that_is_a_file(simulator, ollama, tmp_path):
    (tmp_path / "out").write_text("not a folder")
    report = await run_doctor(settings(simulator.url, ollama, tmp_path), probe_terminal=False)
    out = by_item(report)[("output", str(tmp_path / "out"))]
    assert out.status == "error" and "output_dir" in out.fix and report.exit_status == 1


async def test_read_only_output_dir(simulator, ollama, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    s = settings(simulator.url, ollama, tmp_path)
    try:
        if os.access(out, os.W_OK):
            # root ignores file modes: use a folder on a filesystem nobody may create files in
            if not os.path.isdir("/proc/self"):
                pytest.skip("running as root without /proc: no read-only folder to test with")
            out = tmp_path / "unused"
            s.paths.output_dir = "/proc/self/gentui-outputs"
        report = await run_doctor(s, probe_terminal=False)
    finally:
        (tmp_path / "out").chmod(0o755)
    check = by_item(report)[("output", s.paths.output_dir if "proc" in s.paths.output_dir else str(out))]
    assert check.status == "error" and "not writable" in check.summary and report.exit_status == 1
    assert "output_dir" in check.fix


async def test_mflux_default_backend_on_linux(ollama, tmp_path):
    s = settings_from_dict({
        "paths": {"catalog": str(tmp_path / "c.db"), "output_dir": str(tmp_path / "out")},
        "backends": {"mac": {"type": "mflux", "lora_dir": str(tmp_path)}},
        "defaults": {"backend": "mac"}, "translate": {"host": ollama},
    })  # fmt: skip
    report = await run_doctor(s, probe_terminal=False)
    mac = by_item(report)[("backend", "mac")]
    import platform

    if platform.system() == "Darwin" and platform.machine() == "arm64":
        pytest.skip("this machine can run mflux")
    assert mac.status == "error" and "mflux needs Apple Silicon (macOS arm64)" in mac.summary
    assert "stay queued" in mac.summary and report.exit_status == 1


async def test_terminal_reports_term_tmux_and_setting(simulator, ollama, tmp_path, monkeypatch):
    monkeypatch.setenv("TERM", "tmux-256color")
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    s = settings(simulator.url, ollama, tmp_path, tui={"image_protocol": "auto"})
    report = await run_doctor(s, probe_terminal=False)
    (term,) = [c for c in report.checks if c.area == "terminal"]
    assert "inside tmux" in term.summary and term.details["TERM"] == "tmux-256color"
    assert term.details["image_protocol_setting"] == "auto" and "allow-passthrough" in term.fix


def test_cli_json_and_table(simulator, ollama, tmp_path, capsys):
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[paths]\ncatalog = "{tmp_path / "c.db"}"\noutput_dir = "{tmp_path / "out"}"\n'
        f'[translate]\nhost = "{ollama}"\n[defaults]\nbackend = "gpu"\n'
        f'[backends.gpu]\nurl = "{simulator.url}"\nheaders = {{ X-API-Key = "{TOKEN}" }}\n'
    )
    assert main(["--config", str(cfg), "doctor", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["ok"] is True and TOKEN not in out
    assert {c["area"] for c in data["checks"]} == {"backend", "ollama", "catalog", "output", "terminal"}
    assert main(["--config", str(cfg), "doctor"]) == 0
    table = capsys.readouterr().out
    assert "gentui doctor" in table and "simulator" in table and TOKEN not in table


async def test_unknown_default_workflow_is_an_error(simulator, ollama, tmp_path):
    s = settings(simulator.url, ollama, tmp_path, defaults={"workflow": "nope"})
    report = await run_doctor(s, probe_terminal=False)
    check = by_item(report)[("backend", "gpu: workflow nope")]
    assert check.status == "error" and "anima" in check.summary and report.exit_status == 1


def test_image_protocol_detection_names_a_protocol():
    from gentui.doctor import detect_image_protocol

    protocol, _note = detect_image_protocol()
    assert protocol in {"unicode", "halfblock", "sixel", "kitty"}
