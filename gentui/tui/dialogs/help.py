"""`?`: every key of the screen underneath, grouped by area, as currently mapped."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from gentui.tui.commands import collect_commands

INTRO = (
    "Keys work without a mouse; ctrl+p opens the command palette (every action below). "
    "Remap any key in config.toml under [tui.keys] by its id (quoted), e.g. \"main.annotate\" = \"a,n\"."
)


def help_table(screen: Screen) -> Table:
    table = Table(box=None, expand=True, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("key", style="bold cyan", no_wrap=True, width=14)
    table.add_column("action", ratio=1)
    table.add_column("id", style="dim", no_wrap=True)
    area = None
    for cmd in sorted(collect_commands(screen), key=lambda c: (c.area != "app", c.area)):
        if cmd.area != area:
            area = cmd.area
            table.add_row(Text(area.upper(), style="bold yellow"), "", "")
        table.add_row(cmd.keys, cmd.name, cmd.binding.id or "")
    return table


class HelpScreen(ModalScreen[None]):
    """The key table of the screen it was opened on."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 100%; height: 90%; border: thick $accent; background: $surface; padding: 0 1;
    }
    """

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, under: Screen):
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(INTRO, style="dim"))
            yield Static(help_table(self.under), id="help-table")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
