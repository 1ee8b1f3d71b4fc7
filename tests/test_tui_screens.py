"""Pilot tests of judging (annotate, tags, rating, undo), compare, bleed matrix and the editor."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select
from textual.widgets import TextArea

from gentui.catalog.models import Annotation, Result, Tag
from gentui.tui.widgets.preview import Preview
from gentui.tui.widgets.results_table import ResultsTable
from tests.tui_helpers import make_app, make_settings, populate, screen_text, wait_for


@pytest.fixture
def env(tmp_path):
    settings = make_settings(tmp_path / "home")
    catalog = populate(settings)
    yield settings, catalog
    catalog.close()


def _annotations(catalog, rid):
    with catalog.session() as s:
        return list(s.exec(select(Annotation).where(Annotation.result_id == rid)))


async def test_annotate_from_the_keyboard_writes_catalog_and_sidecar_and_undo(env):
    settings, catalog = env
    app = make_app(settings, catalog)
    async with app.run_test(size=(100, 30)) as pilot:
        preview = app.screen.query_one(Preview)
        await wait_for(pilot, lambda: preview.details is not None and preview.details.id == 20)
        await pilot.press("a")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "AnnotateDialog")
        await pilot.press("1")  # left (Kanachan)
        await pilot.press(*"side_ponytail", "enter")
        await pilot.press("g")  # migrated -> asks where
        assert "Where did it go" in screen_text(app)
        await pilot.press("2")  # right keeps its number from the first step
        await wait_for(pilot, lambda: len(_annotations(catalog, 20)) == 1, what="annotation row")
        a = _annotations(catalog, 20)[0]
        assert (a.slot, a.feature, a.outcome, a.target) == ("left", "side_ponytail", "migrated", "right")
        with catalog.session() as s:
            side = json.loads(open(s.get(Result, 20).sidecar_path).read())
        assert side["annotations"][0]["feature"] == "side_ponytail"
        await wait_for(pilot, lambda: "side_ponytail migrated -> right" in screen_text(app), what="preview")
        await pilot.press("k")  # keeper tag
        await wait_for(pilot, lambda: "keeper" in _tags(catalog, 20))
        await pilot.press("plus", "plus")
        await wait_for(pilot, lambda: _rating(catalog, 20) == 2)
        await pilot.press("u")
        await wait_for(pilot, lambda: _rating(catalog, 20) == 1)
        await pilot.press("u", "u", "u")
        await wait_for(pilot, lambda: not _annotations(catalog, 20) and "keeper" not in _tags(catalog, 20))
        with catalog.session() as s:
            side = json.loads(open(s.get(Result, 20).sidecar_path).read())
        assert side["annotations"] == [] and "keeper" not in side.get("tags", [])


def _tags(catalog, rid):
    with catalog.session() as s:
        return set(s.exec(select(Tag.tag).where(Tag.result_id == rid)))


def _rating(catalog, rid):
    with catalog.session() as s:
        return s.get(Result, rid).rating or 0


async def test_compare_grid_blind_mode_and_open(env):
    settings, catalog = env
    app = make_app(settings, catalog)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ResultsTable)
        await wait_for(pilot, lambda: table.total == 20)
        await pilot.press("c")
        await wait_for(pilot, lambda: len(app.screen.query("CompareCell")) == 10, what="2 seeds x 5 weights")
        text = screen_text(app)
        assert "0.4" in text and "1.2" in text and "1293127692" in text
        await pilot.press("right", "down")
        assert app.screen.selected == 6
        await pilot.press("B")
        await wait_for(pilot, lambda: app.screen.blind and "BLIND" in screen_text(app))
        assert "1293127692" not in screen_text(app)
        await pilot.press("B")
        await wait_for(pilot, lambda: "1293127692" in screen_text(app))
        await pilot.press("c")  # columns axis cycles (weight -> variant)
        await wait_for(pilot, lambda: app.screen.col_axis == "variant")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ImageScreen")
        await pilot.press("escape", "escape")
        assert app.screen.__class__.__name__ == "MainScreen"


async def test_bleed_matrix_renders_rates_and_counts(env):
    settings, catalog = env
    from gentui.catalog.annotations import add_annotation

    add_annotation(catalog, 9, "left", "side_ponytail", "migrated", target="right")
    add_annotation(catalog, 10, "left", "side_ponytail", "present")
    add_annotation(catalog, 1, "left", "side_ponytail", "present")
    app = make_app(settings, catalog)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(ResultsTable).total == 20)
        await pilot.press("m")
        await wait_for(pilot, lambda: "bleed rate" in screen_text(app), what="matrix")
        text = screen_text(app)
        assert "side_by_side" in text and "50%" in text and "1/2" in text
        await pilot.press("r")
        await wait_for(pilot, lambda: "by named x layout" in screen_text(app), what="rows axis cycled")


async def test_editor_switches_forms_and_keeps_bad_text(env):
    settings, catalog = env
    app = make_app(settings, catalog)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("e")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "EditorScreen")
        area = app.screen.query_one(TextArea)
        assert "Left girl (Kanachan)" in area.text
        await pilot.press("ctrl+t")
        assert area.text.lstrip().startswith("{") and "left_character" in area.text
        area.text = area.text.replace('"scene"', '"scene', 1)
        await pilot.pause()
        text = screen_text(app)
        assert "line" in text and "not valid JSON" in text
        assert '"scene:' in area.text or '"scene' in area.text
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "EditorScreen"


async def test_rerun_loads_a_result_into_the_editor(env):
    settings, catalog = env
    app = make_app(settings, catalog)
    async with app.run_test(size=(120, 40)) as pilot:
        preview = app.screen.query_one(Preview)
        await wait_for(pilot, lambda: preview.details is not None)
        await pilot.press("r")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "EditorScreen")
        await wait_for(pilot, lambda: app.screen.query_one("#ed-seeds").value == "42")
        assert app.screen.query_one("#ed-weights").value == "1.2"
        assert "clustered" in app.screen.query_one(TextArea).text


@pytest.fixture
def ollama_standin():
    """A stand-in Ollama on 127.0.0.1 answering /api/chat with a fixed English prompt."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = json.dumps({"models": [{"name": "gemma3:12b"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            req = json.loads(self.rfile.read(n) or b"{}")
            reply = {"model": req.get("model"), "created_at": "2026-11-25T00:00:00Z",
                     "message": {"role": "assistant", "content": "two girls side by side, STANDIN"},
                     "done": True, "done_reason": "stop"}
            body = (json.dumps(reply) + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


async def test_editor_previews_the_translation(tmp_path, ollama_standin):
    from gentui.config import settings_from_dict

    settings = settings_from_dict({"paths": {"data_dir": str(tmp_path / "home")},
                                   "translate": {"host": ollama_standin, "models": ["gemma3:12b"],
                                                 "timeout_s": 5},
                                   "tui": {"image_protocol": "halfblock"}})
    catalog = populate(settings)
    app = make_app(settings, catalog)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("e")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "EditorScreen")
        app.screen.query_one(TextArea).text = "2人の女の子、シンプルな背景、並んで立っている"
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: "STANDIN" in screen_text(app), timeout=10, what="translation shown")
        assert "gemma3:12b" in screen_text(app)
