"""The results table: a virtual Line-API view over any number of catalog rows.

Only the pages that are on screen are fetched from SQLite (by the two threads
of `data.fetcher`: one for pages, one for counts) and kept in an LRU cache; lines are
rendered on demand from that cache (toolong's pattern). `DataTable` would
measure every cell of a million rows on the UI thread.

A filter or sort change bumps a generation number. The fetcher skips or
abandons requests of an older generation and the table drops their answers,
so typing fast never builds a backlog of stale queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from gentui.tui.data.columns import SORTABLE, Column, layout_widths, visible_columns
from gentui.tui.data.fetcher import Request, ResultFetcher
from gentui.tui.data.results import PAGE_SIZE, ParsedFilter, ResultSource

COUNT_AFTER_S = 0.15
"""A filter's matches are counted when no newer filter came within this time."""


def _fit(text: str, width: int, align: str) -> str:
    if cell_len(text) > width:
        text = set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)
    pad = width - cell_len(text)
    return " " * pad + text if align == "right" else text + " " * pad


class ResultsTable(ScrollView, can_focus=True):
    """Scrollable, sortable, cursor-driven table of results matching a filter."""

    COMPONENT_CLASSES = {
        "results-table--header",
        "results-table--cursor",
        "results-table--loading",
    }

    DEFAULT_CSS = """
    ResultsTable {
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
    }
    ResultsTable > .results-table--header { text-style: bold; color: $text-accent; }
    ResultsTable > .results-table--cursor { background: $surface-lighten-1; }
    ResultsTable:focus > .results-table--cursor { background: $accent 40%; text-style: bold; }
    ResultsTable > .results-table--loading { color: $text-muted; }
    """

    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False, id="results.up"),
        Binding("down", "move(1)", "Down", show=False, id="results.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="results.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="results.page_down"),
        Binding("home", "first", "First row", show=False, id="results.first"),
        Binding("end", "last", "Last row", show=False, id="results.last"),
        Binding("s", "sort_next", "Sort", show=False, id="results.sort", tooltip="Sort by the next column"),
        Binding("S", "sort_reverse", "Reverse", show=False, id="results.reverse",
                tooltip="Reverse the sort direction"),
    ]

    cursor: reactive[int] = reactive(0, init=False)
    """Index (in the filtered, sorted results) of the highlighted row."""

    @dataclass
    class Highlighted(Message):
        """The row under the cursor changed (None: no rows).

        `by_cursor` is true when the user moved the cursor, false when a new
        filter, sort or reload put another row under it.
        """

        row: Any
        index: int
        by_cursor: bool = True

    @dataclass
    class Counted(Message):
        """How many results match the current filter."""

        total: int

    def __init__(self, source: ResultSource, *, id: str | None = None):
        super().__init__(id=id)
        self.source = source
        self.sort = "created"
        self.descending = True
        self.flt = ParsedFilter("", None)
        self.total: int | None = None
        self._generation = 0
        self._shown = -1
        """Generation whose pages are in the cache and on screen."""
        self._keep_position = False
        self._early_total: tuple[int, int] | None = None
        self._pages: LRUCache[tuple[int, int], list[Any]] = LRUCache(64)
        self._strips: LRUCache[tuple, Strip] = LRUCache(512)
        """Rendered lines: scrolling re-renders only the lines that changed."""
        self._style_cache: dict[tuple[str, bool], Style] = {}
        self._col_layout: tuple[int, list[Column], list[int]] | None = None
        self._inflight: set[tuple[int, int]] = set()
        self._last_highlight: Any = object()
        self._fetcher = ResultFetcher(source, lambda: self._generation, self._fetched_page,
                                      self._fetched_count, self._fetch_failed)

    # -- public API -----------------------------------------------------------
    def apply_filter(self, flt: ParsedFilter) -> None:
        """Show the results of a new filter, from the top."""
        self.flt = flt
        self._restart(keep_position=False)

    def reload(self) -> None:
        """Fetch again (new results, changed tags) keeping the cursor where it is."""
        self._restart(keep_position=True)

    @property
    def row(self) -> Any:
        """The row under the cursor, if it is loaded."""
        return self._row(self.cursor) if self._shown >= 0 else None

    def loaded_rows(self, limit: int = 10_000) -> list[Any]:
        """Rows already in the cache, in order (for the compare grid of a small query)."""
        rows: list[Any] = []
        page_no = 0
        while len(rows) < limit:
            page = self._pages.get((self._shown, page_no))
            if not page:
                break
            rows.extend(page)
            page_no += 1
        return rows[:limit]

    # -- lifecycle ------------------------------------------------------------
    def on_mount(self) -> None:
        self._fetcher.start()
        self._restart(keep_position=False)

    def on_unmount(self) -> None:
        self._fetcher.stop()

    def _restart(self, keep_position: bool) -> None:
        if self.flt.query is None:
            self.flt = self.source.parse(self.flt.text)
        self._generation += 1
        self._inflight.clear()  # older generations' requests are skipped or abandoned
        self._keep_position = keep_position
        first = self._page_of(int(self.scroll_y) if keep_position else 0)
        self._request(first)
        if keep_position and self._page_of(self.cursor) != first:
            self._request(self._page_of(self.cursor))
        self._fetcher.interrupt_count()  # a count for an older filter: nobody needs it any more

    # -- fetching (threads in data.fetcher) ----------------------------------
    def _page_of(self, index: int) -> int:
        return max(0, index) // PAGE_SIZE

    def _request(self, page_no: int) -> None:
        key = (self._generation, page_no)
        if key in self._inflight or key in self._pages:
            return
        self._inflight.add(key)
        self._fetcher.page(Request(self._generation, self.flt, self.sort, self.descending, page_no))

    def _fetched_page(self, req: Request, rows: list[Any]) -> None:
        self.post_message(self.PageLoaded(req.generation, req.page_no, rows))

    def _fetched_count(self, req: Request, total: int) -> None:
        self.post_message(self.CountLoaded(req.generation, total))

    def _fetch_failed(self, req: Request, error: str) -> None:
        self.post_message(self.FetchFailed(req.generation, error))

    @dataclass
    class PageLoaded(Message, bubble=False):
        generation: int
        page_no: int
        rows: list[Any]

        def can_replace(self, message: Message) -> bool:
            return False

    @dataclass
    class CountLoaded(Message, bubble=False):
        generation: int
        total: int

    @dataclass
    class FetchFailed(Message, bubble=False):
        generation: int
        error: str

    @dataclass
    class LoadFailed(Message):
        """A fetch failed (the catalog is locked or broken); the text says why."""

        error: str

    def on_results_table_page_loaded(self, msg: PageLoaded) -> None:
        msg.stop()
        self._inflight.discard((msg.generation, msg.page_no))
        if msg.generation != self._generation:
            return
        self._pages[(msg.generation, msg.page_no)] = msg.rows
        if self._shown != msg.generation:
            self._shown = msg.generation
            if not (msg.page_no == 0 and len(msg.rows) < PAGE_SIZE):
                # counted after the first page, so the count never slows the rows down, and
                # only once typing pauses: counting "c" of "chars:3" takes a core for a second
                self.set_timer(COUNT_AFTER_S, lambda gen=msg.generation, flt=self.flt: self._count_later(gen, flt))
            if not self._keep_position:
                self.scroll_to(y=0, animate=False, immediate=True, force=True)
                self.set_reactive(ResultsTable.cursor, 0)
            early = self._early_total
            if early is not None and early[0] == msg.generation:
                self._set_total(early[1])
            elif msg.page_no == 0 and len(msg.rows) < PAGE_SIZE:
                self._set_total(len(msg.rows))
            elif not self._keep_position:
                self._set_total(None)
        elif msg.page_no == 0 and len(msg.rows) < PAGE_SIZE and self.total is None:
            self._set_total(len(msg.rows))
        self._update_virtual_size()
        self._clamp_cursor()
        self.refresh()
        self._announce(by_cursor=False)

    def _count_later(self, generation: int, flt: ParsedFilter) -> None:
        if generation == self._generation:
            self._fetcher.count(Request(generation, flt))

    def on_results_table_count_loaded(self, msg: CountLoaded) -> None:
        msg.stop()
        if msg.generation == self._generation and self._shown != msg.generation:
            self._early_total = (msg.generation, msg.total)  # the page is still on its way
        elif msg.generation == self._generation:
            self._set_total(msg.total)
            self._update_virtual_size()
            self._clamp_cursor()
            self.refresh()

    def on_results_table_fetch_failed(self, msg: FetchFailed) -> None:
        msg.stop()
        if msg.generation == self._generation:
            self.post_message(self.LoadFailed(msg.error))

    def _set_total(self, total: int | None) -> None:
        self.total = total
        if total is not None:
            self.post_message(self.Counted(total))

    def _known_rows(self) -> int:
        if self.total is not None:
            return self.total
        # Count still running: allow scrolling through what is loaded plus one page.
        loaded = max((p for g, p in self._pages.keys() if g == self._shown), default=-1)
        return (loaded + 2) * PAGE_SIZE if loaded >= 0 else 0

    def _update_virtual_size(self) -> None:
        """Tell the scrollbar how many rows there are, without a relayout when it can.

        `virtual_size` is a layout reactive: setting it re-arranges the whole
        screen (20-30 ms with the queue, preview and footer), and a new filter
        changes it twice (first page, then the count). Only a scrollbar that
        appears or disappears changes the layout; otherwise the scrollbar is
        told directly.
        """
        size = Size(self.scrollable_content_region.width, self._known_rows() + 1)
        if size == self.virtual_size:
            return
        height = self.container_size.height
        if not height or (size.height > height) != self.show_vertical_scrollbar:
            self.virtual_size = size
            return
        self.set_reactive(ResultsTable.virtual_size, size)
        if self.show_vertical_scrollbar:
            bar = self.vertical_scrollbar
            bar.window_virtual_size = size.height
            bar.refresh()
        self.scroll_y = self.validate_scroll_y(self.scroll_y)
        self.refresh()

    def on_resize(self) -> None:
        self._update_virtual_size()

    # -- rows and cursor ------------------------------------------------------
    def _row(self, index: int) -> Any:
        page = self._pages.get((self._shown, self._page_of(index)))
        if page is None:
            return None
        offset = index % PAGE_SIZE
        return page[offset] if offset < len(page) else None

    @property
    def _body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _clamp_cursor(self) -> None:
        rows = self._known_rows()
        if rows and self.cursor >= rows:
            self.cursor = rows - 1

    def watch_cursor(self, old: int, new: int) -> None:
        top = int(self.scroll_y)
        if new < top:
            self.scroll_to(y=new, animate=False, immediate=True, force=True)
        elif new >= top + self._body_height:
            self.scroll_to(y=new - self._body_height + 1, animate=False, immediate=True, force=True)
        self.refresh()
        if self._row(new) is None and self._shown >= 0:
            self._request(self._page_of(new))
        self._announce()

    def _announce(self, by_cursor: bool = True) -> None:
        row = self.row
        if row is not self._last_highlight:
            self._last_highlight = row
            self.post_message(self.Highlighted(row, self.cursor, by_cursor))

    def action_move(self, delta: int) -> None:
        rows = self._known_rows()
        if rows:
            self.cursor = max(0, min(rows - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_move(direction * self._body_height)

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        if self.total is not None and self.total:
            self.cursor = self.total - 1

    def action_sort_next(self) -> None:
        i = SORTABLE.index(self.sort) if self.sort in SORTABLE else -1
        self.sort = SORTABLE[(i + 1) % len(SORTABLE)]
        self._restart(keep_position=False)

    def action_sort_reverse(self) -> None:
        self.descending = not self.descending
        self._restart(keep_position=False)

    def on_click(self, event: Any) -> None:
        y = event.y
        if y >= 1:
            self.cursor = min(max(0, self._known_rows() - 1), int(self.scroll_y) + y - 1)

    # -- rendering ------------------------------------------------------------
    def _columns(self) -> tuple[list[Column], list[int]]:
        width = self.scrollable_content_region.width
        if self._col_layout is None or self._col_layout[0] != width:
            cols = visible_columns(width)
            self._col_layout = (width, cols, layout_widths(cols, width))
        return self._col_layout[1], self._col_layout[2]

    def _style(self, name: str) -> Style:
        key = (name, self.has_focus)
        style = self._style_cache.get(key)
        if style is None:
            style = self.rich_style + (self.get_component_rich_style(name) if name else Style())
            self._style_cache[key] = style
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache = {}
        self._strips.clear()

    def on_focus(self) -> None:
        self._strips.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._strips.clear()
        self.refresh()

    def _line(self, cells: list[str], cols: list[Column], widths: list[int]) -> str:
        return " " + " ".join(_fit(c, w, col.align) for c, col, w in zip(cells, cols, widths))

    def _message_line(self, text: str, width: int) -> Strip:
        style = self._style("results-table--loading")
        return Strip([Segment(text, style)]).adjust_cell_length(width, style)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        cols, widths = self._columns()
        if y == 0:
            titles = []
            for col in cols:
                mark = ("▼" if self.descending else "▲") if col.key == self.sort else ""
                titles.append(col.title + mark)
            style = self._style("results-table--header")
            return Strip([Segment(self._line(titles, cols, widths), style)]).adjust_cell_length(width, style)
        index = int(self.scroll_y) + y - 1
        if self._shown < 0:
            return self._message_line(" loading…" if y == 1 else "", width)
        if self.total == 0 and y == 1:
            msg = " no results match this filter" if self.flt.text.strip() else " no results yet"
            return self._message_line(msg, width)
        if index >= self._known_rows():
            return Strip.blank(width, self._style(""))
        row = self._row(index)
        if row is None:
            self._request(self._page_of(index))
            return self._message_line(" …", width)
        is_cursor = index == self.cursor
        key = (self._shown, index, width, is_cursor, self.has_focus, id(row))
        strip = self._strips.get(key)
        if strip is None:
            if is_cursor:
                style = self._style("results-table--cursor")
            elif getattr(row, "status", "done") not in (None, "done"):
                style = self._style("results-table--loading")
            else:
                style = self._style("")
            text = self._line([col.cell(row) for col in cols], cols, widths)
            strip = Strip([Segment(text, style)]).adjust_cell_length(width, style)
            self._strips[key] = strip
        return strip
