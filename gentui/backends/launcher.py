"""Start a local ComfyUI when it is down, and stop only what we started.

The server gets a real log file for stdout/stderr (its tqdm bars fail on a
missing console) and its own process group, so stopping it also stops its
children. Readiness is `/system_stats` answering, not the banner.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path

from gentui.backends.base import BackendUnavailable
from gentui.config import LaunchSettings


class Launcher:
    """Owns at most one server process for one backend."""

    def __init__(self, name: str, launch: LaunchSettings, log_dir: Path) -> None:
        self.name = name
        self.launch = launch
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def started_by_us(self) -> bool:
        return self.proc is not None

    def start(self) -> subprocess.Popen[bytes]:
        """Spawn the command in its own process group, output appended to a log file."""
        if self.proc is not None and self.proc.poll() is None:
            return self.proc
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.log_dir / f"{self.name}-server.log"
        cwd = Path(self.launch.cwd).expanduser() if self.launch.cwd else None
        if cwd is not None and not cwd.is_dir():
            raise BackendUnavailable(
                f"backend {self.name!r}: backends.{self.name}.launch.cwd = {self.launch.cwd!r} is not a folder"
            )
        try:
            argv = shlex.split(self.launch.command)
        except ValueError as e:
            raise BackendUnavailable(f"backend {self.name!r}: backends.{self.name}.launch.command: {e}") from None
        with open(self.log_path, "ab") as log:
            stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
            log.write(f"\n--- gentui started {self.launch.command!r} at {stamp} ---\n".encode())
            log.flush()
            try:
                self.proc = subprocess.Popen(
                    argv,
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as e:
                raise BackendUnavailable(
                    f"backend {self.name!r}: cannot run backends.{self.name}.launch.command "
                    f"{self.launch.command!r}: {e.strerror or e}"
                ) from None
        atexit.register(self.stop)
        return self.proc

    async def start_and_wait(self, probe: Callable[[], Awaitable[bool]]) -> None:
        """Start the server and wait until `probe()` is true, the process dies, or the timeout."""
        proc = self.start()
        deadline = time.monotonic() + self.launch.timeout_s
        delay = 0.05
        while time.monotonic() < deadline:
            if await probe():
                return
            if proc.poll() is not None:
                code = proc.returncode
                self.proc = None
                raise BackendUnavailable(
                    f"backend {self.name!r}: the launched server exited with status {code} before answering; "
                    f"see {self.log_path}{self._tail()}"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 1.0)
        await asyncio.to_thread(self.stop)
        raise BackendUnavailable(
            f"backend {self.name!r}: the launched server did not answer /system_stats within "
            f"{self.launch.timeout_s:g} s (backends.{self.name}.launch.timeout_s); see {self.log_path}"
        )

    def _tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path else ""
        except OSError:
            return ""
        tail = [line for line in text.splitlines() if line.strip()][-lines:]
        return ("\n  " + "\n  ".join(tail)) if tail else ""

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the process group we started, then SIGKILL it if it lingers."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)
        else:
            proc.wait()
