"""One result's picture, as large as the terminal allows, with zoom and annotate."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from gentui.tui.data.details import ResultDetails, load_details
from gentui.tui.widgets.thumbnail import Thumbnail


class ImageScreen(Screen):
    """The picture full screen; 1/2/3 zoom on a character, 0 shows it whole."""

    DEFAULT_CSS = """
    ImageScreen #image-title { height: 1; background: $panel; }
    ImageScreen Thumbnail { height: 1fr; }
    """

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="image.back"),
        Binding("1", "zoom(0)", "Zoom 1", id="image.zoom_1", show=False),
        Binding("2", "zoom(1)", "Zoom 2", id="image.zoom_2", show=False),
        Binding("3", "zoom(2)", "Zoom 3", id="image.zoom_3", show=False),
        Binding("0", "zoom(-1)", "Whole", id="image.zoom_all", show=False),
        Binding("a", "annotate", "Annotate", id="image.annotate", tooltip="Judge one character's feature"),
    ]

    def __init__(self, result_id: int, label: str = ""):
        super().__init__()
        self.result_id = result_id
        self.label = label
        self.details: ResultDetails | None = None
        self.zoom: int | None = None

    def compose(self) -> ComposeResult:
        app: Any = self.app
        yield Static(f" #{self.result_id} {self.label}", id="image-title")
        yield Thumbnail(app.image_protocol, id="image-big")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._load()

    @work(group="image-load", exit_on_error=False)
    async def _load(self) -> None:
        app: Any = self.app
        self.details = await asyncio.to_thread(load_details, app.catalog, self.result_id, app.thumbnail_dir)
        self._show()

    def _show(self) -> None:
        d = self.details
        if d is None:
            self.query_one("#image-title", Static).update(Text(f" result {self.result_id} is gone", style="red"))
            return
        n = max(1, len(d.characters))
        names = d.slot_names()
        what = "whole image" if self.zoom is None else f"zoom {names[self.zoom][1] if self.zoom < len(names) else self.zoom + 1}"
        self.query_one("#image-title", Static).update(Text(f" #{self.result_id} {self.label}  {what}  "
                                                           f"{d.result.path}", no_wrap=True))
        region = None if self.zoom is None else (self.zoom, n)
        self.query_one(Thumbnail).show(d.result.path or d.thumb_path, region, note="no image file")

    def action_zoom(self, index: int) -> None:
        n = max(1, len(self.details.characters)) if self.details else 1
        self.zoom = None if index < 0 or index >= n or index == self.zoom else index
        self._show()

    def action_annotate(self) -> None:
        from gentui.tui.screens.main import MainScreen

        for screen in self.app.screen_stack:
            if isinstance(screen, MainScreen):
                screen.annotate_result(type("Row", (), {"id": self.result_id})())
                return
