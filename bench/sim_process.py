"""`gentui sim` as a subprocess on a free loopback port, for the benchmarks that talk to it over sockets."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


@contextmanager
def simulator_process(step_ms: float, timeout_s: float = 10.0) -> Iterator[str]:
    """Start the simulator, yield its URL once `/system_stats` answers, stop it afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "gentui.cli", "sim", "--port", str(port), "--step-ms",
                             str(step_ms), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                httpx.get(f"{url}/system_stats", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the simulator did not answer at {url} within {timeout_s:.0f} s") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
