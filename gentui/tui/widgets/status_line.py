"""The one-line header: catalog size, each backend's state, Ollama's state."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

STATE_STYLE = {"ready": "green", "down": "red", "checking": "dim", "busy": "yellow", "off": "dim"}


class StatusLine(Widget):
    """` gentui  catalog 5,310 results   sim@127.0.0.1:8188 ready   ollama down`."""

    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; color: $text; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    results: reactive[int | None] = reactive(None)
    backends: reactive[tuple[tuple[str, str, str], ...]] = reactive(())
    """(label, state, last error) per backend."""
    ollama: reactive[str] = reactive("checking")
    note: reactive[str] = reactive("")
    """Extra context, e.g. `DEMO`."""

    def render(self) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(" gentui ", style="bold reverse")
        if self.note:
            t.append(f" {self.note} ", style="bold yellow")
        t.append("  catalog ")
        t.append("…" if self.results is None else f"{self.results:,}", style="bold")
        t.append(" results")
        for label, state, _detail in self.backends:
            t.append(f"   {label} ")
            t.append(state, style=STATE_STYLE.get(state.split()[0] if state else "", "yellow"))
        t.append("   ollama ")
        t.append(self.ollama, style=STATE_STYLE.get(self.ollama, "yellow"))
        return t
