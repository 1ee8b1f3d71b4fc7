"""Per-prompt progress reporting: `progress_state`, `progress` and binary previews.

Mirrors comfy_execution/progress.py and main.py's progress hook: every change
re-sends the cumulative `progress_state` of the nodes run so far; a step sends
`progress_state`, then a metadata preview (event 4) to a client that negotiated
`supports_preview_metadata`, then `progress`, then a legacy preview (event 1)
to a client that did not.
"""

from __future__ import annotations

import json
from typing import Any

from gentui.simulator.hub import (
    PREVIEW_IMAGE,
    PREVIEW_IMAGE_WITH_METADATA,
    Hub,
)

FORMATS = {"image/jpeg": 1, "image/png": 2}


class Progress:
    """The progress registry of one running prompt."""

    def __init__(self, hub: Hub, prompt_id: str, client_id: str | None) -> None:
        self.hub, self.prompt_id, self.client_id = hub, prompt_id, client_id
        self.nodes: dict[str, dict[str, Any]] = {}

    def _set(self, nid: str, state: str, value: Any, maximum: Any) -> None:
        self.nodes[nid] = {
            "value": value,
            "max": maximum,
            "state": state,
            "node_id": nid,
            "prompt_id": self.prompt_id,
            "display_node_id": nid,
            "parent_node_id": None,
            "real_node_id": nid,
        }
        self.hub.emit(
            "progress_state", {"prompt_id": self.prompt_id, "nodes": json.loads(json.dumps(self.nodes))}, self.client_id
        )

    def start(self, nid: str) -> None:
        self._set(nid, "running", 0.0, 1.0)

    def finish(self, nid: str) -> None:
        entry = self.nodes.get(nid)
        maximum = entry["max"] if entry else 1
        self._set(nid, "finished", maximum, maximum)

    def step(
        self, nid: str, value: int, maximum: int, image: bytes | None = None, image_type: str = "image/jpeg"
    ) -> None:
        """One sampler step (or a SaveImageWebsocket image) with an optional preview."""
        self._set(nid, "running", value, maximum)
        cid = self.client_id
        metadata = self.hub.supports_metadata(cid)
        if image is not None and metadata:
            meta = json.dumps(
                {
                    "node_id": nid,
                    "prompt_id": self.prompt_id,
                    "display_node_id": nid,
                    "parent_node_id": None,
                    "real_node_id": nid,
                    "image_type": image_type,
                }
            ).encode()
            self.hub.emit(PREVIEW_IMAGE_WITH_METADATA, len(meta).to_bytes(4, "big") + meta + image, cid)
        self.hub.emit("progress", {"value": value, "max": maximum, "prompt_id": self.prompt_id, "node": nid}, cid)
        if image is not None and not metadata:
            self.hub.emit(PREVIEW_IMAGE, FORMATS[image_type].to_bytes(4, "big") + image, cid)
