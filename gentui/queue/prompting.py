"""The sweep's [prompt] table -> the prompt each cell sends.

A prompt is either a structured spec (scene, characters, rule, ...) rendered in
the JSON form (default) or the text form, which variants and layouts can
transform; or raw text (`text`, `json`, `file`) sent as written. A raw prompt
that parses as a spec becomes one, so variants work on pasted prompts too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gentui.catalog.sidecar import characters_from_prompt

RAW_KEYS = ("text", "json", "file")
FORMS = ("json", "text")


@dataclass
class PromptBase:
    """What the sweep's [prompt] table said, in a form that survives JSON (the Sweep row)."""

    spec: dict[str, Any] | None = None
    """The spec in dict form (`spec_to_dict`), or None for a raw prompt."""
    text: str = ""
    """A raw prompt sent as written (when `spec` is None)."""
    form: str = "json"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "text": self.text, "form": self.form}


def prompt_from_table(table: dict[str, Any], where: str, base_dir: Path | None = None) -> PromptBase:
    """Read a [prompt] table. Raises ValueError naming `where`, the key, and what is expected."""
    from gentui.prompt.forms import spec_from_dict
    from gentui.prompt.spec import PromptError, spec_to_dict

    table = dict(table)
    form = table.pop("form", None)
    if form is not None and form not in FORMS:
        raise ValueError(f"{where}.form = {form!r}: expected \"json\" or \"text\"")
    raw = [k for k in RAW_KEYS if k in table]
    if len(raw) > 1:
        raise ValueError(f"{where}: give only one of {', '.join(RAW_KEYS)} (got {', '.join(raw)})")
    if raw:
        key = raw[0]
        rest = [k for k in table if k not in (key, "negative")]
        if rest:
            raise ValueError(f"{where}: {key} cannot be combined with spec keys ({', '.join(rest)}); "
                             "write either a spec (scene, characters, rule) or a raw prompt")
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}.{key}: expected a non-empty string")
        if key == "file":
            path = Path(value).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            try:
                value = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise ValueError(f"{where}.file: cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
        base = prompt_from_text(value, f"{where}.{key}", force_json=(key == "json"))
        if "negative" in table:
            if not isinstance(table["negative"], str):
                raise ValueError(f"{where}.negative: expected a string")
            base.extra["negative"] = table["negative"]
        if form is not None:
            base.form = form
        return base
    try:
        spec = spec_from_dict(table, where=where)
    except PromptError as e:
        raise ValueError(str(e)) from None
    return PromptBase(spec=spec_to_dict(spec), form=form or "json")


def prompt_from_text(text: str, where: str = "prompt", force_json: bool = False) -> PromptBase:
    """A pasted prompt: a JSON object or text in the spec's shape becomes a spec, else raw text."""
    from gentui.prompt.forms import spec_from_dict
    from gentui.prompt.spec import PromptError, spec_to_dict

    stripped = text.strip()
    if stripped.startswith("{") or force_json:
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
        if not isinstance(obj, dict):
            raise ValueError(f"{where}: expected a JSON object")
        try:
            return PromptBase(spec=spec_to_dict(spec_from_dict(obj, where=where)), form="json")
        except PromptError:
            return PromptBase(text=stripped, form="json")
    parsed = _parse_text(stripped)
    if parsed is not None and parsed.characters:
        return PromptBase(spec=spec_to_dict(parsed), form="text")
    return PromptBase(text=stripped, form="text")


def _parse_text(text: str) -> Any:
    try:
        from gentui.prompt.forms import parse_text_prompt
    except ImportError:
        return None
    try:
        return parse_text_prompt(text)
    except ValueError:
        return None


def render_cell(base: PromptBase, params: dict[str, Any]) -> None:
    """Fill `prompt_src`, `negative`, `layout`, `characters` (and `prompt_en` when not translated)."""
    from gentui.prompt.forms import render_json, render_text, spec_from_dict

    variant = params.get("variant")
    if base.spec is None:
        if variant:
            raise ValueError(f"variant {variant!r} needs a prompt spec (scene, characters), not raw text")
        params["prompt_src"] = base.text
        params["characters"] = [
            {k: v for k, v in vars(c).items() if v not in (None, "") and k != "idx"}
            for c in characters_from_prompt(base.text)
        ]
        if params.get("negative") is None and base.extra.get("negative"):
            params["negative"] = base.extra["negative"]
    else:
        from gentui.prompt.variants import apply_variant

        spec = spec_from_dict(base.spec)
        if params.get("layout"):
            spec = apply_variant(spec, f"layout:{params['layout']}")
        if variant:
            spec = apply_variant(spec, variant)
        params["layout"] = spec.layout or params.get("layout")
        params["prompt_src"] = render_text(spec) if base.form == "text" else render_json(spec)
        params["characters"] = spec.sidecar_characters()
        if params.get("negative") is None and spec.negative:
            params["negative"] = spec.negative
    params["prompt_en"] = params["prompt_src"] if params.get("skip_translate") else None


def variant_label(variant: str) -> str:
    """The variant's short, stable name for labels and file names (`named+notrigger`)."""
    try:
        from gentui.prompt.variants import parse_variant

        return parse_variant(variant).label
    except (ImportError, ValueError):
        return variant
