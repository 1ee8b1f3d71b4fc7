"""The bleed matrix: how often features bled, by two axes, over the current query.

The counting lives in `gentui.analysis.bleed` and `gentui.analysis.rates`
(shared with `gentui export` and `gentui report`); this screen picks the axes
and the outcome, renders the table and, under it, the operating line (the
highest weight whose bleed rate stays under the threshold, per layout x named x
character count).
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from gentui.tui.data.results import ParsedFilter

AXES = ["weight", "layout", "named", "seed", "variant", "chars"]
OUTCOME_CHOICES: list[str | None] = [None, "migrated", "duplicated", "color_drift", "missing", "collapse",
                                     "artifact"]
MAX_RESULTS = 200_000
THRESHOLDS = [0.1, 0.05, 0.2, 0.3]
"""Bleed rates the operating line may be drawn under (`m` cycles them)."""


def matching_ids(catalog: Any, flt: ParsedFilter, limit: int = MAX_RESULTS) -> list[int]:
    """Ids of the results a filter matches (blocking)."""
    from sqlalchemy import select

    from gentui.catalog.models import Result
    from gentui.catalog.query import where_clause

    stmt = select(Result.id).where(where_clause(flt.query)).limit(limit)
    with catalog.engine.connect() as conn:
        return [r[0] for r in conn.execute(stmt)]


def matrix_renderable(m: Any) -> Table:
    from gentui.analysis.axes import axis_label
    from gentui.analysis.rates import format_interval

    what = "/".join(m.counted)
    table = Table(title=f"bleed rate ({what}) by {m.rows_axis} x {m.cols_axis}", title_justify="left",
                  show_lines=False, header_style="bold", expand=False)
    table.add_column(f"{m.rows_axis} \\ {m.cols_axis}", style="bold cyan", no_wrap=True)
    for cv in m.col_values:
        table.add_column(axis_label(m.cols_axis, cv), justify="right", no_wrap=True)
    table.add_column("all", justify="right", style="bold", no_wrap=True)
    table.add_column("95% CI", justify="right", style="dim", no_wrap=True, min_width=8)
    for rv in m.row_values:
        total = m.row_total(rv)
        cells = [_cell_text(m.cell(rv, cv)) for cv in m.col_values]
        table.add_row(axis_label(m.rows_axis, rv), *cells, _cell_text(total), format_interval(total))
    return table


def _cell_text(c: Any) -> Text:
    """`40% 2/5 judged of 8`, coloured by the rate."""
    if not c.results:
        return Text("")
    if not c.judged:
        return Text(f"- 0 judged of {c.results}", style="dim")
    rate = c.bled / c.judged
    style = "bold red" if rate >= 0.5 else ("yellow" if rate > 0 else "green")
    t = Text(f"{rate:.0%}", style=style)
    t.append(f" {c.bled}/{c.judged} judged", style="dim")
    if c.judged < c.results:
        t.append(f" of {c.results}", style="dim")
    return t


def operating_line_text(lines: list[Any], max_bleed: float) -> Text:
    """The operating line under the matrix: one line per layout x named x character count."""
    from gentui.analysis.rates import describe_group

    t = Text(f"\nOperating line (bleed under {max_bleed:.0%}, m to change)\n", style="bold")
    if not lines:
        t.append("no results with a LoRA weight\n", style="dim")
    for line in lines:
        t.append(f"  {describe_group(line.group)}: ", style="cyan")
        verdict = line.verdict()
        t.append(verdict + "\n", style="green" if line.enough else "yellow")
    return t


class BleedScreen(Screen):
    """Outcome rates per two axes, with counts, for the current query."""

    DEFAULT_CSS = """
    BleedScreen #bleed-body { height: 1fr; padding: 0 1; }
    """

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="bleed.back"),
        Binding("r", "cycle('rows')", "Rows axis", id="bleed.rows", tooltip="Cycle the row axis"),
        Binding("c", "cycle('cols')", "Columns axis", id="bleed.cols", tooltip="Cycle the column axis"),
        Binding("o", "outcome", "Outcome", id="bleed.outcome",
                tooltip="Cycle the outcome counted (all bleed outcomes, or one)"),
        Binding("t", "transpose", "Swap axes", id="bleed.transpose", show=False),
        Binding("m", "threshold", "Max bleed", id="bleed.threshold",
                tooltip="Cycle the bleed rate the operating line stays under (10%, 5%, 20%, 30%)"),
    ]

    def __init__(self, flt: ParsedFilter, rows: str = "weight", cols: str = "layout"):
        super().__init__()
        self.flt = flt
        self.rows = rows
        self.cols = cols
        self.outcome: str | None = None
        self.max_bleed = THRESHOLDS[0]
        self.lines: list[Any] = []
        self.ids: list[int] | None = None
        self.matrix: Any = None

    def compose(self) -> ComposeResult:
        yield Static(f" BLEED MATRIX  query: {self.flt.text or '(all results)'}", classes="screen-title",
                     id="bleed-title")
        with VerticalScroll(id="bleed-body"):
            yield Static("counting…", id="bleed-table")
            yield Static("", id="bleed-line")
            yield Static("", id="bleed-hint", classes="hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._compute()

    @work(thread=True, exclusive=True, group="bleed", exit_on_error=False)
    def _compute(self) -> None:
        from gentui.analysis.bleed import bleed_matrix
        from gentui.analysis.rates import operating_lines

        app: Any = self.app
        try:
            if self.ids is None:
                self.ids = matching_ids(app.catalog, self.flt)
            m = bleed_matrix(app.catalog, self.ids, rows=self.rows, cols=self.cols, outcome=self.outcome)
            lines = operating_lines(app.catalog, self.ids, max_bleed=self.max_bleed)
        except Exception as e:
            self.app.call_from_thread(self.query_one("#bleed-table", Static).update,
                                      Text(f"cannot compute the matrix: {e}", style="red"))
            return
        self.app.call_from_thread(self._show, m, lines)

    def _show(self, m: Any, lines: list[Any]) -> None:
        self.matrix = m
        self.lines = lines
        self.query_one("#bleed-line", Static).update(operating_line_text(lines, self.max_bleed))
        body = self.query_one("#bleed-table", Static)
        if not m.row_values:
            body.update(Text("no results match this query", style="dim"))
        else:
            body.update(matrix_renderable(m))
        n = len(self.ids or [])
        more = f" (first {MAX_RESULTS:,})" if n >= MAX_RESULTS else ""
        self.query_one("#bleed-hint", Static).update(
            f"{n:,} results{more}. A cell: bleed rate, bled/judged, of the results in the cell. Judged = has an "
            f"annotation. 95% CI: Wilson interval of the row. r/c cycle the axes ({', '.join(AXES)}), "
            "o the outcome, m the threshold of the operating line.")

    def action_cycle(self, which: str) -> None:
        current = getattr(self, which)
        other = self.cols if which == "rows" else self.rows
        i = AXES.index(current) if current in AXES else -1
        for step in range(1, len(AXES) + 1):
            cand = AXES[(i + step) % len(AXES)]
            if cand != other:
                setattr(self, which, cand)
                break
        self._compute()

    def action_transpose(self) -> None:
        self.rows, self.cols = self.cols, self.rows
        self._compute()

    def action_outcome(self) -> None:
        i = OUTCOME_CHOICES.index(self.outcome)
        self.outcome = OUTCOME_CHOICES[(i + 1) % len(OUTCOME_CHOICES)]
        self._compute()

    def action_threshold(self) -> None:
        i = THRESHOLDS.index(self.max_bleed) if self.max_bleed in THRESHOLDS else -1
        self.max_bleed = THRESHOLDS[(i + 1) % len(THRESHOLDS)]
        self._compute()
