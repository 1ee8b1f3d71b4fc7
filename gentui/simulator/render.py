"""Deterministic stand-in images: the parameters drawn as coloured figures.

The picture is a function of the scene (seed, prompts, models, LoRAs with their
strengths, size, steps, cfg, sampler): identical inputs give identical PNG
bytes, any change changes pixels. Three figures stand in the left, middle and
right thirds (the slots gentui's users study); each LoRA has a colour and a
home slot, tints its home figure in proportion to its strength and, above 0.6,
"bleeds" into the other figures, so a weight sweep looks like a weight sweep.
A strip at the bottom encodes a hash of every parameter, and the corner says
SIMULATED, so nobody mistakes these for real generations.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import json
from typing import Any

from PIL import Image, ImageDraw, ImageOps
from PIL.PngImagePlugin import PngInfo

SLOTS = 3


def _digest(*parts: Any) -> bytes:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()


def _unit(*parts: Any) -> float:
    """A number in [0, 1) fixed by `parts`."""
    return int.from_bytes(_digest(*parts)[:8], "big") / 2**64


def _hue_rgb(h: float, s: float = 0.65, v: float = 0.9) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, max(0.0, min(1.0, s)), max(0.0, min(1.0, v)))
    return int(r * 255), int(g * 255), int(b * 255)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    t = max(0.0, min(1.0, t))
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))  # type: ignore[return-value]


def is_speed_lora(name: str) -> bool:
    """Turbo/lightning/hyper/LCM LoRAs speed sampling up; they are not characters."""
    low = name.lower()
    return any(word in low for word in ("turbo", "lightning", "hyper", "lcm", "speed"))


def scene_key(scene: dict[str, Any]) -> str:
    """A stable hex digest of everything that shapes the picture."""
    return hashlib.sha256(json.dumps(scene, sort_keys=True, default=str).encode()).hexdigest()


def render_scene(scene: dict[str, Any], width: int | None = None, height: int | None = None) -> Image.Image:
    """Draw `scene` (see the engine's VAEDecode) at its own size or the given one."""
    w = int(width or scene.get("width") or 512)
    h = int(height or scene.get("height") or 512)
    seed = int(scene.get("seed") or 0)
    positive = str(scene.get("positive", ""))
    loras = list(scene.get("loras") or [])

    # Background: the model stack, sampler and negative prompt pick two colours.
    bg_key = (scene.get("models"), scene.get("sampler"), scene.get("scheduler"), scene.get("negative"))
    cfg = float(scene.get("cfg") or 0.0)
    steps = int(scene.get("steps") or 1)
    top = _hue_rgb(_unit("bg-top", bg_key), 0.25 + min(cfg, 10.0) / 40.0, 0.35 + min(steps, 50) / 200.0)
    bottom = _hue_rgb(_unit("bg-bottom", bg_key), 0.35, 0.15 + _unit("bg-v", bg_key) * 0.2)
    for name, strength, _clip in loras:
        if is_speed_lora(name):  # speed LoRAs change the look, not the characters
            top = _mix(top, _hue_rgb(_unit("lora", name), 0.5, 0.8), min(abs(float(strength)) * 0.4, 0.8))
    column = Image.linear_gradient("L").resize((1, h)).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    img = ImageOps.colorize(column, bottom, top).convert("RGB").resize((w, h), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(img)

    slot_w = w / SLOTS
    unit = min(slot_w, h) / 10.0
    for slot in range(SLOTS):
        hair = _hue_rgb(_unit("hair", positive, slot, seed), 0.55, 0.85)
        skin = _mix((255, 224, 196), _hue_rgb(_unit("skin", positive, slot)), 0.15)
        outfit = _hue_rgb(_unit("outfit", positive, slot, seed), 0.6, 0.7)
        # LoRA influence: home slot in proportion to strength, others only past 0.6 (bleed).
        ponytails: list[tuple[tuple[int, int, int], float]] = []
        for name, strength, _clip in loras:
            if is_speed_lora(name):
                continue
            colour = _hue_rgb(_unit("lora", name), 0.9, 1.0)
            home = int(_unit("lora-home", name) * SLOTS)
            s = float(strength)
            t = 0.55 * s if slot == home else max(0.0, (s - 0.6) * 0.5)
            if t > 0:
                hair = _mix(hair, colour, min(t, 0.9))
                ponytails.append((colour, min(t, 1.2)))
            elif s < 0:
                hair = _mix(hair, (128, 128, 128), min(-s * 0.3, 0.8))
        cx = slot_w * (slot + 0.5) + (_unit("x", seed, slot) - 0.5) * slot_w * 0.3
        cy = h * 0.42 + (_unit("y", seed, slot) - 0.5) * h * 0.12
        r = unit * (1.4 + _unit("r", seed, slot, positive) * 0.5)
        # Body, head, hair cap.
        draw.rounded_rectangle(
            (cx - r * 1.3, cy + r * 0.9, cx + r * 1.3, cy + r * 5.0), radius=int(r * 0.6), fill=outfit
        )
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=skin)
        draw.chord((cx - r * 1.08, cy - r * 1.12, cx + r * 1.08, cy + r * 0.7), 180, 360, fill=hair)
        # Side ponytails and a scrunchie dot, one per LoRA that reaches this figure.
        for k, (colour, t) in enumerate(ponytails):
            side = 1 if (k + slot) % 2 == 0 else -1
            px = cx + side * r * (1.05 + 0.25 * k)
            length = r * (0.8 + 2.2 * t)
            draw.ellipse(
                (px - r * 0.35, cy - r * 0.4, px + r * 0.35, cy - r * 0.4 + length), fill=_mix(hair, colour, 0.5)
            )
            draw.ellipse((px - r * 0.22, cy - r * 0.55, px + r * 0.22, cy - r * 0.15), fill=colour)
        # Ahoge: its lean is the seed's.
        lean = (_unit("ahoge", seed, slot) - 0.5) * r
        draw.line((cx, cy - r * 1.05, cx + lean, cy - r * 1.6), fill=hair, width=max(1, int(r * 0.12)))

    # Fingerprint strip: every parameter shows up in these cells.
    digest = hashlib.sha256(json.dumps(scene, sort_keys=True, default=str).encode()).digest()
    cells = 32
    strip_h = max(2, h // 48)
    for i in range(cells):
        x0 = int(i * w / cells)
        x1 = int((i + 1) * w / cells)
        draw.rectangle(
            (x0, h - strip_h, x1, h), fill=_hue_rgb(digest[i] / 255.0, 0.7, 0.4 + digest[(i + 7) % 32] / 425.0)
        )
    draw.text((4, 2), f"SIMULATED seed {seed}", fill=(255, 255, 255))
    return img


def encode_png(img: Image.Image, texts: dict[str, str] | None = None, compress_level: int = 4) -> bytes:
    """PNG bytes with tEXt chunks in the given order (ComfyUI writes `prompt` first)."""
    info = None
    if texts:
        info = PngInfo()
        for k, v in texts.items():
            info.add_text(k, v)
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info, compress_level=compress_level)
    return buf.getvalue()


def preview_frames(scene: dict[str, Any], steps: int, size: int = 128, fmt: str = "JPEG") -> list[bytes]:
    """One small preview per sampler step, fading from grey to the picture."""
    w = int(scene.get("width") or 512)
    h = int(scene.get("height") or 512)
    scale = size / max(w, h)
    pw, ph = max(8, int(w * scale)), max(8, int(h * scale))
    final = render_scene(scene, pw, ph)
    base = Image.new("RGB", (pw, ph), (96, 96, 96))
    frames = []
    for k in range(1, steps + 1):
        frame = Image.blend(base, final, k / steps)
        buf = io.BytesIO()
        frame.save(buf, format=fmt, quality=85)
        frames.append(buf.getvalue())
    return frames
