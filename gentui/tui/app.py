"""The gentui App: owns the catalog, the queue poller and the health checks.

Screens come and go; what must keep running while they do (watching the job
table, checking the backends) belongs here. The queue itself runs in
`gentui worker`, a separate process, so closing the App never stops it.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.worker import Worker, WorkerState, get_current_worker

from gentui.catalog.db import Catalog, open_catalog
from gentui.config import Settings
from gentui.queue.control import Action
from gentui.tui.commands import GentuiCommands
from gentui.tui.data import images
from gentui.tui.data.jobs import QueueSnapshot, poll_queue

WORKER_RETRY_S = 20.0
"""A worker that was just started needs a moment to take its lease: do not start another."""


class GentuiApp(App[int]):
    """Run, browse and judge image-generation experiments."""

    CSS_PATH = "app.tcss"
    TITLE = "gentui"
    COMMANDS = App.COMMANDS | {GentuiCommands}
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Quit (the queue keeps running)"),
        Binding("question_mark", "help", "Help", id="app.help", tooltip="Every key on this screen"),
    ]

    snapshot: reactive[QueueSnapshot] = reactive(QueueSnapshot, always_update=False)
    """The latest queue snapshot (screens watch it)."""
    backend_states: reactive[tuple[tuple[str, str, str], ...]] = reactive(())
    ollama_state: reactive[str] = reactive("checking")
    results_version: reactive[int] = reactive(0)
    """Bumped whenever results are added or changed (tables reload on it)."""

    @dataclass
    class QueuePolled(Message):
        snapshot: QueueSnapshot

    def __init__(self, settings: Settings, catalog: Catalog | None = None, *, demo: bool = False,
                 start_worker: bool = True, poll_interval: float = 0.5, health_interval: float = 10.0,
                 image_protocol: str | None = None, worker_args: tuple[str, ...] = ()):
        super().__init__()
        self.settings = settings
        self.catalog = catalog or open_catalog(settings.catalog_path)
        self.demo = demo
        self.start_worker = start_worker
        self.worker_args = worker_args
        """Extra arguments for a `gentui worker` this App starts (tests pass --until-idle)."""
        self.poll_interval = poll_interval
        self.health_interval = health_interval
        self.image_protocol = image_protocol or images.resolve_protocol(settings.tui.image_protocol)
        self._stopping = False
        self._polled = False
        self._worker_tried = -WORKER_RETRY_S
        self.theme = settings.tui.theme if settings.tui.theme in self.available_themes else "textual-dark"

    @property
    def thumbnail_dir(self) -> Path:
        return self.settings.thumbnail_dir

    def on_mount(self) -> None:
        if self.settings.tui.keys:
            self.set_keymap(self.settings.tui.keys)
        from gentui.tui.screens.main import MainScreen

        self.push_screen(MainScreen())
        # Start-up objects (SQLAlchemy, Textual, CSS) never die: keep the collector from walking
        # them on every full collection, which otherwise stalls the UI for tens of milliseconds.
        self.call_after_refresh(gc.freeze)
        if self.poll_interval > 0:
            self._poll_queue()
        if self.health_interval > 0:
            self._check_health()

    async def action_quit(self) -> None:
        self._stopping = True
        self.exit(0)

    def action_help(self) -> None:
        from gentui.tui.dialogs.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    # -- queue --------------------------------------------------------------
    @work(thread=True, group="queue-poll", exit_on_error=False)
    def _poll_queue(self) -> None:
        worker = get_current_worker()
        last: QueueSnapshot | None = None
        while not self._stopping and not worker.is_cancelled:
            try:
                snap = poll_queue(self.catalog, last)
            except Exception as e:  # a locked or broken catalog: say so, keep polling
                self.call_from_thread(self.notify, f"queue: {e}", severity="error", timeout=4)
                time.sleep(2)
                continue
            if snap != last:
                self.post_message(self.QueuePolled(snap))
                last = snap
            time.sleep(self.poll_interval)

    def on_gentui_app_queue_polled(self, msg: QueuePolled) -> None:
        old = self.snapshot
        self.snapshot = msg.snapshot
        snap = msg.snapshot
        if (self.start_worker and snap.active and not snap.workers and not snap.paused
                and time.monotonic() - self._worker_tried > WORKER_RETRY_S):
            # jobs wait and nobody runs them: start the worker (it outlives this TUI)
            self.ensure_worker()
        if self._polled and old.max_result_id != snap.max_result_id:
            self.results_version += 1  # results arrived: tables reload
        self._polled = True

    def refresh_queue_now(self) -> None:
        """Re-read the queue at once (after the user changed it)."""
        self._poll_once()

    @work(thread=True, group="queue-poll-once", exit_on_error=False)
    def _poll_once(self) -> None:
        self.post_message(self.QueuePolled(poll_queue(self.catalog, self.snapshot)))

    @work(thread=True, group="worker-start", exclusive=True, exit_on_error=False)
    def ensure_worker(self) -> None:
        """Attach to the queue worker, or start one detached (it outlives the TUI)."""
        from gentui.tui.data.processes import ensure_worker

        self._worker_tried = time.monotonic()
        try:
            what = ensure_worker(self.catalog, self.settings, self.worker_args)
        except Exception as e:
            self.call_from_thread(self.notify, f"could not start the worker: {e}", severity="error")
            return
        if what.startswith("started"):
            self.call_from_thread(self.notify, what, timeout=4)

    @work(thread=True, group="queue-control", exit_on_error=False)
    def control_job(self, action: Action | str, job_id: int | None = None, backend: str | None = None) -> None:
        """A queue action from a key or the palette, through the same service as `gentui jobs`."""
        from gentui.queue.control import QueueService
        from gentui.queue.store import JobError

        service = QueueService(self.settings, self.catalog)
        try:
            res = service.do(Action(action), job_id, backend)
        except (JobError, ValueError) as e:  # the message is for the user
            self.call_from_thread(self.notify, str(e), severity="warning")
            return
        finally:
            service.store.close()
        if res.action == Action.RETRY and res.changed and self.start_worker:
            self.call_from_thread(self.ensure_worker)
        severity = "warning" if res.skipped and not res.changed else "information"
        self.call_from_thread(self.notify, res.message(), severity=severity, timeout=4)
        self.post_message(self.QueuePolled(poll_queue(self.catalog, self.snapshot)))

    # -- health ---------------------------------------------------------------
    @work(thread=True, group="health", exit_on_error=False)
    def _check_health(self) -> None:
        from gentui.tui.data.health import backend_states, ollama_state

        worker = get_current_worker()
        while not self._stopping and not worker.is_cancelled:
            states = backend_states(self.settings)
            self.call_from_thread(setattr, self, "backend_states", states)
            self.call_from_thread(setattr, self, "ollama_state", ollama_state(self.settings))
            for _ in range(int(self.health_interval * 10)):
                if self._stopping or worker.is_cancelled:
                    return
                time.sleep(0.1)

    # -- errors -------------------------------------------------------------
    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """The one place a failed worker becomes a visible error."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.notify(f"{event.worker.name}: {event.worker.error}", severity="error", timeout=6)
