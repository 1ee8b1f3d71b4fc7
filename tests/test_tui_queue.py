"""Queue a sweep from the editor against the simulator; watch the jobs run and the results arrive."""

from __future__ import annotations

import os
import signal

from gentui.catalog.db import open_catalog
from gentui.config import load_settings
from gentui.queue.lease import read_lease
from tests.tui_helpers import make_app, screen_text, wait_for


def _config(tmp_path, url: str):
    home = tmp_path / "home"
    path = tmp_path / "config.toml"
    path.write_text(f'[paths]\ndata_dir = "{home}"\n\n[backends.comfyui]\nurl = "{url}"\n\n'
                    '[defaults]\nbackend = "comfyui"\n\n[tui]\nimage_protocol = "halfblock"\n')
    return load_settings(path)


def _stop_worker(catalog) -> None:
    info = read_lease(catalog, "comfyui")
    if info is not None:
        try:
            os.kill(int(info.holder.split("@")[0]), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass


async def test_queue_a_sweep_and_watch_results_arrive(tmp_path, simulator):
    settings = _config(tmp_path, simulator.url)
    catalog = open_catalog(settings.catalog_path)
    app = make_app(settings, catalog, start_worker=True, worker_args=("--until-idle",), poll_interval=0.1)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("e")
            await wait_for(pilot, lambda: app.screen.__class__.__name__ == "EditorScreen")
            app.screen.query_one("#ed-name").value = "tui-test"
            app.screen.query_one("#ed-weights").value = "0.6,1.0"
            app.screen.query_one("#ed-seeds").value = "7"
            app.screen.query_one("#ed-lora_name").value = "kanachan-v4.safetensors"
            app.screen.query_one("#ed-steps").value = "4"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: app.screen.__class__.__name__ == "MainScreen", timeout=15,
                           what="queued (back on the main screen)")
            await wait_for(pilot, lambda: len(app.snapshot.jobs) == 2, what="2 jobs in the queue panel")
            assert "w0.6" in screen_text(app)
            await wait_for(pilot, lambda: app.snapshot.result_count == 2, timeout=40, what="2 results")
            table = app.screen.query_one("ResultsTable")
            await wait_for(pilot, lambda: table.total == 2, what="results in the table")
            assert {r.lora_strength for r in table.loaded_rows()} == {0.6, 1.0}
            # the result row is written before the job is marked done: the panel follows
            await wait_for(pilot, lambda: all(j.state == "done" for j in app.snapshot.jobs),
                           what="both jobs done in the queue panel")
    finally:
        _stop_worker(catalog)
        catalog.close()


async def test_unknown_lora_is_refused_inline_and_the_text_kept(tmp_path, simulator):
    settings = _config(tmp_path, simulator.url)
    catalog = open_catalog(settings.catalog_path)
    app = make_app(settings, catalog)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("e")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "EditorScreen")
        app.screen.query_one("#ed-lora_name").value = "nope-v9.safetensors"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "nope-v9" in str(app.screen.query_one("#ed-form-error").render()),
                       timeout=15, what="inline refusal")
        assert app.screen.__class__.__name__ == "EditorScreen"
        assert app.screen.query_one("#ed-lora_name").value == "nope-v9.safetensors"
    catalog.close()


async def test_an_unreachable_backend_is_shown_with_its_last_error(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = _config(tmp_path, f"http://127.0.0.1:{port}")
    catalog = open_catalog(settings.catalog_path)
    app = make_app(settings, catalog, health_interval=30)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "unreachable" in screen_text(app), timeout=15, what="unreachable line")
        text = screen_text(app)
        assert "comfyui unreachable, jobs wait" in text
        assert "  ConnectError" in text  # the last error, under it
    catalog.close()
