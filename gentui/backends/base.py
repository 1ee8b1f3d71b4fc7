"""The one interface every generation backend speaks, and the events it emits.

The worker (`gentui.queue`) drives any backend through this: check health,
make it ready (start it if configured), validate a job's models, submit it
(possibly while another job runs, to keep the GPU busy), follow it to an
outcome, interrupt it, or remove it while it is still pending.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class BackendError(Exception):
    """A backend refused or failed something; the message is for the user."""


class BackendUnavailable(BackendError):
    """The backend cannot be reached (down, not launched, wrong URL, auth refused)."""


class ValidationFailed(BackendError):
    """The job asks for models, LoRAs or inputs the backend does not have."""


@dataclass(frozen=True)
class Health:
    """What a health check found."""

    ok: bool
    version: str = ""
    detail: str = ""
    """Why it is not ok, or extra facts (device, 'simulator')."""
    rtt_ms: float | None = None
    features: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobEvent:
    """One step of a job's life on a backend.

    kind is one of: queued, started, progress, preview, done, failed, interrupted.
    """

    kind: str
    prompt_id: str = ""
    step: int = 0
    total: int = 0
    node: str = ""
    preview: bytes | None = None
    error: str = ""


@dataclass
class OutputImage:
    """An image the backend produced, already downloaded to a temp file."""

    path: str
    """Local temporary file holding the complete image bytes."""
    filename: str
    """The backend's own name for it (never trusted as a path)."""
    node: str = ""


@dataclass
class RunOutcome:
    """How a job ended on the backend."""

    status: str
    """done, failed or interrupted."""
    prompt_id: str = ""
    images: list[OutputImage] = field(default_factory=list)
    error: str = ""
    elapsed_s: float = 0.0
    submitted_graph: dict[str, Any] | None = None
    """The exact request sent (ComfyUI: the API graph), recorded as `workflow_api`."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Backend-specific facts for the sidecar (mflux metadata, timestamps)."""


EventCallback = Callable[[JobEvent], Awaitable[None] | None]


class Backend(Protocol):
    """A serial lane of image generation."""

    name: str

    async def health(self) -> Health: ...

    async def ensure_ready(self) -> Health:
        """Start the backend if it is down and launchable; raise BackendUnavailable if not."""
        ...

    async def validate(self, params: dict[str, Any]) -> None:
        """Raise ValidationFailed listing what is missing and what the backend has."""
        ...

    async def submit(self, params: dict[str, Any], *, front: bool = False) -> str:
        """Queue a job on the backend; returns its prompt id (chosen client-side)."""
        ...

    async def follow(self, prompt_id: str, on_event: EventCallback) -> RunOutcome:
        """Wait for a submitted job to finish, reporting events; recovers from dropped sockets."""
        ...

    async def lookup(self, prompt_id: str) -> str:
        """After a restart: `pending`, `running`, `finished`, or `unknown` on the backend."""
        ...

    async def interrupt(self, prompt_id: str) -> None: ...

    async def cancel_pending(self, prompt_id: str) -> None: ...

    async def close(self) -> None: ...
