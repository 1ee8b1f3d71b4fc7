"""The annotate flow: character -> feature -> outcome (-> target slot or colour seen).

Each step is a short list picked with a digit, a letter or enter; the feature
and colour steps take free text too. Escape goes back a step (and out from
the first one). Nothing is written until the last step is answered.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from gentui.tui.data.judge import NEEDS_COLOR, NEEDS_TARGET, OUTCOMES

OUTCOME_KEYS = {"p": "present", "m": "missing", "g": "migrated", "d": "duplicated",
                "c": "color_drift", "x": "collapse", "a": "artifact"}
COLORS = ["black", "brown", "chestnut", "blonde", "orange", "red", "pink", "purple", "blue", "navy",
          "green", "white", "silver", "grey", "yellow"]


@dataclass
class AnnotationRequest:
    slot: str
    feature: str
    outcome: str
    target: str | None = None
    color: str | None = None


class AnnotateDialog(ModalScreen[AnnotationRequest | None]):
    """Ask, step by step, for one annotation of one result."""

    DEFAULT_CSS = """
    AnnotateDialog { align: center middle; }
    AnnotateDialog > Vertical {
        width: 60; max-width: 95%; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    AnnotateDialog #ann-title { text-style: bold; width: 1fr; }
    AnnotateDialog #ann-sofar { color: $text-muted; }
    AnnotateDialog #ann-prompt { margin-top: 1; text-style: bold; }
    AnnotateDialog Input { margin: 0; }
    AnnotateDialog OptionList { height: auto; max-height: 12; }
    AnnotateDialog #ann-hint { color: $text-muted; }
    """

    BINDINGS = [
        Binding("escape", "back", "Back", id="annotate.back", tooltip="Back one step (cancel from the first)"),
    ]

    def __init__(self, title: str, slots: list[tuple[str, str]], features: list[str]):
        super().__init__()
        self.title_text = title
        self.slots = slots or [("", "whole image")]
        self.features = features
        self.answers: dict[str, str] = {}
        self.step = "slot" if len(self.slots) > 1 else "feature"
        if self.step == "feature":
            self.answers["slot"] = self.slots[0][0]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, id="ann-title")
            yield Static("", id="ann-sofar")
            yield Label("", id="ann-prompt")
            yield Input(id="ann-input")
            yield OptionList(id="ann-options")
            yield Static("", id="ann-hint")

    def on_mount(self) -> None:
        self._show_step()

    # -- steps ----------------------------------------------------------------
    def _choices(self) -> list[tuple[str, str]]:
        """(value, label) for the current step."""
        if self.step == "slot":
            return [(s, f"{i + 1}  {label}") for i, (s, label) in enumerate(self.slots)]
        if self.step == "feature":
            typed = self.query_one(Input).value.strip().lower()
            feats = [f for f in self.features if typed in f.lower()] if typed else self.features
            return [(f, f) for f in feats]
        if self.step == "outcome":
            keys = {v: k for k, v in OUTCOME_KEYS.items()}
            return [(o, f"{keys[o]}  {o}") for o in OUTCOMES]
        if self.step == "target":
            # each character keeps the number it had in the first step (2 is still "right")
            src = self.answers.get("slot")
            others = [(i, s, label) for i, (s, label) in enumerate(self.slots) if s != src]
            others = others or [(i, s, label) for i, (s, label) in enumerate(self.slots)]
            out = [(s, f"{i + 1}  {label}") for i, s, label in others]
            if len(others) > 1 and self.answers.get("outcome") == "duplicated":
                out.append((",".join(s for _, s, _ in others), "a  all others"))
            return out
        if self.step == "color":
            typed = self.query_one(Input).value.strip().lower()
            return [(c, c) for c in COLORS if typed in c] if typed else [(c, c) for c in COLORS]
        return []

    def _show_step(self) -> None:
        prompts = {
            "slot": ("Which character?", "1-9 or enter; esc cancels"),
            "feature": ("Which feature? (type a new one or pick)", "enter takes the text or the highlighted one"),
            "outcome": ("What happened to it?", "letter or enter; esc back"),
            "target": ("Where did it go?", "1-9 or enter; esc back"),
            "color": ("Which colour do you see?", "type or pick; enter"),
        }
        prompt, hint = prompts[self.step]
        self.query_one("#ann-prompt", Label).update(prompt)
        self.query_one("#ann-hint", Static).update(hint)
        self.query_one("#ann-sofar", Static).update("  ".join(f"{k}: {v}" for k, v in self.answers.items()))
        inp = self.query_one(Input)
        text_step = self.step in ("feature", "color")
        inp.display = text_step
        if text_step:
            inp.value = ""
            inp.placeholder = "side_ponytail" if self.step == "feature" else "orange"
        self._fill_options()
        (inp if text_step else self.query_one(OptionList)).focus()

    def _fill_options(self) -> None:
        ol = self.query_one(OptionList)
        ol.clear_options()
        ol.add_options([Option(label, id=value) for value, label in self._choices()])
        if ol.option_count:
            ol.highlighted = 0

    @on(Input.Changed, "#ann-input")
    def _typed(self) -> None:
        self._fill_options()

    @on(Input.Submitted, "#ann-input")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        ol = self.query_one(OptionList)
        if not text and ol.highlighted is not None and ol.option_count:
            text = ol.get_option_at_index(ol.highlighted).id or ""
        if text:
            self._answer(text.replace(" ", "_") if self.step == "feature" else text)

    @on(OptionList.OptionSelected, "#ann-options")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self._answer(event.option.id or "")

    def on_key(self, event: Key) -> None:
        if self.step in ("feature", "color"):
            if event.key == "down" and self.query_one(Input).has_focus:
                self.query_one(OptionList).focus()
                event.stop()
            return
        choices = self._choices()
        if event.character and event.character.isdigit() and event.character != "0":
            i = int(event.character) - 1
            if self.step == "target":
                wanted = self.slots[i][0] if i < len(self.slots) else None
                if wanted is not None and any(v == wanted for v, _ in choices):
                    event.stop()
                    self._answer(wanted)
            elif i < len(choices):
                event.stop()
                self._answer(choices[i][0])
        elif self.step == "target" and event.character == "a" and len(choices) > 1 and "," in choices[-1][0]:
            event.stop()
            self._answer(choices[-1][0])
        elif self.step == "outcome" and event.character in OUTCOME_KEYS:
            event.stop()
            self._answer(OUTCOME_KEYS[event.character])

    def _answer(self, value: str) -> None:
        self.answers[self.step] = value
        order = ["slot", "feature", "outcome"]
        if self.step in order[:-1]:
            self.step = order[order.index(self.step) + 1]
        elif self.step == "outcome" and value in NEEDS_TARGET:
            self.step = "target"
        elif self.step == "outcome" and value in NEEDS_COLOR:
            self.step = "color"
        else:
            self._finish()
            return
        self._show_step()

    def _finish(self) -> None:
        a = self.answers
        self.dismiss(AnnotationRequest(a.get("slot", ""), a["feature"], a["outcome"],
                                       a.get("target"), a.get("color")))

    def action_back(self) -> None:
        order = ["slot", "feature", "outcome", self.step]
        if self.step in ("target", "color"):
            prev = "outcome"
        elif self.step == "slot" or (self.step == "feature" and len(self.slots) <= 1):
            self.dismiss(None)
            return
        else:
            prev = order[order.index(self.step) - 1]
        self.answers.pop(prev, None)
        self.answers.pop(self.step, None)
        self.step = prev
        self._show_step()
