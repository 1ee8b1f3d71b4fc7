"""SVG snapshots of the main screens at 80x24 and 160x48 (deterministic catalog, fixed paths)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gentui.catalog.annotations import add_annotation
from tests.tui_helpers import make_app, make_settings, populate, wait_for

SNAP_ROOT = Path("/tmp/gentui-tui-snapshots")


def _app(name: str):
    home = SNAP_ROOT / name  # a fixed path: the preview prints the image path
    shutil.rmtree(home, ignore_errors=True)
    settings = make_settings(home)
    catalog = populate(settings)
    add_annotation(catalog, 20, "left", "side_ponytail", "migrated", target="right")
    add_annotation(catalog, 19, "right", "hair_color", "color_drift", color="chestnut")
    add_annotation(catalog, 18, "left", "ahoge", "present")
    return make_app(settings, catalog, poll_interval=0)


async def _main_ready(pilot) -> None:
    app = pilot.app
    preview = app.screen.query_one("Preview")
    thumb = preview.query_one("Thumbnail")
    await wait_for(pilot, lambda: preview.details is not None and thumb.rendered_key is not None)
    await wait_for(pilot, lambda: app.screen.query_one("ResultsTable").total == 20)
    await pilot.pause()


class TestMainScreen:
    @pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
    def test_main(self, snap_compare, size):
        assert snap_compare(_app(f"main-{size[0]}"), terminal_size=size, run_before=_main_ready)

    def test_filter_error(self, snap_compare):
        async def run_before(pilot):
            await _main_ready(pilot)
            await pilot.press("slash", *"w:0.6 colour:red")
            await wait_for(pilot, lambda: pilot.app.screen.query_one("FilterBar").has_class("-error"))
            await pilot.pause()

        assert snap_compare(_app("filter-error"), terminal_size=(80, 24), run_before=run_before)


class TestOtherScreens:
    def test_compare(self, snap_compare):
        async def run_before(pilot):
            await _main_ready(pilot)
            await pilot.press("c")
            await wait_for(pilot, lambda: len(pilot.app.screen.query("CompareCell")) == 10)
            cells = pilot.app.screen.query("Thumbnail")
            await wait_for(pilot, lambda: all(c.rendered_key is not None for c in cells))
            await pilot.pause()

        assert snap_compare(_app("compare"), terminal_size=(160, 48), run_before=run_before)

    def test_bleed_matrix(self, snap_compare):
        async def run_before(pilot):
            await _main_ready(pilot)
            await pilot.press("m")
            await wait_for(pilot, lambda: pilot.app.screen.__class__.__name__ == "BleedScreen"
                           and pilot.app.screen.matrix is not None)
            await pilot.pause()

        assert snap_compare(_app("bleed"), terminal_size=(80, 24), run_before=run_before)
