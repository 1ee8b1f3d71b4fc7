"""Small real catalogs for the query and annotation tests: rows inserted as the importer would."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gentui.catalog.db import open_catalog
from gentui.catalog.models import Annotation, Character, FieldValue, Result, Tag
from gentui.catalog.sidecar import normalize_weight


def add_result(cat: Any, path: str, *, chars: list[tuple[str, str | None]] = (), tags: list[str] = (),
               anns: list[dict[str, Any]] = (), fields: dict[str, Any] | None = None, **cols: Any) -> int:
    """Insert one result with its characters, tags, annotations and field index rows."""
    if "lora_strength" in cols:
        cols["lora_strength"] = normalize_weight(cols["lora_strength"])
        cols.setdefault("use_lora", cols["lora_strength"] is not None)
    cols.setdefault("n_characters", len(chars))
    with cat.session() as s:
        r = Result(path=path, **cols)
        s.add(r)
        s.flush()
        for i, (slot, name) in enumerate(chars):
            s.add(Character(result_id=r.id, idx=i, slot=slot, name=name))
        for t in tags:
            s.add(Tag(tag=t, result_id=r.id))
        for a in anns:
            s.add(Annotation(result_id=r.id, **a))
        for k, v in (fields or {}).items():
            if isinstance(v, bool):
                s.add(FieldValue(result_id=r.id, key=k, num=int(v), text=str(v).lower()))
            elif isinstance(v, (int, float)):
                s.add(FieldValue(result_id=r.id, key=k, num=v))
            else:
                s.add(FieldValue(result_id=r.id, key=k, text=v))
        s.commit()
        return r.id


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=timezone.utc)


def small_catalog(tmp: Path) -> tuple[Any, dict[str, int]]:
    """Six results that differ along every key the query language has."""
    cat = open_catalog(tmp / "catalog.db")
    ids = {}
    ids["a"] = add_result(
        cat, str(tmp / "a.png"), lora_strength=0.2 * 3, seed=1293127692, model="anima-base-v1.0.safetensors",
        workflow="anima", backend="comfyui", steps=8, cfg=1.0, width=888, height=768, layout="side_by_side",
        named=True, status="done", sweep_name="kana-2girls", lora_name="kanachan-v4.safetensors", rating=4,
        sampler="er_sde", scheduler="simple", created_at=utc(2026, 11, 20, 10),
        prompt_src="青いリボン blue ribbon", prompt_en='{"left_character": {"name": "Lily"}}',
        chars=[("left", "Lily"), ("right", "Reina")], tags=["bleed"],
        anns=[dict(slot="left", feature="side_ponytail", outcome="migrated", target="right")],
        fields={"characters.0.name": "Lily", "extra.sampler_eta": 0.5, "use_lora": True})
    ids["b"] = add_result(
        cat, str(tmp / "b.png"), lora_strength=0.8, seed=42, model="anima-base-v1.0.safetensors", workflow="anima",
        backend="comfyui", steps=8, cfg=1.0, width=888, height=768, layout="side_by_side", named=False,
        status="done", sweep_name="kana-2girls", lora_name="kanachan-v4.safetensors", created_at=utc(2026, 11, 21, 10),
        prompt_en="two girls, BLUE RIBBON, park", chars=[("left", None), ("middle", None), ("right", None)],
        tags=["bleed", "keeper"], anns=[dict(slot="left", feature="side_ponytail", outcome="present"),
                                        dict(slot="right", feature="ahoge", outcome="duplicated", target="left")],
        fields={"characters.0.name": "lily", "extra.sampler_eta": 0.9})
    ids["c"] = add_result(
        cat, str(tmp / "c.png"), lora_strength=None, seed=42, model="waiIllustriousSDXL_v150.safetensors",
        workflow="sdxl", backend="gpu-box", steps=30, cfg=4.0, width=1024, height=1024, layout="cluster",
        named=True, status="failed", sweep_name="sdxl-base", created_at=utc(2026, 10, 5, 23),
        prompt_en="three girls at a cafe", chars=[("left", "Mio"), ("middle", "Lily"), ("right", "Aoi")],
        tags=["collapse"], anns=[dict(slot="middle", feature="hair_color", outcome="color_drift", color="orange")])
    ids["d"] = add_result(
        cat, str(tmp / "d.png"), lora_strength=1.2, seed=7, model="anima-base-v1.0.safetensors", workflow="anima",
        backend="comfyui", steps=8, cfg=1.0, width=888, height=768, layout="depth", named=True, status="done",
        created_at=utc(2026, 11, 25, 9), prompt_src="50% off_sale", chars=[("front", "Kanachan"), ("back", "Reina")])
    ids["e"] = add_result(
        cat, str(tmp / "e.png"), lora_strength=0.6000004, seed=1, steps=4, cfg=1.0000001, width=512, height=512,
        layout=None, named=None, status="done", created_at=utc(2025, 12, 31, 12), prompt_en="a cat")
    ids["f"] = add_result(
        cat, str(tmp / "f.png"), lora_strength=0.0, seed=3, steps=8, cfg=1.0, width=888, height=768,
        layout="side_by_side", named=False, status="done", created_at=utc(2026, 11, 22, 8),
        chars=[("left", "Reina"), ("middle", "Mio"), ("right", "Lily")], tags=["keeper"])
    return cat, ids


def write_sidecar_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")
