"""One mflux run's folder and process: collecting its outcome, reading its logs, liveness.

A run lives in `runs_dir/<prompt id>/` (image, `.metadata.json`, stdout.log,
stderr.log); `runs_dir/active.json` names the process that holds the GPU. Both
outlive the gentui that started the run, so a later one can pick it up.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from gentui.backends.base import OutputImage, RunOutcome
from gentui.backends.mflux_command import OUTPUT_NAME
from gentui.backends.mflux_output import OutputFacts, split_lines


def collect(prompt_id: str, run_dir: Path, facts: OutputFacts, rc: int | None, interrupted: bool) -> RunOutcome:
    """Judge a finished run by its image file; the output lines only explain a failure."""
    image = None
    for p in [*facts.saved_paths, str(run_dir / OUTPUT_NAME)]:
        path = Path(p)
        if not path.is_absolute():
            path = run_dir / path
        if path.is_file() and path.resolve().parent == run_dir.resolve():
            image = path
            break
    if image is None:
        pngs = sorted(run_dir.glob("*.png"))
        image = pngs[0] if pngs else None
    extra: dict[str, Any] = {"mflux": {}}
    if facts.peak_memory_gb is not None:
        extra["mflux"]["peak_memory_gb"] = facts.peak_memory_gb
    if image is not None:
        meta = read_json(image.with_suffix(".metadata.json"))
        extra["mflux_metadata"] = meta or None
        elapsed = meta.get("generation_time_seconds") if isinstance(meta, dict) else None
        outcome = RunOutcome("done", prompt_id, images=[OutputImage(str(image), image.name)], extra=extra)
        if isinstance(elapsed, (int, float)):
            extra["mflux"]["generation_time_seconds"] = elapsed
        return outcome
    tail_text = "\n".join(facts.tail)
    if interrupted or facts.stopped_at or "KeyboardInterrupt" in tail_text or rc in (-2, -15, -9, 130):
        at = f" at step {facts.stopped_at[0]}/{facts.stopped_at[1]}" if facts.stopped_at else ""
        return RunOutcome("interrupted", prompt_id, error=f"mflux stopped{at}", extra=extra)
    reason = facts.failure_reason(rc)
    if rc == 0:
        reason = f"mflux exited without writing an image: {reason}"
    return RunOutcome("failed", prompt_id, error=reason, extra=extra)


class LogReader:
    """Reads a growing log file incrementally, yielding complete lines (split on \\r and \\n)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.rest = ""

    def read_lines(self, final: bool = False) -> list[str]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            data = b""
        self.offset += len(data)
        lines, self.rest = split_lines(self.rest + data.decode("utf-8", errors="replace"))
        if final and self.rest:
            lines.append(self.rest)
            self.rest = ""
        return lines


def public_argv(argv: list[str], run_dir: Path) -> list[str]:
    """The command line as recorded: the temp folder shown as `{run_dir}`."""
    return [a.replace(str(run_dir), "{run_dir}") for a in argv]


def alive(pid: Any, marker: str) -> bool:
    """Is `pid` a live process whose command line mentions `marker` (guards against pid reuse)?"""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = _cmdline(pid)  # a zombie has an empty command line
    return cmdline is None or (bool(cmdline) and (not marker or marker in cmdline))


def _cmdline(pid: int) -> str | None:
    proc = Path(f"/proc/{pid}/cmdline")
    if proc.exists():
        try:
            return proc.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            return None
    try:
        out = subprocess.run(["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True, timeout=2)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else ""


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def touch(path: Path) -> None:
    try:
        path.touch()
    except OSError:
        pass
