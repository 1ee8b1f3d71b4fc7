"""ComfyUI's execution order: ExecutionList's topological dissolve and UX-friendly pick.

Matching it matters because clients see the order in `executing` messages:
with nothing cached a txt2img graph runs 4, 5, 10, 7, 6, 3, 8, 9 on a real
server (loaders that feed an output first, then the first ready node).
"""

from __future__ import annotations

from typing import Any, Callable

from gentui.simulator.nodes import NODE_SPECS


def is_link(value: Any) -> bool:
    """`[source_node_id, output_index]`."""
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


class ExecutionList:
    """ComfyUI's ExecutionList: a topological dissolve with its UX-friendly pick order."""

    def __init__(self, prompt: dict[str, Any], is_cached: Callable[[str], bool]) -> None:
        self.prompt, self.is_cached = prompt, is_cached
        self.pending: dict[str, bool] = {}
        self.block_count: dict[str, int] = {}
        self.blocking: dict[str, dict[str, bool]] = {}

    def add_node(self, root: str) -> None:
        stack, links = [root], []
        while stack:
            uid = stack.pop()
            if uid in self.pending:
                continue
            self.pending[uid], self.block_count[uid], self.blocking[uid] = True, 0, {}
            for value in self.prompt[uid].get("inputs", {}).values():
                if is_link(value) and not self.is_cached(value[0]):
                    stack.append(value[0])
                    links.append((value[0], uid))
        for src, dst in links:
            if dst not in self.blocking[src]:
                self.blocking[src][dst] = True
                self.block_count[dst] += 1

    def empty(self) -> bool:
        return not self.pending

    def _is_output(self, nid: str) -> bool:
        return NODE_SPECS[self.prompt[nid]["class_type"]].output_node

    def pick(self) -> str | None:
        ready = [n for n in self.pending if self.block_count[n] == 0]
        if not ready:
            return None
        for n in ready:
            if self._is_output(n):
                return n
        for n in ready:
            if any(self._is_output(b) for b in self.blocking[n]):
                return n
        for n in ready:
            if any(self._is_output(b1) for b in self.blocking[n] for b1 in self.blocking[b]):
                return n
        return ready[0]

    def complete(self, nid: str) -> None:
        del self.pending[nid]
        for blocked in self.blocking.pop(nid):
            self.block_count[blocked] -= 1
