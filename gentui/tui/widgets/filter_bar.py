"""The filter bar: one line of query language above the results table.

Every keystroke is parsed; a valid filter is applied at once. A mistake turns
the text red at once and, when typing pauses (or on enter), is explained
underneath with a caret under the offending token and the valid keys. The
typed text is left exactly as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Static

from gentui.tui.data.results import ParsedFilter, ResultSource

ERROR_AFTER_S = 0.3
"""How long a mistake in the filter waits (for more typing) before it is explained."""

PLACEHOLDER = "/ filter: w:0.6..1.0 chars:2 named:yes tag:bleed \"ribbon\""


def describe_error(text: str, error: Exception) -> Text:
    """Two or three lines: the text, a caret under the bad column, the reason."""
    column = getattr(error, "column", None)
    reason = getattr(error, "reason", None) or str(error)
    token = getattr(error, "token", None)
    out = Text()
    if isinstance(column, int) and column >= 1:  # QueryError.column is 1-based
        length = max(1, len(token)) if token else 1
        # the input has one cell of padding, so column N sits N cells from the left edge
        out.append(" " * column + "^" * min(length, max(1, len(text) - column + 1)), style="bold red")
        out.append("\n")
    out.append(f"col {column}: " if isinstance(column, int) else "", style="red")
    out.append(reason, style="red")
    keys = getattr(error, "valid_keys", None)
    if keys and "valid" not in reason:
        out.append(f"  (keys: {', '.join(keys)})", style="dim")
    return out


class CountLabel(Widget):
    """"124 of 5,310": a fixed-width label that repaints without a relayout."""

    DEFAULT_CSS = "CountLabel { width: 22; height: 1; color: $text-muted; padding: 0 1; }"

    label: reactive[str] = reactive("…")

    def render(self) -> Text:
        return Text(self.label, justify="right", no_wrap=True, overflow="ellipsis")


class FilterInput(Input):
    """The query line: one row of fixed width, so typing never re-arranges the screen.

    `Input` grows its virtual width with every character and asks for a layout
    of the whole screen each time (20-40 ms per key with the results table,
    queue and preview on it). The bar's size is set by its container, and
    scrolling inside it only needs a repaint, so the layout request is dropped
    unless the input sizes itself to its content.
    """

    def refresh(self, *regions: Any, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> Self:
        if layout and not self.styles.auto_dimensions:
            layout = False
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)


class FilterBar(Vertical):
    """Query input + error line + "124 of 5,310" count."""

    DEFAULT_CSS = """
    FilterBar { height: auto; }
    FilterBar > Horizontal { height: 1; }
    FilterBar Input { border: none; height: 1; padding: 0 1; width: 1fr; background: $surface; }
    FilterBar Input:focus { border: none; background: $boost; }  /* Input's own :focus adds a tall border that hides the text in one row */
    FilterBar #filter-error { height: auto; max-height: 3; display: none; padding: 0 0; }
    FilterBar.-error #filter-error { display: block; }
    FilterBar.-invalid Input { color: $text-error; }
    """

    BINDINGS = [
        Binding("escape", "leave", "Back to results", id="filter.leave",
                tooltip="Keep the filter and go back to the table"),
        # priority: Input's own ctrl+u only deletes left of the cursor
        Binding("ctrl+u", "clear", "Clear filter", id="filter.clear", priority=True),
    ]

    @dataclass
    class Changed(Message):
        """A valid filter was typed."""

        filter: ParsedFilter

    @dataclass
    class Left(Message):
        """The user is done typing (enter or escape)."""

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.total_all: int | None = None
        self.matched: int | None = None
        self.error: Exception | None = None
        self._error_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield FilterInput(placeholder=PLACEHOLDER, id="filter-input", select_on_focus=False)
            yield CountLabel(id="filter-count")
        yield Static("", id="filter-error")

    @property
    def text(self) -> str:
        return self.query_one(Input).value

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.apply(event.value)

    def apply(self, text: str) -> None:
        """Parse `text`; post Changed when valid, show the error when not."""
        self._cancel_error_timer()
        try:
            flt = ResultSource.parse(text)
        except Exception as e:  # QueryError (or anything the parser raises)
            self.error = e
            self.set_class(True, "-invalid")  # the text turns red at once
            # the explanation waits for typing to pause: "w:0." is only half typed, and the
            # line appearing and going at every key would re-arrange the screen each time
            self._error_timer = self.set_timer(ERROR_AFTER_S, lambda err=e: self._show_error(text, err))
            return
        if self.error is not None:  # only touch the error line when it changes (no relayout per key)
            self.error = None
            self.set_class(False, "-invalid", "-error")
            self.query_one("#filter-error", Static).update("")
        self.post_message(self.Changed(flt))

    def _cancel_error_timer(self) -> None:
        if self._error_timer is not None:
            self._error_timer.stop()
            self._error_timer = None

    def _show_error(self, text: str, error: Exception) -> None:
        self._cancel_error_timer()
        if self.error is error:
            self.add_class("-error")
            self.query_one("#filter-error", Static).update(describe_error(text, error))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.error is None:
            self.post_message(self.Left())
        else:  # enter on a mistake: explain it now
            self._show_error(self.text, self.error)

    def action_leave(self) -> None:
        self.post_message(self.Left())

    def action_clear(self) -> None:
        self.query_one(Input).value = ""

    def set_counts(self, matched: int | None = None, total: int | None = None) -> None:
        """Show "124 of 5,310" (or just the total when no filter is typed)."""
        if matched is not None:
            self.matched = matched
        if total is not None:
            self.total_all = total
        if self.matched is None:
            label = "…"
        elif self.total_all is None or not self.text.strip():
            label = f"{self.matched:,}"
        else:
            label = f"{self.matched:,} of {self.total_all:,}"
        self.query_one(CountLabel).label = label
