"""The main screen: queue | filter + results table, then picture | facts.

It wires the widgets together (filter -> table -> preview) and holds the
judging actions, which run in thread workers and report through notify.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input

from gentui.tui.data.judge import Change, Judge, recent_features
from gentui.tui.data.results import ResultSource
from gentui.tui.dialogs.annotate import AnnotateDialog, AnnotationRequest
from gentui.tui.widgets.filter_bar import FilterBar
from gentui.tui.widgets.preview import Preview
from gentui.tui.widgets.queue_panel import QueuePanel
from gentui.tui.widgets.results_table import ResultsTable
from gentui.tui.widgets.status_line import StatusLine

QUICK_TAGS = {"keeper": "k", "bleed": "b", "collapse": "o"}
PREVIEW_SETTLE_S = 0.12
"""How long the preview waits for typing in the filter bar to pause."""


class MainScreen(Screen):
    """Queue, results and preview."""

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="main.filter", tooltip="Type a query (the query language)"),
        Binding("e", "edit", "Edit", id="main.edit", tooltip="Write a prompt and queue a sweep"),
        Binding("r", "rerun", "Re-run", id="main.rerun", show=False,
                tooltip="Load the selected result's parameters into the editor"),
        Binding("a", "annotate", "Annotate", id="main.annotate", tooltip="Judge one character's feature"),
        Binding("k", "tag('keeper')", "Keeper", id="main.tag_keeper", show=False, tooltip="Toggle tag keeper"),
        Binding("b", "tag('bleed')", "Bleed", id="main.tag_bleed", show=False, tooltip="Toggle tag bleed"),
        Binding("o", "tag('collapse')", "Collapse", id="main.tag_collapse", show=False,
                tooltip="Toggle tag collapse"),
        Binding("plus,equals_sign", "rate(1)", "Rate up", id="main.rate_up", show=False),
        Binding("minus", "rate(-1)", "Rate down", id="main.rate_down", show=False),
        Binding("u", "undo", "Undo", id="main.undo", show=False, tooltip="Undo the last annotation, tag or rating"),
        Binding("1", "zoom(0)", "Zoom 1", id="main.zoom_1", show=False, tooltip="Zoom on the first character"),
        Binding("2", "zoom(1)", "Zoom 2", id="main.zoom_2", show=False, tooltip="Zoom on the second character"),
        Binding("3", "zoom(2)", "Zoom 3", id="main.zoom_3", show=False, tooltip="Zoom on the third character"),
        Binding("0", "zoom(-1)", "Whole image", id="main.zoom_all", show=False),
        Binding("enter", "open", "Open", id="main.open", show=False, tooltip="Show the picture full screen"),
        Binding("c", "compare", "Compare", id="main.compare", tooltip="These results as a grid"),
        Binding("m", "matrix", "Matrix", id="main.matrix", tooltip="Bleed matrix of these results"),
        Binding("x", "interrupt", "Interrupt", id="main.interrupt", tooltip="Interrupt the running job"),
        Binding("p", "pause", "Pause", show=False, id="main.pause", tooltip="Pause or resume the queue"),
        Binding("tab", "focus_next", "Next pane", id="main.next_pane", show=False),
        Binding("y", "suggestion(True)", "Accept suggestion", id="main.suggest_accept", show=False,
                tooltip="Accept the first pending suggested annotation (recorded as the model's)"),
        Binding("n", "suggestion(False)", "Reject suggestion", id="main.suggest_reject", show=False,
                tooltip="Reject the first pending suggested annotation"),
    ]

    def compose(self) -> ComposeResult:
        app: Any = self.app
        yield StatusLine(id="status")
        with Horizontal(id="top"):
            yield QueuePanel(id="queue")
            with Vertical(id="results"):
                yield FilterBar(id="filter")
                yield ResultsTable(ResultSource(app.catalog), id="table")
        yield Preview(app.catalog, app.thumbnail_dir, app.image_protocol, id="preview")
        yield Footer(compact=True)

    def on_resize(self) -> None:
        self.set_class(self.size.width < 110, "-narrow")

    def on_mount(self) -> None:
        app: Any = self.app
        self.judge = Judge(app.catalog)
        self.watch(app, "snapshot", self._snapshot_changed)
        self.watch(app, "backend_states", self._states_changed)
        self.watch(app, "ollama_state", self._states_changed)
        self.watch(app, "results_version", self._results_changed, init=False)
        status = self.query_one(StatusLine)
        status.note = "DEMO (simulator)" if app.demo else ""
        self.query_one(ResultsTable).focus()

    # -- app state -> widgets --------------------------------------------------
    def _snapshot_changed(self, snap: Any) -> None:
        self.query_one(QueuePanel).snapshot = snap
        self.query_one(StatusLine).results = snap.result_count
        self.query_one(FilterBar).set_counts(total=snap.result_count)

    def _states_changed(self, _: Any = None) -> None:
        app: Any = self.app
        status = self.query_one(StatusLine)
        status.backends = app.backend_states
        status.ollama = app.ollama_state
        self.query_one(QueuePanel).unreachable = tuple(
            (label.split("@")[0], detail) for label, state, detail in app.backend_states if state.startswith("down"))

    def _results_changed(self, _: Any = None) -> None:
        self.query_one(ResultsTable).reload()

    # -- widget messages -------------------------------------------------------
    @on(FilterBar.Changed)
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        self.query_one(ResultsTable).apply_filter(event.filter)

    @on(FilterBar.Left)
    def _filter_left(self) -> None:
        self.query_one(ResultsTable).focus()

    @on(ResultsTable.Counted)
    def _counted(self, event: ResultsTable.Counted) -> None:
        self.query_one(FilterBar).set_counts(matched=event.total)

    @on(ResultsTable.Highlighted)
    def _highlighted(self, event: ResultsTable.Highlighted) -> None:
        # a new filter's first row waits for typing to pause; a cursor move shows at once
        self.query_one(Preview).show(event.row, settle=0 if event.by_cursor else PREVIEW_SETTLE_S)

    @on(ResultsTable.LoadFailed)
    def _load_failed(self, event: ResultsTable.LoadFailed) -> None:
        self.notify(f"results: {event.error}", severity="error")

    @on(QueuePanel.ControlRequested)
    def _queue_control(self, event: QueuePanel.ControlRequested) -> None:
        self.app.control_job(event.action, event.job_id)  # type: ignore[attr-defined]

    # -- actions ---------------------------------------------------------------
    def action_filter(self) -> None:
        self.query_one("#filter-input", Input).focus()

    def _selected(self) -> Any:
        row = self.query_one(ResultsTable).row
        if row is None:
            self.notify("no result selected", severity="warning")
        return row

    def action_edit(self) -> None:
        from gentui.tui.screens.editor import EditorScreen

        self.app.push_screen(EditorScreen())

    def action_rerun(self) -> None:
        row = self._selected()
        if row is not None:
            from gentui.tui.screens.editor import EditorScreen

            self.app.push_screen(EditorScreen(from_result=row.id))

    def action_annotate(self) -> None:
        self.annotate_result(self._selected())

    def annotate_result(self, row: Any) -> None:
        """Open the annotate flow for `row` (used by the compare screen too)."""
        if row is None:
            return
        self._open_annotate(row.id)

    @work(thread=False, group="annotate")
    async def _open_annotate(self, result_id: int) -> None:
        app: Any = self.app
        details = await self._details(result_id)
        slots = details.slot_names() if details else []
        features = await asyncio.to_thread(recent_features, app.catalog)
        req = await app.push_screen_wait(AnnotateDialog(f"Annotate #{result_id}", slots, features))
        if req is not None:
            self._write_annotation(result_id, req)

    async def _details(self, result_id: int) -> Any:
        from gentui.tui.data.details import load_details

        app: Any = self.app
        preview = self.query_one(Preview)
        if preview.details is not None and preview.details.id == result_id:
            return preview.details
        return await asyncio.to_thread(load_details, app.catalog, result_id, app.thumbnail_dir)

    @work(thread=True, group="judge", exit_on_error=False)
    def _write_annotation(self, result_id: int, req: AnnotationRequest) -> None:
        self._judged(lambda: self.judge.annotate(result_id, req.slot, req.feature, req.outcome,
                                                 req.target, req.color))

    def _judged(self, change_fn: Any) -> None:
        try:
            with self.judge.lock:
                change: Change | None = change_fn()
        except Exception as e:  # AnnotationError, a vanished result, a locked catalog
            self.app.call_from_thread(self.notify, str(e), severity="error")
            return
        self.app.call_from_thread(self._after_change, change)

    def _after_change(self, change: Change | None) -> None:
        if change is None:
            self.notify("nothing to undo", severity="warning")
            return
        self.notify(change.what, timeout=3)
        self.query_one(Preview).forget(change.result_id)
        self.query_one(ResultsTable).reload()

    def action_tag(self, tag: str) -> None:
        row = self._selected()
        if row is not None:
            self._toggle_tag(row.id, tag)

    @work(thread=True, group="judge", exit_on_error=False)
    def _toggle_tag(self, result_id: int, tag: str) -> None:
        self._judged(lambda: self.judge.toggle_tag(result_id, tag))

    def action_rate(self, delta: int) -> None:
        row = self._selected()
        if row is not None:
            self._rate(row.id, delta)

    @work(thread=True, group="judge", exit_on_error=False)
    def _rate(self, result_id: int, delta: int) -> None:
        self._judged(lambda: self.judge.rate(result_id, delta))

    @work(thread=True, group="judge", exit_on_error=False)
    def action_undo(self) -> None:
        self._judged(self.judge.undo)

    def action_suggestion(self, accept: bool) -> None:
        from gentui.tui.widgets.readout import decide_next

        decide_next(self, accept)

    def action_zoom(self, index: int) -> None:
        self.query_one(Preview).set_zoom(None if index < 0 else index)

    def action_open(self) -> None:
        row = self._selected()
        if row is not None:
            from gentui.tui.screens.image import ImageScreen

            self.app.push_screen(ImageScreen(row.id))

    def action_compare(self) -> None:
        from gentui.tui.screens.compare import CompareScreen

        table = self.query_one(ResultsTable)
        self.app.push_screen(CompareScreen(table.flt, table.sort, table.descending))

    def action_matrix(self) -> None:
        from gentui.tui.screens.bleed import BleedScreen

        self.app.push_screen(BleedScreen(self.query_one(ResultsTable).flt))

    def action_interrupt(self) -> None:
        self.app.control_job("interrupt")  # type: ignore[attr-defined]

    def action_pause(self) -> None:
        app: Any = self.app
        self.app.control_job("resume" if app.snapshot.paused else "pause")  # type: ignore[attr-defined]
