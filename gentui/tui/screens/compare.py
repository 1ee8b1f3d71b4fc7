"""The compare grid: the current query laid out by two axes (seed x weight by default).

Arrow keys move between cells, enter opens one large, `a` annotates it. Blind
mode hides every label and shuffles the cells, so the weight cannot bias the
judgement; turning it off reveals where each picture came from.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from gentui.analysis.axes import axis_label, axis_value, ordered_values
from gentui.tui.data.details import thumb_for
from gentui.tui.data.results import ParsedFilter, ResultSource
from gentui.tui.widgets.thumbnail import Thumbnail

AXES = ["seed", "weight", "variant", "layout", "named", "chars"]
MAX_RESULTS = 400
MAX_COLS = 8
MAX_ROWS = 12
CELL_HEIGHT = 10


@dataclass
class CellData:
    row_value: Any
    col_value: Any
    results: list[Any]

    @property
    def first(self) -> Any:
        return self.results[0] if self.results else None


def build_grid(rows: list[Any], row_axis: str, col_axis: str) -> tuple[list[Any], list[Any], list[CellData]]:
    """Row values, column values and the cells (row-major) of `rows` laid out by two axes."""
    rvals = ordered_values(rows, row_axis)[:MAX_ROWS]
    cvals = ordered_values(rows, col_axis)[:MAX_COLS]
    by_key: dict[tuple, list[Any]] = {}
    for r in rows:
        by_key.setdefault((axis_value(r, row_axis), axis_value(r, col_axis)), []).append(r)
    cells = [CellData(rv, cv, by_key.get((rv, cv), [])) for rv in rvals for cv in cvals]
    return rvals, cvals, cells


class CompareCell(Vertical):
    """One labelled thumbnail of the grid."""

    DEFAULT_CSS = """
    CompareCell { height: 100%; border: round $panel-lighten-2; }
    CompareCell.-selected { border: round $accent; }
    CompareCell > Static { height: 1; color: $text-muted; }
    CompareCell.-selected > Static { color: $text; text-style: bold; }
    CompareCell > Thumbnail { height: 1fr; }
    """

    def __init__(self, index: int, protocol: str):
        super().__init__()
        self.index = index
        self.protocol = protocol
        self.cell: CellData | None = None

    def compose(self) -> ComposeResult:
        yield Thumbnail(self.protocol)
        yield Static("")

    def show(self, cell: CellData, label: str, thumb: str | None) -> None:
        self.cell = cell
        self.query_one(Static).update(Text(label, no_wrap=True, overflow="ellipsis"))
        self.query_one(Thumbnail).show(thumb, note="empty" if cell.first is None else "no image")


class CompareScreen(Screen):
    """A grid of thumbnails over two axes of the current query."""

    DEFAULT_CSS = """
    CompareScreen #cmp-scroll { height: 1fr; }
    CompareScreen #cmp-grid { height: auto; grid-gutter: 0 0; padding: 0 1; }
    CompareScreen .axis { height: 100%; content-align: center middle; color: $text-accent; text-style: bold; }
    CompareScreen .col-head { height: 1; text-style: bold; color: $text-accent; content-align: center middle; }
    """

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="compare.back"),
        Binding("up", "move(0, -1)", "Up", show=False, id="compare.up"),
        Binding("down", "move(0, 1)", "Down", show=False, id="compare.down"),
        Binding("left", "move(-1, 0)", "Left", show=False, id="compare.left"),
        Binding("right", "move(1, 0)", "Right", show=False, id="compare.right"),
        Binding("enter", "open", "Open", id="compare.open", tooltip="Open the picture large"),
        Binding("a", "annotate", "Annotate", id="compare.annotate", tooltip="Judge the selected picture"),
        Binding("r", "cycle('row')", "Rows", id="compare.rows", tooltip="Cycle the row axis"),
        Binding("c", "cycle('col')", "Columns", id="compare.cols", tooltip="Cycle the column axis"),
        Binding("B", "blind", "Blind", id="compare.blind",
                tooltip="Blind mode: hide labels and shuffle (press again to reveal)"),
    ]

    def __init__(self, flt: ParsedFilter, sort: str = "created", descending: bool = True,
                 row_axis: str = "seed", col_axis: str = "weight"):
        super().__init__()
        self.flt = flt
        self.sort = sort
        self.descending = descending
        self.row_axis = row_axis
        self.col_axis = col_axis
        self.rows: list[Any] = []
        self.blind = False
        self.order: list[int] = []
        """Display position -> cell index (a permutation in blind mode)."""
        self.cells: list[CellData] = []
        self.ncols = 1
        self.selected = 0

    def compose(self) -> ComposeResult:
        yield Static(" COMPARE  loading…", classes="screen-title", id="cmp-title")
        with VerticalScroll(id="cmp-scroll"):
            yield Grid(id="cmp-grid")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="compare-load", exit_on_error=False)
    def _load(self) -> None:
        app: Any = self.app
        try:
            source = ResultSource(app.catalog)
            from gentui.catalog.query import search

            rows = search(app.catalog, self.flt.query if self.flt.query is not None else source.parse("").query,
                          sort=None, descending=self.descending, limit=MAX_RESULTS)
            thumbs = {r.id: thumb_for(r, app.thumbnail_dir) for r in rows}
        except Exception as e:
            self.app.call_from_thread(self.notify, f"compare: {e}", severity="error")
            return
        self.thumbs = thumbs
        self.app.call_from_thread(self._loaded, rows)

    async def _loaded(self, rows: list[Any]) -> None:
        self.rows = rows
        await self._layout()

    async def _layout(self) -> None:
        rvals, cvals, self.cells = build_grid(self.rows, self.row_axis, self.col_axis)
        self.rvals, self.cvals = rvals, cvals
        self.ncols = max(1, len(cvals))
        self.order = list(range(len(self.cells)))
        if self.blind:
            random.shuffle(self.order)
        self.selected = min(self.selected, max(0, len(self.cells) - 1))
        grid = self.query_one("#cmp-grid", Grid)
        await grid.remove_children()
        grid.styles.grid_size_columns = self.ncols + 1
        grid.styles.grid_columns = f"12 {' '.join(['1fr'] * self.ncols)}"
        nrows = max(1, len(rvals))
        grid.styles.grid_rows = "1 " + " ".join([str(CELL_HEIGHT)] * nrows)
        widgets: list[Any] = [Static("" if self.blind else f"{self.row_axis}\\{self.col_axis}", classes="col-head")]
        for cv in cvals:
            widgets.append(Static("?" if self.blind else axis_label(self.col_axis, cv), classes="col-head"))
        protocol = getattr(self.app, "image_protocol", "halfblock")
        for pos in range(len(self.cells)):
            if pos % self.ncols == 0:
                rv = rvals[pos // self.ncols]
                widgets.append(Static("?" if self.blind else axis_label(self.row_axis, rv), classes="axis"))
            widgets.append(CompareCell(pos, protocol))
        await grid.mount_all(widgets)
        self._fill()
        n = len(self.rows)
        extra = f" (first {MAX_RESULTS})" if n >= MAX_RESULTS else ""
        mode = "  BLIND: labels hidden, cells shuffled (B reveals)" if self.blind else ""
        self.query_one("#cmp-title", Static).update(
            f" COMPARE  {self.flt.text or '(all results)'}  {n} results{extra}  "
            f"rows {self.row_axis} x columns {self.col_axis}{mode}")

    def _fill(self) -> None:
        for widget in self.query(CompareCell):
            cell = self.cells[self.order[widget.index]]
            first = cell.first
            if self.blind:
                label = f"#{widget.index + 1}" if first else "empty"
            else:
                label = (f"#{first.id} " if first else "") + (f"+{len(cell.results) - 1}" if len(cell.results) > 1 else "")
                if first is not None and first.tags:
                    label += " " + ",".join(first.tags)
            widget.show(cell, label, self.thumbs.get(first.id) if first else None)
            widget.set_class(widget.index == self.selected, "-selected")

    @property
    def selected_row(self) -> Any:
        if not self.cells:
            return None
        return self.cells[self.order[self.selected]].first

    def action_move(self, dx: int, dy: int) -> None:
        if not self.cells:
            return
        col, row = self.selected % self.ncols, self.selected // self.ncols
        nrows = (len(self.cells) + self.ncols - 1) // self.ncols
        col = max(0, min(self.ncols - 1, col + dx))
        row = max(0, min(nrows - 1, row + dy))
        self.selected = min(len(self.cells) - 1, row * self.ncols + col)
        for widget in self.query(CompareCell):
            widget.set_class(widget.index == self.selected, "-selected")
            if widget.index == self.selected:
                widget.scroll_visible(animate=False)

    def action_open(self) -> None:
        row = self.selected_row
        if row is not None:
            from gentui.tui.screens.image import ImageScreen

            label = "" if self.blind else (f"{self.row_axis} {axis_label(self.row_axis, axis_value(row, self.row_axis))}"
                                           f"  {self.col_axis} {axis_label(self.col_axis, axis_value(row, self.col_axis))}")
            self.app.push_screen(ImageScreen(row.id, label))

    def action_annotate(self) -> None:
        row = self.selected_row
        if row is None:
            self.notify("empty cell", severity="warning")
            return
        from gentui.tui.screens.main import MainScreen

        for screen in self.app.screen_stack:
            if isinstance(screen, MainScreen):
                screen.annotate_result(row)

    async def action_cycle(self, which: str) -> None:
        attr = "row_axis" if which == "row" else "col_axis"
        other = self.col_axis if which == "row" else self.row_axis
        current = getattr(self, attr)
        i = AXES.index(current) if current in AXES else -1
        for step in range(1, len(AXES) + 1):
            cand = AXES[(i + step) % len(AXES)]
            if cand != other:
                setattr(self, attr, cand)
                break
        await self._layout()

    async def action_blind(self) -> None:
        self.blind = not self.blind
        if not self.blind:
            self.notify("revealed: labels back, cells in order", timeout=3)
        await self._layout()
