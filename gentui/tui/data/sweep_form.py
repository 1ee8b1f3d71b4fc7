"""The editor's form <-> a sweep definition, and a past result -> the form.

No widgets here: the editor collects strings, this module turns them into the
same raw sweep table a TOML file would hold, so the TUI queues exactly what
`gentui sweep FILE.toml` would (blocking where it touches the catalog or a
backend: call from a thread).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from gentui.catalog.db import Catalog
from gentui.catalog.models import Result
from gentui.catalog.sidecar import SidecarError, format_weight, read_sidecar
from gentui.config import Settings

FIELDS = ["weights", "seeds", "variants", "layouts", "workflow", "backend", "width", "height", "steps",
          "cfg", "lora_name", "negative"]
"""Text fields of the form, in screen order."""
SWITCHES = ["use_lora", "use_speed_lora", "skip_translate"]
INT_FIELDS = {"width", "height", "steps"}

EXAMPLE_PROMPT = """2girls, simple background, upper body, side by side
Left girl (Kanachan): kanachan, chestnut hair in a side ponytail with a yellow scrunchie, ahoge
Right girl (Reina): long straight near-black hair, navy blue eyes, navy cardigan
Keep the characters visually distinct. Do not mix hairstyles, outfits, or eye colors."""


@dataclass
class SweepForm:
    """What the editor shows: a sweep name, the prompt text, fields and switches."""

    name: str = "my-sweep"
    prompt: str = EXAMPLE_PROMPT
    values: dict[str, str] = field(default_factory=lambda: {
        "weights": "0.4:1.2:0.2", "seeds": "1293127692", "variants": "", "layouts": "", "workflow": "",
        "backend": "", "width": "", "height": "", "steps": "", "cfg": "", "lora_name": "", "negative": ""})
    switches: dict[str, bool] = field(default_factory=lambda: {
        "use_lora": True, "use_speed_lora": True, "skip_translate": False})
    triggers: list[str] = field(default_factory=list)


class FormError(ValueError):
    """A field that cannot be read: `.field` names it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


def _number(name: str, text: str) -> int | float:
    try:
        return int(text) if name in INT_FIELDS else float(text)
    except ValueError:
        kind = "a whole number" if name in INT_FIELDS else "a number"
        raise FormError(name, f"{text!r} is not {kind}") from None


def to_sweep_table(form: SweepForm) -> dict[str, Any]:
    """The raw sweep table (as in a sweep TOML file)."""
    if not form.name.strip():
        raise FormError("name", "give the sweep a name")
    if not form.prompt.strip():
        raise FormError("prompt", "the prompt is empty")
    v = {k: s.strip() for k, s in form.values.items()}
    params: dict[str, Any] = {}
    for key in ("workflow", "backend", "lora_name"):
        if v.get(key):
            params[key] = v[key]
    for key in ("width", "height", "steps", "cfg"):
        if v.get(key):
            params[key] = _number(key, v[key])
    params.update(form.switches)
    if not form.switches.get("use_lora", True):
        params.pop("lora_name", None)
    axes: dict[str, Any] = {}
    for key in ("weights", "seeds", "variants", "layouts"):
        if v.get(key):
            axes[key] = v[key]
    if not form.switches.get("use_lora", True):
        axes.pop("weights", None)
    prompt: dict[str, Any] = {"json" if form.prompt.lstrip().startswith("{") else "text": form.prompt}
    if v.get("negative"):
        prompt["negative"] = v["negative"]
    return {"name": form.name.strip(), "prompt": prompt, "params": params, "axes": axes}


def check_prompt(form: SweepForm) -> Any:
    """Parse the prompt (either form); raises PromptError with line/column/field."""
    from gentui.prompt.forms import parse_prompt

    return parse_prompt(form.prompt, triggers=form.triggers)


def switch_form(form: SweepForm) -> str:
    """The prompt in the other form (JSON <-> text); raises PromptError when it does not parse."""
    from gentui.prompt.forms import looks_like_json, render_json, render_text

    spec = check_prompt(form)
    form.triggers = sorted({c.lora_trigger for c in spec.characters if c.lora_trigger} | set(form.triggers))
    return render_text(spec) if looks_like_json(form.prompt) else render_json(spec)


@dataclass
class Queued:
    name: str
    queued: int
    kept: dict[str, int]
    warnings: list[str]


def queue_form(form: SweepForm, settings: Settings, catalog: Catalog, validate: bool = True) -> Queued:
    """Plan, validate (unknown LoRAs are refused here) and queue the sweep (blocking)."""
    from gentui.queue.plan import plan_sweep, queue_plan, validate_plan
    from gentui.queue.sweep import sweep_from_dict

    sweep = sweep_from_dict(to_sweep_table(form), "editor")
    plan = plan_sweep(sweep, settings, catalog)
    warnings = asyncio.run(validate_plan(plan, settings)) if validate else []
    report = queue_plan(catalog, plan)
    return Queued(sweep.name, report.queued, dict(report.kept), list(warnings))


def translate_preview(form: SweepForm, settings: Settings, catalog: Catalog) -> str:
    """What the model would get (blocking: may call Ollama)."""
    from gentui.prompt.forms import render_json, render_text

    spec = check_prompt(form)
    text = render_json(spec) if form.prompt.lstrip().startswith("{") else render_text(spec)
    if form.switches.get("skip_translate"):
        return "skip translate: the prompt is sent as written\n\n" + text
    from gentui.prompt.translate import Translator

    t = Translator(settings.translate, catalog).translate(text)
    if getattr(t, "skipped", None):
        return f"not translated ({t.skipped}): the prompt is sent as written\n\n" + t.text
    head = f"translated by {t.model}" + (" (cached)" if getattr(t, "cached", False) else "")
    for r in getattr(t, "rejected", None) or []:
        head += f"\n  rejected {r.get('model')}: {r.get('reason')}"
    return head + "\n\n" + t.text


def form_from_result(catalog: Catalog, result_id: int) -> SweepForm:
    """A past result's parameters as a one-cell form ("re-run with changes")."""
    with catalog.session() as s:
        r = s.get(Result, result_id)
    if r is None:
        raise FormError("result", f"result {result_id} is gone")
    side: dict[str, Any] = {}
    if r.sidecar_path:
        try:
            side = read_sidecar(r.sidecar_path)
        except SidecarError:
            side = {}
    form = SweepForm()
    form.name = f"{r.sweep_name or 'result'}-{result_id}-rerun"
    prompt = side.get("prompt_src") or r.prompt_src or side.get("prompt_en") or r.prompt_en or ""
    if isinstance(prompt, (dict, list)):
        import json

        prompt = json.dumps(prompt, ensure_ascii=False, indent=2)
    form.prompt = str(prompt)
    chars = side.get("characters") if isinstance(side.get("characters"), list) else []
    form.triggers = [c["lora_trigger"] for c in chars if isinstance(c, dict) and c.get("lora_trigger")]
    use_lora = bool(r.use_lora) if r.use_lora is not None else True
    v = form.values
    v["weights"] = format_weight(r.lora_strength) if use_lora and r.lora_strength is not None else ""
    v["seeds"] = str(r.seed) if r.seed is not None else ""
    v["variants"] = r.variant or ""
    v["layouts"] = ""
    v["workflow"] = r.workflow or ""
    v["backend"] = r.backend or ""
    for key in ("width", "height", "steps"):
        val = getattr(r, key)
        v[key] = str(val) if val is not None else ""
    v["cfg"] = f"{r.cfg:g}" if r.cfg is not None else ""
    v["lora_name"] = r.lora_name or ""
    v["negative"] = r.negative or side.get("negative") or ""
    form.switches = {"use_lora": use_lora, "use_speed_lora": bool(r.use_speed_lora),
                     "skip_translate": bool(r.skip_translate)}
    return form
