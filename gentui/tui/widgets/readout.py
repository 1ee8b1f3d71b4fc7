"""The preview's colour readout and suggested annotations, and the keys that decide suggestions.

Kept apart from the preview so that it stays small: `load_extras` runs in the
preview's loading thread (it decodes the picture), `extras_text` renders the
lines under the characters, `decide_next` is what `y` / `n` do on the main
screen (accept / reject the first pending suggestion of the selected result).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from gentui.catalog.suggestions import describe_suggestion, suggestions_in


def load_extras(details: Any) -> None:
    """Blocking: add the colour readout (or why there is none) to `details.extras`."""
    from gentui.analysis.colours import ColourError, read_colours

    r = details.result
    try:
        details.extras["colours"] = read_colours(r.path, details.characters, result_id=r.id)
    except ColourError as e:
        details.extras["colours_error"] = str(e)


def extras_text(details: Any) -> Text:
    """`colours  left: chestnut 31%, orange 12%   right: ...`, then the suggestions, pending first."""
    from gentui.analysis.colours import summary

    t = Text()
    readout = details.extras.get("colours")
    if readout is not None:
        t.append(" colours ", style="bold magenta")
        t.append(summary(readout) + "\n")
    items = suggestions_in(details.sidecar)
    waiting = [s for s in items if s["state"] == "pending"]
    if waiting:
        t.append(f" suggested by {waiting[0]['author']} (y accept, n reject):\n", style="bold yellow")
        for i, s in enumerate(waiting[:6]):
            t.append(f"  {'>' if i == 0 else ' '} {s['slot']:<6} {describe_suggestion(s)}\n", style="yellow")
        if len(waiting) > 6:
            t.append(f"    and {len(waiting) - 6} more (`gentui suggest` decides them in bulk)\n", style="dim")
    failed = [s for s in items if s["state"] == "failed"]
    decided = len(items) - len(waiting) - len(failed)
    if failed or decided:
        bits = [f"{decided} decided"] if decided else []
        if failed:
            bits.append(f"{len(failed)} failed ({failed[-1].get('error')})")
        t.append(" suggestions: " + ", ".join(bits) + "\n", style="dim")
    return t


def decide_next(screen: Any, accept: bool) -> None:
    """Accept or reject the first pending suggestion of the selected result (in a thread)."""
    from gentui.tui.widgets.preview import Preview

    preview = screen.query_one(Preview)
    d = preview.details
    waiting = [s for s in suggestions_in(d.sidecar if d else None) if s["state"] == "pending"]
    if d is None or not waiting:
        screen.notify("no pending suggestion on this result", severity="warning")
        return
    first, app = waiting[0], screen.app

    def work() -> None:
        from gentui.catalog.suggestions import decide

        try:
            decide(app.catalog, d.id, first["id"], accept)
        except Exception as e:  # AnnotationError, a vanished sidecar, a locked catalog
            app.call_from_thread(screen.notify, str(e), severity="error")
            return
        verb = "accepted" if accept else "rejected"
        app.call_from_thread(screen.notify, f"{verb}: {first['slot']} {describe_suggestion(first)}", timeout=3)
        app.call_from_thread(preview.forget, d.id)
        if accept:
            from gentui.tui.widgets.results_table import ResultsTable

            app.call_from_thread(screen.query_one(ResultsTable).reload)

    screen.run_worker(work, thread=True, group="judge", exit_on_error=False)
