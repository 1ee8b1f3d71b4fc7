"""The editor: a prompt (JSON form or text form) and the sweep's axes, then queue it.

Mistakes are shown under the field they belong to; the text stays as typed.
The translated prompt can be previewed before queueing. Queueing goes
through the same planner as `gentui sweep`, so an unknown LoRA is refused
before a single job is written.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Checkbox, Footer, Input, Label, Static, TextArea

from gentui.tui.data.sweep_form import (
    FIELDS,
    SWITCHES,
    FormError,
    SweepForm,
    check_prompt,
    switch_form,
)

HINTS = {
    "weights": "0.4:1.2:0.2 or 0.6,0.8", "seeds": "1293127692,42 or random:4", "variants": "named,unnamed",
    "layouts": "side_by_side,cluster,depth", "workflow": "anima", "backend": "(default)", "width": "888",
    "height": "768", "steps": "8", "cfg": "1.0", "lora_name": "kanachan-v4.safetensors",
    "negative": "lowres, bad hands",
}
LABELS = {"lora_name": "LoRA", "use_lora": "LoRA on", "use_speed_lora": "speed LoRA",
          "skip_translate": "skip translate"}


class EditorScreen(Screen):
    """Write a prompt, set the axes, preview the translation, queue the sweep."""

    DEFAULT_CSS = """
    EditorScreen #ed-body { height: 1fr; }
    EditorScreen #ed-left { width: 1fr; }
    EditorScreen #ed-right { width: 44; padding: 0 1; }
    EditorScreen #ed-name { height: 1; border: none; padding: 0 1; }
    EditorScreen TextArea { height: 1fr; }
    EditorScreen .field { height: 1; }
    EditorScreen .field Label { width: 15; color: $text-muted; }
    EditorScreen .field Input { width: 1fr; height: 1; border: none; padding: 0; background: $boost; }
    EditorScreen .field Input:focus { background: $accent 30%; }
    EditorScreen Checkbox { height: 1; border: none; padding: 0; background: transparent; }
    EditorScreen .error { color: $text-error; height: auto; padding: 0 1; }
    EditorScreen #ed-translation { height: auto; max-height: 8; color: $text-muted; padding: 0 1;
                                   border-top: hkey $panel-lighten-2; }
    """

    BINDINGS = [
        Binding("escape", "back", "Back", id="editor.back", tooltip="Back to the results (the text is kept)"),
        Binding("ctrl+t", "switch_form", "JSON/text", id="editor.switch_form",
                tooltip="Switch the prompt between JSON form and text form"),
        Binding("ctrl+l", "translate", "Translate", id="editor.translate",
                tooltip="Preview the translated prompt"),
        Binding("ctrl+s", "queue", "Queue sweep", id="editor.queue", tooltip="Queue the sweep"),
    ]

    def __init__(self, from_result: int | None = None, form: SweepForm | None = None):
        super().__init__()
        self.from_result = from_result
        self.form = form or SweepForm()

    def compose(self) -> ComposeResult:
        yield Static(" EDITOR  prompt (JSON or text form) and sweep axes", classes="screen-title")
        with Horizontal(id="ed-body"):
            with Vertical(id="ed-left"):
                yield Input(self.form.name, placeholder="sweep name", id="ed-name")
                yield TextArea(self.form.prompt, id="ed-prompt", soft_wrap=True, show_line_numbers=True)
                yield Static("", id="ed-prompt-error", classes="error")
                yield Static("", id="ed-translation")
            with VerticalScroll(id="ed-right"):
                for name in FIELDS:
                    with Horizontal(classes="field"):
                        yield Label(LABELS.get(name, name))
                        yield Input(self.form.values.get(name, ""), placeholder=HINTS.get(name, ""),
                                    id=f"ed-{name}")
                for name in SWITCHES:
                    yield Checkbox(LABELS.get(name, name), self.form.switches.get(name, False), id=f"ed-{name}")
                yield Static("", id="ed-form-error", classes="error")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#ed-prompt", TextArea).focus()
        if self.from_result is not None:
            self._load_result(self.from_result)
        else:
            self._check()

    @work(thread=True, group="editor-load", exit_on_error=False)
    def _load_result(self, result_id: int) -> None:
        from gentui.tui.data.sweep_form import form_from_result

        app: Any = self.app
        try:
            form = form_from_result(app.catalog, result_id)
        except Exception as e:
            self.app.call_from_thread(self._error, "form", str(e))
            return
        self.app.call_from_thread(self._fill, form)

    def _fill(self, form: SweepForm) -> None:
        self.form = form
        self.query_one("#ed-name", Input).value = form.name
        self.query_one("#ed-prompt", TextArea).text = form.prompt
        for name in FIELDS:
            self.query_one(f"#ed-{name}", Input).value = form.values.get(name, "")
        for name in SWITCHES:
            self.query_one(f"#ed-{name}", Checkbox).value = form.switches.get(name, False)
        self.notify(f"loaded result {self.from_result}: change what you like, ctrl+s queues it", timeout=4)
        self._check()

    def collect(self) -> SweepForm:
        """The form as it is on screen now."""
        f = self.form
        f.name = self.query_one("#ed-name", Input).value
        f.prompt = self.query_one("#ed-prompt", TextArea).text
        f.values = {name: self.query_one(f"#ed-{name}", Input).value for name in FIELDS}
        f.switches = {name: self.query_one(f"#ed-{name}", Checkbox).value for name in SWITCHES}
        return f

    # -- validation ----------------------------------------------------------------
    def _error(self, where: str, message: str) -> None:
        target = "#ed-prompt-error" if where == "prompt" else "#ed-form-error"
        self.query_one(target, Static).update(Text(message, style="bold red") if message else "")

    def _check(self) -> bool:
        form = self.collect()
        try:
            check_prompt(form)
        except Exception as e:
            self._error("prompt", self._prompt_error(e))
            return False
        self._error("prompt", "")
        return True

    @staticmethod
    def _prompt_error(e: Exception) -> str:
        line, col = getattr(e, "line", None), getattr(e, "column", None)
        where = f"line {line}" + (f", column {col}" if col else "") + ": " if line else ""
        return f"prompt: {where}{getattr(e, 'reason', None) or e}" + (
            f" (expected {e.expected})" if getattr(e, "expected", None) and line else "")

    @on(TextArea.Changed, "#ed-prompt")
    def _prompt_changed(self) -> None:
        self._check()

    # -- actions -------------------------------------------------------------------
    def action_back(self) -> None:
        self.collect()
        self.app.pop_screen()

    def action_switch_form(self) -> None:
        form = self.collect()
        try:
            other = switch_form(form)
        except Exception as e:
            self._error("prompt", self._prompt_error(e) + "  — fix it before switching forms")
            return
        self.query_one("#ed-prompt", TextArea).text = other
        self._check()

    def action_translate(self) -> None:
        if self._check():
            self.query_one("#ed-translation", Static).update("translating…")
            self._translate(self.collect())

    @work(thread=True, exclusive=True, group="editor-translate", exit_on_error=False)
    def _translate(self, form: SweepForm) -> None:
        from gentui.tui.data.sweep_form import translate_preview

        app: Any = self.app
        try:
            text = translate_preview(form, app.settings, app.catalog)
        except Exception as e:  # TranslationFailed, Ollama down: say so, keep everything
            text = f"translation failed: {e}"
        self.app.call_from_thread(self.query_one("#ed-translation", Static).update, text)

    def action_queue(self) -> None:
        if not self._check():
            self.notify("fix the prompt first", severity="error")
            return
        self._error("form", "")
        self.notify("planning the sweep…", timeout=2)
        self._queue(self.collect())

    @work(thread=True, exclusive=True, group="editor-queue", exit_on_error=False)
    def _queue(self, form: SweepForm) -> None:
        from gentui.tui.data.sweep_form import queue_form

        app: Any = self.app
        try:
            done = queue_form(form, app.settings, app.catalog, validate=getattr(app, "validate_sweeps", True))
        except FormError as e:
            self.app.call_from_thread(self._error, "form", str(e))
            return
        except Exception as e:  # SweepError (unknown LoRA, bad axis): shown inline, text kept
            self.app.call_from_thread(self._error, "form", str(e))
            return
        self.app.call_from_thread(self._queued, done)

    def _queued(self, done: Any) -> None:
        app: Any = self.app
        kept = ", ".join(f"{n} {s}" for s, n in sorted(done.kept.items()))
        msg = f"sweep {done.name}: queued {done.queued} job(s)" + (f"; already there: {kept}" if kept else "")
        for w in done.warnings:
            msg += f"\nwarning: {w}"
        self.notify(msg, timeout=5)
        if getattr(app, "start_worker", False):
            app.ensure_worker()
        app.refresh_queue_now()
        self.app.pop_screen()
