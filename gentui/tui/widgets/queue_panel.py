"""The queue panel: running and queued jobs, their progress, each sweep's ETA.

It shows the snapshots the App's poller posts and never queries anything
itself. Job control (cancel, retry, move to front) acts on the highlighted
job and goes through the App, which calls the queue's functions in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from gentui.tui.data.jobs import JobLine, QueueSnapshot

ICONS = {"queued": "·", "submitted": "»", "running": "▶", "recording": "↓", "done": "✓", "failed": "✗",
         "cancelled": "-", "interrupted": "!"}
STYLES = {"running": "bold", "recording": "bold", "submitted": "", "queued": "", "done": "green", "failed": "red",
          "cancelled": "dim", "interrupted": "yellow"}


def bar(step: int, total: int, width: int) -> str:
    """`██████░░` for step/total in `width` cells."""
    if total <= 0 or width <= 0:
        return "░" * max(0, width)
    filled = max(0, min(width, round(width * step / total)))
    return "█" * filled + "░" * (width - filled)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class QueuePanel(Widget, can_focus=True):
    """Live list of jobs with a cursor."""

    DEFAULT_CSS = """
    QueuePanel { height: 1fr; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    QueuePanel:focus { background: $boost; }
    """

    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False, id="queue.up"),
        Binding("down", "move(1)", "Down", show=False, id="queue.down"),
        Binding("delete,d", "cancel", "Cancel job", id="queue.cancel",
                tooltip="Cancel the highlighted job (interrupts it if it runs)"),
        Binding("t", "retry", "Retry", id="queue.retry", tooltip="Queue a failed or cancelled job again"),
        Binding("f", "front", "To front", id="queue.front", tooltip="Run the highlighted job next"),
    ]

    cursor: reactive[int] = reactive(0)
    snapshot: reactive[QueueSnapshot] = reactive(QueueSnapshot, always_update=True)
    unreachable: reactive[tuple[tuple[str, str], ...]] = reactive(())
    """(backend name, last error) per backend that does not answer; its jobs wait for it."""

    @dataclass
    class ControlRequested(Message):
        """The user asked for `action` (cancel, retry, front) on job `job_id`."""

        action: str
        job_id: int

    @property
    def job(self) -> JobLine | None:
        jobs = self.snapshot.jobs
        return jobs[self.cursor] if 0 <= self.cursor < len(jobs) else None

    def watch_snapshot(self, snap: QueueSnapshot) -> None:
        if self.cursor >= len(snap.jobs):
            self.cursor = max(0, len(snap.jobs) - 1)
        self.refresh()

    def action_move(self, delta: int) -> None:
        if self.snapshot.jobs:
            self.cursor = max(0, min(len(self.snapshot.jobs) - 1, self.cursor + delta))

    def _control(self, action: str) -> None:
        job = self.job
        if job is None:
            self.notify("no job highlighted", severity="warning")
            return
        self.post_message(self.ControlRequested(action, job.id))

    def action_cancel(self) -> None:
        self._control("cancel")

    def action_retry(self) -> None:
        self._control("retry")

    def action_front(self) -> None:
        self._control("front")

    def render(self) -> Text:
        snap = self.snapshot
        width = max(10, self.content_size.width)
        height = max(1, self.content_size.height)
        head = Text()
        head.append("QUEUE", style="bold")
        queued = sum(1 for j in snap.jobs if j.state == "queued")
        head.append(f"  {snap.active} active" if snap.active else "  idle", style="dim")
        if snap.paused:
            head.append("  PAUSED", style="bold yellow")
        if not snap.workers and snap.active:
            head.append("  no worker", style="bold red")
        lines: list[Text] = []
        for name, detail in self.unreachable:
            lines.append(Text(f"{name} unreachable, jobs wait", style="bold red", no_wrap=True, overflow="ellipsis"))
            if detail:
                lines.append(Text(f"  {detail}", style="red", no_wrap=True, overflow="ellipsis"))
        cursor_line = 0
        focused = self.has_focus
        for i, job in enumerate(snap.jobs):
            if i == self.cursor:
                cursor_line = len(lines)
            line = Text(no_wrap=True, overflow="ellipsis")
            mark = ">" if i == self.cursor and focused else " "
            line.append(f"{mark}{ICONS.get(job.state, '?')} ", style=STYLES.get(job.state, ""))
            line.append(job.label, style=STYLES.get(job.state, ""))
            if i == self.cursor and focused:
                line.stylize("reverse")
            lines.append(line)
            if job.state == "submitted":
                lines.append(Text("   waiting on the backend", style="dim", no_wrap=True))
            elif job.state == "running":
                tail = f" {job.step}/{job.total} {duration(job.elapsed_s)}" if job.total else \
                    f" {duration(job.elapsed_s)}"
                prog = Text("   ", no_wrap=True)
                prog.append(bar(job.step, job.total, max(4, width - 3 - len(tail))), style="cyan")
                prog.append(tail, style="dim")
                lines.append(prog)
            elif job.state == "failed" and job.error:
                lines.append(Text("   " + job.error, style="red dim", no_wrap=True, overflow="ellipsis"))
        del queued
        foot: list[Text] = []
        for sw in snap.sweeps[:3]:
            t = Text(no_wrap=True, overflow="ellipsis")
            t.append(f"sweep {sw.name} {sw.done}/{sw.total}", style="bold")
            if sw.failed:
                t.append(f" {sw.failed} failed", style="red")
            t.append(f"  ETA {duration(sw.eta_s)}" if sw.eta_s is not None else "  ETA …", style="dim")
            foot.append(t)
        if not snap.jobs:
            lines.append(Text("no jobs yet", style="dim"))
        room = max(0, height - 1 - len(foot))
        start = 0
        if cursor_line >= room:
            start = cursor_line - room + 1
        body = lines[start:start + room]
        out = Text("\n").join([head, *body, *([Text("")] * (room - len(body))), *foot])
        out.no_wrap = True
        out.overflow = "ellipsis"
        return out
