"""Auto-launch: start the server when it is down, keep its log, stop only what we started."""

from __future__ import annotations

import os
import shlex
import socket
import sys

import pytest

from gentui.backends.base import BackendUnavailable
from gentui.backends.comfyui import ComfyBackend
from gentui.config import BackendSettings, LaunchSettings, Settings
from gentui.params import JobParams

pytestmark = pytest.mark.timeout(60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def backend(url: str, command: str, timeout_s: float = 30.0) -> ComfyBackend:
    settings = Settings()
    launch = LaunchSettings(command=command, cwd=os.getcwd(), timeout_s=timeout_s)
    settings.backends = {"local": BackendSettings(url=url, launch=launch, connect_timeout_s=1)}
    return ComfyBackend("local", settings)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_launches_a_down_server_and_stops_it_on_close():
    port = free_port()
    py = shlex.quote(sys.executable)
    b = backend(f"http://127.0.0.1:{port}", f"{py} -m gentui.cli sim --port {port} --step-ms 1")
    try:
        h = await b.ensure_ready()
        assert h.ok and h.features["simulator"]
        assert b.launcher.started_by_us
        pid = b.launcher.proc.pid
        log = b.settings.log_dir / "local-server.log"
        assert log.is_file() and "gentui started" in log.read_text()
        pid_job = await b.submit(JobParams.from_flat({"lora_name": "kanachan-v4.safetensors", "lora_strength": 1.0,
                                                          "width": 64, "height": 64}))
        assert (await b.follow(pid_job, lambda e: None)).status == "done"
    finally:
        await b.close()
    assert not alive(pid)
    assert not (await backend(f"http://127.0.0.1:{port}", "true").health()).ok


async def test_a_running_server_is_used_and_never_stopped(simulator):
    b = backend(simulator.url, "false")
    try:
        assert (await b.ensure_ready()).ok
        assert not b.launcher.started_by_us
    finally:
        await b.close()
    b2 = backend(simulator.url, "false")
    assert (await b2.health()).ok  # still up
    await b2.close()


async def test_a_command_that_exits_is_reported_with_its_log():
    port = free_port()
    py = shlex.quote(sys.executable)
    b = backend(f"http://127.0.0.1:{port}", f"{py} -c \"import sys; print('no models folder'); sys.exit(3)\"")
    try:
        with pytest.raises(BackendUnavailable, match=r"exited with status 3(.|\n)*no models folder"):
            await b.ensure_ready()
    finally:
        await b.close()


async def test_a_server_that_never_answers_times_out_and_is_killed():
    port = free_port()
    py = shlex.quote(sys.executable)
    b = backend(f"http://127.0.0.1:{port}", f"{py} -c \"import time; time.sleep(60)\"", timeout_s=0.5)
    try:
        with pytest.raises(BackendUnavailable, match=r"within 0.5 s.*launch\.timeout_s"):
            await b.ensure_ready()
        assert b.launcher.proc is None
    finally:
        await b.close()


async def test_a_missing_program_is_a_clear_error():
    b = backend(f"http://127.0.0.1:{free_port()}", "/nonexistent/comfy --port 1")
    try:
        with pytest.raises(BackendUnavailable, match="cannot run backends.local.launch.command"):
            await b.ensure_ready()
    finally:
        await b.close()
