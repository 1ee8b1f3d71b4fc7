"""The command palette: every binding of the current screen, named "area: Verb object".

Commands are built from the bindings themselves, so a new key is in the
palette (and in the help screen) the moment it exists, with the key the user
remapped it to.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode

AREAS = {
    "app": "app", "main": "results", "results": "results", "filter": "filter", "queue": "queue",
    "editor": "editor", "compare": "compare", "bleed": "matrix", "image": "image", "annotate": "annotate",
    "help": "help",
}
HIDDEN = {"up", "down", "page_up", "page_down", "first", "last", "left", "right", "next_pane"}


@dataclass
class Command:
    """One binding as the palette and the help screen show it."""

    area: str
    name: str
    keys: str
    help: str
    node: DOMNode
    binding: Binding

    @property
    def title(self) -> str:
        return f"{self.area}: {self.name}"


def _key_display(node: DOMNode, binding: Binding) -> str:
    app: Any = node.app
    keymap = getattr(app, "settings", None)
    keys = binding.key
    if keymap is not None and binding.id and binding.id in keymap.tui.keys:
        keys = keymap.tui.keys[binding.id]
    shown = []
    for k in keys.split(","):
        k = k.strip()
        try:
            shown.append(app.get_key_display(Binding(k, binding.action)))
        except Exception:
            shown.append(k)
    return " ".join(shown)


def collect_commands(screen: DOMNode) -> list[Command]:
    """Bindings with an id on the app, the screen and every widget of the screen."""
    nodes: list[DOMNode] = [screen.app, screen]
    try:
        nodes += [w for w in screen.query("*") if type(w).BINDINGS]
    except Exception:
        pass
    out: list[Command] = []
    seen: set[str] = set()
    for node in nodes:
        for binding in type(node).BINDINGS:  # type: ignore[attr-defined]
            if not isinstance(binding, Binding) or not binding.id or binding.id in seen:
                continue
            prefix, _, short = binding.id.partition(".")
            if short in HIDDEN:
                continue
            seen.add(binding.id)
            name = binding.tooltip or binding.description
            if binding.tooltip and binding.description and binding.description.lower() not in name.lower():
                name = f"{binding.description} — {binding.tooltip}"
            out.append(Command(AREAS.get(prefix, prefix), name, _key_display(node, binding),
                               binding.tooltip, node, binding))
    return out


async def _run(node: DOMNode, action: str) -> None:
    await node.app.run_action(action, node)


class GentuiCommands(Provider):
    """Every action of the screen the palette was opened from."""

    def _commands(self) -> list[Command]:
        return collect_commands(self.screen)

    async def discover(self) -> Hits:
        for cmd in self._commands():
            yield DiscoveryHit(f"{cmd.title}  ({cmd.keys})", partial(_run, cmd.node, cmd.binding.action),
                               help=cmd.help or None)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for cmd in self._commands():
            text = f"{cmd.title}  ({cmd.keys})"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(_run, cmd.node, cmd.binding.action),
                          help=cmd.help or None)
