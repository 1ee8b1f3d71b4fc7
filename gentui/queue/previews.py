"""The running job's sampler previews, for whoever watches the queue (the TUI's preview pane).

A backend sends a small picture per sampler step (ComfyUI's binary preview
frames, mflux's stepwise images). The worker keeps only the latest one per
running job, as `<data dir>/previews/<job id>.<jpg|png>`, written atomically
and removed when the job ends; readers poll the file (`latest`).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def _suffix(data: bytes) -> str:
    return ".png" if data[:8] == b"\x89PNG\r\n\x1a\n" else ".jpg"


class Previews:
    """The folder of the latest preview per running job."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def show(self, job_id: int, data: bytes) -> None:
        """Keep `data` as the job's latest preview (called from the worker's event loop: cheap, no decode)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{int(job_id)}{_suffix(data)}"
            tmp = path.with_name(f".{path.name}.tmp")
            with self._lock:  # no fsync: a preview that dies with the machine is no loss
                tmp.write_bytes(data)
                os.replace(tmp, path)
        except OSError:
            pass  # a preview is a nicety: a full disk must not touch the job

    def clear(self, job_id: int) -> None:
        for suffix in (".jpg", ".png"):
            try:
                os.unlink(self.folder / f"{int(job_id)}{suffix}")
            except OSError:
                pass

    def latest(self, job_id: int) -> Path | None:
        """The job's latest preview, if it is running and its backend sends previews."""
        found = [p for p in (self.folder / f"{int(job_id)}.jpg", self.folder / f"{int(job_id)}.png") if p.exists()]
        return max(found, key=lambda p: p.stat().st_mtime) if found else None
