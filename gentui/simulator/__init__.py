"""gentui's ComfyUI simulator: a test double of a ComfyUI server, like moto for AWS.

It speaks ComfyUI's HTTP + websocket API as observed on a real v0.3.64 server
(see comfyui-protocol.md): the same endpoints, message sequences, error shapes
and caching, with deterministic stand-in images and a configurable time per
step. The tests, the benchmarks and `gentui --demo` run against it; `gentui sim`
runs it in the foreground. It is labelled as a simulator in its banner, in
`/system_stats` and in its log.
"""

from gentui.simulator.catalogue import (
    CatalogueError,
    ModelCatalogue,
    default_catalogue,
    load_catalogue,
)
from gentui.simulator.server import (
    Simulator,
    SimulatorHandle,
    start_simulator,
    start_simulator_async,
)

__all__ = [
    "CatalogueError",
    "ModelCatalogue",
    "Simulator",
    "SimulatorHandle",
    "default_catalogue",
    "load_catalogue",
    "start_simulator",
    "start_simulator_async",
]
