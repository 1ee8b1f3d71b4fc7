"""Deterministic catalogs for the TUI tests: rows inserted directly, small real PNGs and sidecars."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from PIL import Image

from gentui.catalog.db import Catalog, open_catalog
from gentui.catalog.models import Character, Result, Tag
from gentui.config import Settings, settings_from_dict

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
WEIGHTS = [0.4, 0.6, 0.8, 1.0, 1.2]
SEEDS = [1293127692, 42]
COLORS = [(200, 60, 60), (60, 160, 60), (60, 60, 200), (200, 180, 40), (150, 60, 170)]


def make_settings(home: Path, **tui) -> Settings:
    return settings_from_dict({"paths": {"data_dir": str(home)},
                               "backends": {"sim": {"url": "http://127.0.0.1:9"}},
                               "defaults": {"backend": "sim"},
                               "tui": {"image_protocol": "halfblock", **tui}})


def make_image(path: Path, color: tuple[int, int, int], size=(96, 64)) -> None:
    im = Image.new("RGB", size, color)
    # left half darker so zooming is visible
    for x in range(size[0] // 2):
        for y in range(0, size[1], 4):
            im.putpixel((x, y), (0, 0, 0))
    im.save(path)


def populate(settings: Settings, layouts=("side_by_side", "clustered")) -> Catalog:
    """2 seeds x 5 weights x 2 layouts = 20 results with images, sidecars and characters."""
    catalog = open_catalog(settings.catalog_path)
    out = settings.output_dir
    out.mkdir(parents=True, exist_ok=True)
    i = 0
    with catalog.session() as s:
        for seed in SEEDS:
            for wi, w in enumerate(WEIGHTS):
                for layout in layouts:
                    i += 1
                    img = out / f"r{i:03d}.png"
                    make_image(img, COLORS[wi])
                    side = out / f"r{i:03d}.json"
                    chars = [{"slot": "left", "name": "Kanachan", "lora_trigger": "kanachan"},
                             {"slot": "right", "name": "Reina"}]
                    side.write_text(json.dumps({"seed": seed, "lora_strength": w, "layout": layout,
                                                "characters": chars,
                                                "translation": {"model": "gemma3:12b",
                                                                "rejected": [{"model": "llm-jp", "reason": "refusal"}]}}))
                    r = Result(path=str(img), sidecar_path=str(side), created_at=T0 + timedelta(minutes=i),
                               backend="sim", workflow="anima", seed=seed, width=96, height=64, steps=8, cfg=1.0,
                               sampler="er_sde", scheduler="simple", use_lora=True, lora_name="kanachan-v4",
                               lora_strength=w, layout=layout, n_characters=2, named=layout == "side_by_side",
                               prompt_src=f"two girls, {layout}, seed {seed}", sweep_name="kana-2girls",
                               variant="named", status="done")
                    s.add(r)
                    s.flush()
                    for ci, c in enumerate(chars):
                        s.add(Character(result_id=r.id, idx=ci, slot=c["slot"], name=c["name"],
                                        lora_trigger=c.get("lora_trigger"), has_trigger=bool(c.get("lora_trigger"))))
                    if w == 1.2:
                        s.add(Tag(tag="bleed", result_id=r.id))
        s.commit()
    return catalog


async def wait_for(pilot, predicate, timeout: float = 5.0, what: str = "condition") -> None:
    """Let the app run until `predicate()` is true (workers post their results)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def screen_text(app) -> str:
    """Plain text of what is on screen now."""
    import io

    from rich.console import Console

    update = app.screen._compositor.render_update(full=True)
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, color_system=None,
                      legacy_windows=False)
    console.print(update, end="")
    return console.export_text(styles=False)


def make_app(settings, catalog, **kw):
    from gentui.tui.app import GentuiApp
    from gentui.tui.data import images

    images.force_protocol("halfblock")
    kw.setdefault("start_worker", False)
    kw.setdefault("health_interval", 0)
    return GentuiApp(settings, catalog, **kw)
