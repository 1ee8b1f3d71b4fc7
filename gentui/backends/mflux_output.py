"""What `mflux-generate-flux2` prints, turned into facts: progress, saved image, memory.

mflux writes a tqdm bar on stderr (redrawn with carriage returns), then
`INFO: Image saved successfully at: PATH` (stderr, through logging) and, at the
end, `Peak MLX memory: X.XX GB` on stdout. An interrupted run prints
`Stopping image generation at step k/N` and still exits 0; a missing prompt
file prints `Prompt file does not exist: ...` and exits 0 as well. So the
outcome is judged by the image file, and these lines only explain it.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

# A bar without a description ("desc: ") is the denoising loop; model downloads
# and loading bars carry one ("Fetching 4 files:  50%|...").
_BAR = re.compile(r"^\s*(\d{1,3})%\|[^|]*\|\s*(\d+)/(\d+)")
_SAVED = re.compile(r"Image saved successfully at:\s*(.+?)\s*$")
_PEAK = re.compile(r"Peak MLX memory:\s*([0-9.]+)\s*GB")
_STOPPED = re.compile(r"Stopping image generation at step (\d+)/(\d+)")
_NOISE = re.compile(r"^\s*(\d{1,3}%\|.*|\s*)$")


def split_lines(buffer: str) -> tuple[list[str], str]:
    """Split on both \\r and \\n (tqdm redraws with \\r); return (complete lines, rest)."""
    parts = re.split(r"\r\n|\r|\n", buffer)
    return parts[:-1], parts[-1]


def parse_progress(line: str) -> tuple[int, int] | None:
    """`' 50%|#####     | 2/4 [00:05<00:05, 2.5s/it]'` -> (2, 4); anything else -> None."""
    m = _BAR.match(line)
    if not m:
        return None
    step, total = int(m.group(2)), int(m.group(3))
    if total <= 0 or step > total:
        return None
    return step, total


@dataclass
class OutputFacts:
    """Everything learned from one run's stdout and stderr."""

    saved_paths: list[str] = field(default_factory=list)
    peak_memory_gb: float | None = None
    stopped_at: tuple[int, int] | None = None
    last_progress: tuple[int, int] | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    """The last meaningful lines (no progress bars), for error messages."""

    def feed(self, line: str) -> tuple[int, int] | None:
        """Take one line; return (step, total) when it is a new progress position."""
        progress = parse_progress(line)
        if progress is not None:
            if progress != self.last_progress:
                self.last_progress = progress
                return progress
            return None
        if m := _SAVED.search(line):
            self.saved_paths.append(m.group(1))
        if m := _PEAK.search(line):
            self.peak_memory_gb = float(m.group(1))
        if m := _STOPPED.search(line):
            self.stopped_at = (int(m.group(1)), int(m.group(2)))
        if not _NOISE.match(line):
            self.tail.append(line.rstrip())
        return None

    def failure_reason(self, returncode: int | None) -> str:
        """The most telling line: an argparse `error:`, a Python exception, or the last line."""
        lines = list(self.tail)
        for line in reversed(lines):
            if ": error: " in line:
                return line.split(": error: ", 1)[1].strip()
        for line in reversed(lines):
            if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b", line):
                return line.strip()
        for line in reversed(lines):
            low = line.lower()
            if "error" in low or "does not exist" in low or "not found" in low:
                return line.strip()
        if lines:
            return lines[-1].strip()
        return f"mflux exited with status {returncode} and printed nothing"
