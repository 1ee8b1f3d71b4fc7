"""Pilot tests of the main screen: filter, errors, cursor -> preview, help, palette."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from gentui.tui.widgets.filter_bar import FilterBar
from gentui.tui.widgets.preview import Preview
from gentui.tui.widgets.results_table import ResultsTable
from tests.tui_helpers import make_app, make_settings, populate, screen_text, wait_for


@pytest.fixture
def app(tmp_path):
    settings = make_settings(tmp_path / "home")
    catalog = populate(settings)
    yield make_app(settings, catalog)
    catalog.close()


async def test_typing_a_query_changes_the_rows(app):
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ResultsTable)
        await wait_for(pilot, lambda: table.total == 20, what="all 20 rows")
        await pilot.press("slash")
        assert app.focused is app.screen.query_one("#filter-input", Input)
        await pilot.press(*"w:1.2")
        await wait_for(pilot, lambda: table.total == 4, what="4 rows at weight 1.2")
        assert {r.lora_strength for r in table.loaded_rows()} == {1.2}
        await wait_for(pilot, lambda: "4 of 20" in screen_text(app), what="count label")
        await pilot.press("enter")
        assert app.focused is table


async def test_a_bad_query_shows_its_error_and_keeps_the_text(app):
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(ResultsTable)
        await wait_for(pilot, lambda: table.total == 20)
        await pilot.press("slash", *"w:0.6 colour:red")
        bar = app.screen.query_one(FilterBar)
        assert bar.has_class("-invalid")  # red at once, explained when typing pauses
        await wait_for(pilot, lambda: bar.has_class("-error"), what="the error line")
        assert app.screen.query_one("#filter-input", Input).value == "w:0.6 colour:red"
        text = screen_text(app)
        assert "colour" in text and "^" in text
        # the table keeps showing the last filter that parsed
        await wait_for(pilot, lambda: table.total is not None)
        await pilot.press("escape")
        assert app.screen.query_one("#filter-input", Input).value == "w:0.6 colour:red"


async def test_a_query_longer_than_the_bar_scrolls_inside_it(app):
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(ResultsTable)
        await wait_for(pilot, lambda: table.total == 20)
        bar = app.screen.query_one("#filter-input", Input)
        query = "w:0.4..1.2 " * 8 + "seed:42"
        await pilot.press("slash", *query)
        await wait_for(pilot, lambda: table.total == 10, what="10 rows of seed 42")
        assert bar.value == query
        # the bar kept its one line and scrolled so the cursor (at the end) is on screen
        assert bar.size.height == 1 and bar.scroll_x > 0
        assert bar.cursor_screen_offset.x < bar.region.right
        assert "seed:42" in screen_text(app)
        await pilot.press("home")
        await pilot.pause()
        assert bar.scroll_x == 0
        await pilot.press("ctrl+u")  # clears the whole filter, wherever the cursor is
        await wait_for(pilot, lambda: table.total == 20, what="all rows again")
        assert bar.value == ""


async def test_the_preview_follows_a_new_filter_when_typing_pauses(app):
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ResultsTable)
        preview = app.screen.query_one(Preview)
        await wait_for(pilot, lambda: preview.details is not None and preview.details.id == 20)
        await pilot.press("slash", *"seed:42 w:0.4")
        await wait_for(pilot, lambda: table.flt.text == "seed:42 w:0.4" and table.total == 2
                       and table.row is not None, what="2 rows")
        first = table.row.id
        assert first != 20
        await wait_for(pilot, lambda: preview.details is not None and preview.details.id == first,
                       what="preview of the new first row")
        assert f"#{first}" in screen_text(app)


async def test_cursor_moves_and_the_preview_follows(app):
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ResultsTable)
        preview = app.screen.query_one(Preview)
        await wait_for(pilot, lambda: preview.details is not None and preview.details.id == 20)
        await pilot.press("down", "down")
        await wait_for(pilot, lambda: preview.details.id == 18, what="preview of row 3")
        assert table.cursor == 2
        assert "#18" in screen_text(app)
        thumb = preview.query_one("Thumbnail")
        await wait_for(pilot, lambda: thumb.rendered_key is not None, what="thumbnail")
        await pilot.press("2")
        await wait_for(pilot, lambda: thumb.rendered_key and thumb.rendered_key[1] == (1, 2), what="zoom")
        await pilot.press("end")
        await wait_for(pilot, lambda: preview.details.id == 1)


async def test_sort_key_cycles_columns(app):
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ResultsTable)
        await wait_for(pilot, lambda: table.total == 20)
        await pilot.press("s")  # created -> id
        await pilot.press("s")  # id -> seed
        await wait_for(pilot, lambda: table.row is not None and table.sort == "seed" and table.row.seed == 1293127692)
        await pilot.press("S")
        await wait_for(pilot, lambda: table.row is not None and table.row.seed == 42)


async def test_help_lists_every_action_with_its_key(app):
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        text = screen_text(app)
        assert "results" in text.lower() and "Annotate" in text and "main.annotate" in text
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "MainScreen"


async def test_keys_can_be_remapped_from_the_config(tmp_path):
    settings = make_settings(tmp_path / "home", keys={"main.filter": "f"})
    catalog = populate(settings)
    app = make_app(settings, catalog)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f")
        assert app.focused is app.screen.query_one("#filter-input", Input)


async def test_queue_keys_cancel_retry_front_and_pause(app):
    from sqlmodel import select

    from gentui.catalog.models import Job, QueueControl

    with app.catalog.session() as s:
        for i in range(3):
            s.add(Job(key_hash=f"k{i}", params={"backend": "sim"}, label=f"job {i}", state="queued",
                      backend="sim", position=float(i + 1)))
        s.commit()
    app.poll_interval = 0.1
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(app.snapshot.jobs) == 3, what="3 queued jobs")
        panel = app.screen.query_one("QueuePanel")
        panel.focus()
        await pilot.press("down", "down", "f")  # job 2 to the front

        def states():
            with app.catalog.session() as s:
                return {j.label: (j.state, j.position) for j in s.exec(select(Job))}

        await wait_for(pilot, lambda: states()["job 2"][1] < 1, what="moved to the front")
        await wait_for(pilot, lambda: app.snapshot.jobs[0].label == "job 2")
        panel.cursor = 0
        await pilot.press("d")
        await wait_for(pilot, lambda: states()["job 2"][0] == "cancelled", what="cancelled")
        await wait_for(pilot, lambda: any(j.label == "job 2" and j.state == "cancelled" for j in app.snapshot.jobs))
        panel.cursor = [j.label for j in app.snapshot.jobs].index("job 2")
        await pilot.press("t")
        await wait_for(pilot, lambda: states()["job 2"][0] == "queued", what="retried")
        await pilot.press("p")
        def paused():
            with app.catalog.session() as s:
                return any(c.paused for c in s.exec(select(QueueControl)))

        await wait_for(pilot, paused, what="paused")
        await wait_for(pilot, lambda: "PAUSED" in screen_text(app))


async def test_command_palette_lists_actions_by_area(app):
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"annotate")
        await wait_for(pilot, lambda: "results: Annotate" in screen_text(app), what="palette hit")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "AnnotateDialog", what="dialog from palette")
