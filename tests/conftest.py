"""Shared fixtures: every test gets its own GENTUI_HOME in a temp dir."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def gentui_home(tmp_path, monkeypatch):
    """Keep every test's config, catalog and outputs inside its own temp dir."""
    home = tmp_path / "gentui-home"
    home.mkdir()
    monkeypatch.setenv("GENTUI_HOME", str(home))
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    return home


@pytest.fixture
def simulator():
    """A ComfyUI simulator (test double) on 127.0.0.1 with a random port; stopped after the test."""
    from gentui.simulator import start_simulator

    sim = start_simulator(port=0, step_ms=2)
    try:
        yield sim
    finally:
        sim.stop()
