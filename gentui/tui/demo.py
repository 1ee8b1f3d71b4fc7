"""`gentui --demo`: a demo catalog fed by the ComfyUI simulator, with a sweep queued.

Everything lives under `<data dir>/demo` (its own config, catalog, outputs and
logs), so the demo never touches the user's real catalog. The simulator (a
test double of a ComfyUI server) and the queue worker run as detached
processes, like in real use: quit the TUI and reopen it, the sweep goes on.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from pathlib import Path

import httpx

import gentui
from gentui.config import Settings, load_settings
from gentui.tui.data.processes import gentui_argv, spawn_detached

STEP_MS = 150
"""Time per sampler step of the simulator: slow enough to watch the progress bars."""
SWEEP_FILE = Path(gentui.__file__).resolve().parent.parent / "examples" / "kana-2girls.toml"
FALLBACK_SWEEP = {
    "name": "kana-2girls",
    "prompt": {
        "scene": "2girls, simple background, upper body", "layout": "side_by_side",
        "rule": "Keep the characters visually distinct. Do not mix hairstyles, outfits, or eye colors.",
        "characters": [
            {"name": "Kanachan", "identity": "a cheerful high school girl", "lora_trigger": "kanachan",
             "position": "left",
             "appearance": "chestnut hair in a side ponytail with a yellow scrunchie, ahoge, orange eyes"},
            {"name": "Reina", "identity": "a calm high school girl", "position": "right",
             "appearance": "long straight near-black hair, navy blue eyes, navy cardigan over a white shirt"},
        ],
    },
    "params": {"workflow": "anima", "backend": "comfyui", "unet": "waiANIMA_v10.safetensors",
               "lora_name": "kanachan-v4.safetensors", "width": 888, "height": 768, "steps": 8, "cfg": 1.0,
               "sampler": "er_sde", "scheduler": "simple", "use_speed_lora": True, "skip_translate": True},
    "axes": {"weights": "0.4:1.2:0.2", "seeds": [1293127692], "variants": ["named"]},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/system_stats", timeout=1.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def start_simulator(demo_dir: Path, settings: Settings, timeout_s: float = 15.0) -> str:
    """The URL of the demo's simulator: reuse the running one or start a detached one."""
    state = demo_dir / "sim.json"
    if state.exists():
        try:
            info = json.loads(state.read_text())
            if _pid_alive(int(info["pid"])) and _healthy(info["url"]):
                return info["url"]
        except (ValueError, KeyError, OSError):
            pass
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    argv = gentui_argv(settings, "sim", "--port", str(port), "--step-ms", str(STEP_MS), "--quiet",
                       "--output-dir", str(demo_dir / "sim-output"))
    pid = spawn_detached(argv, demo_dir / "logs" / "sim.log", dict(os.environ))
    deadline = time.monotonic() + timeout_s
    while not _healthy(url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the simulator did not start within {timeout_s:.0f} s; "
                               f"see {demo_dir / 'logs' / 'sim.log'}")
        time.sleep(0.1)
    state.write_text(json.dumps({"pid": pid, "url": url}))
    return url


def write_demo_config(demo_dir: Path, url: str, user: Settings) -> Path:
    """A config file for the demo: its own data dir, one backend (the simulator)."""
    keys = "".join(f'"{k}" = "{v}"\n' for k, v in user.tui.keys.items())
    text = (
        "# gentui demo: a catalog fed by the ComfyUI simulator (a test double, no GPU)\n"
        f"[paths]\ndata_dir = {json.dumps(str(demo_dir))}\n\n"
        f"[backends.comfyui]\nurl = \"{url}\"\n\n"
        "[defaults]\nbackend = \"comfyui\"\nworkflow = \"anima\"\n\n"
        f"[tui]\nimage_protocol = \"{user.tui.image_protocol}\"\ntheme = \"{user.tui.theme}\"\n"
        + (f"\n[tui.keys]\n{keys}" if keys else "")
    )
    path = demo_dir / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def queue_demo_sweep(settings: Settings) -> str:
    """Queue the seed's 2-character weight sweep; if it already ran, a new seed of it."""
    from gentui.catalog.db import open_catalog
    from gentui.queue.plan import plan_sweep, queue_plan
    from gentui.queue.sweep import load_sweep_file, sweep_from_dict

    catalog = open_catalog(settings.catalog_path)
    try:
        if SWEEP_FILE.exists():
            sweep = load_sweep_file(SWEEP_FILE)
        else:
            sweep = sweep_from_dict(FALLBACK_SWEEP, "demo")
        report = queue_plan(catalog, plan_sweep(sweep, settings, catalog))
        if report.queued == 0:  # the demo ran before: show the loop again with a fresh seed
            sweep.name = f"kana-2girls-{random.randrange(1000, 9999)}"
            sweep.axes["seeds"] = [random.randrange(1, 2**31)]
            report = queue_plan(catalog, plan_sweep(sweep, settings, catalog))
        return f"queued {report.queued} job(s) of sweep {sweep.name}"
    finally:
        catalog.close()


def prepare_demo(user: Settings) -> Settings:
    """Start the simulator, write the demo config, queue the sweep; returns the demo settings."""
    demo_dir = user.data_dir / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    url = start_simulator(demo_dir, user)
    settings = load_settings(write_demo_config(demo_dir, url, user))
    queue_demo_sweep(settings)
    return settings
