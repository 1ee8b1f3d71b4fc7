"""What the simulated server did, counted as a real ComfyUI's work would be: for tests and benchmarks.

A real server re-does work only for the nodes whose inputs changed since the
last prompt (its classic cache): a changed LoRA strength means a new model
patch and a new text encoding, a changed seed only a new sampling. The ledger
counts those executions, and how often each prompt id started executing
(so a test can prove that nothing ran twice). A `SimulatorHandle` keeps one
ledger across its restarts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

WORK = {
    "CheckpointLoaderSimple": "model_loads", "UNETLoader": "model_loads", "CLIPLoader": "model_loads",
    "DualCLIPLoader": "model_loads", "VAELoader": "model_loads",
    "LoraLoader": "lora_patches", "LoraLoaderModelOnly": "lora_patches",
    "CLIPTextEncode": "text_encodes",
    "KSampler": "samples", "KSamplerAdvanced": "samples",
}
"""Node class -> the kind of work executing it stands for."""


@dataclass
class Ledger:
    executions: Counter[str] = field(default_factory=Counter)
    """prompt id -> how many times it started executing."""
    work: Counter[str] = field(default_factory=Counter)
    """model_loads, lora_patches, text_encodes, samples."""

    def started(self, prompt_id: str) -> None:
        self.executions[prompt_id] += 1

    def executed(self, class_type: str) -> None:
        kind = WORK.get(class_type)
        if kind is not None:
            self.work[kind] += 1

    def to_dict(self) -> dict[str, Any]:
        return {"work": {k: self.work.get(k, 0) for k in ("model_loads", "lora_patches", "text_encodes", "samples")},
                "prompts_executed": sum(self.executions.values()),
                "executions": dict(self.executions)}
