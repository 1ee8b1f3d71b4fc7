"""The one interface every generation backend speaks, and the events it emits.

The worker (`gentui.queue`) drives any backend through this: check health,
make it ready (start it if configured), validate a job's models, submit it
(possibly while another job runs, to keep the GPU busy), follow it to an
outcome, interrupt it, or remove it while it is still pending.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gentui.params import JobParams


class BackendError(Exception):
    """A backend refused or failed something; the message is for the user."""


class BackendUnavailable(BackendError):
    """The backend cannot be reached (down, not launched, wrong URL, auth refused)."""


class AuthRefused(BackendUnavailable):
    """The backend (or the proxy in front of it) refused our credentials (HTTP 401 or 403)."""


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


class PromptStatus(StrEnum):
    """What a backend knows of a prompt id (recovery after a restart or an outage)."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    UNKNOWN = "unknown"
    """Never received, or forgotten (deleted, or the server restarted)."""


@dataclass(frozen=True)
class Abilities:
    """What a backend can do beyond the contract; declared, never probed."""

    prequeue: bool = True
    """It holds the next job while one runs, so the GPU never waits on gentui."""
    previews: bool = False
    """It sends sampler previews while a job runs."""


class Backend(ABC):
    """A serial lane of image generation, as the queue drives it.

    Errors: `BackendUnavailable` when the backend cannot be reached (the job
    waits), `ValidationFailed` when it lacks what the job needs (the job is
    refused, with what it has), `BackendError` for anything else it refused.
    """

    name: str
    abilities: Abilities = Abilities()

    @abstractmethod
    async def health(self) -> Health:
        """Reachable? (never raises; `Health.ok` and `detail` say)."""

    @abstractmethod
    async def ensure_ready(self) -> Health:
        """Start the backend if it is down and launchable; raise BackendUnavailable if it cannot be used."""

    @abstractmethod
    async def validate(self, params: JobParams) -> None:
        """Raise ValidationFailed listing what the job needs that the backend lacks (and what it has)."""

    @abstractmethod
    async def submit(self, params: JobParams, *, prompt_id: str, front: bool = False) -> str:
        """Queue the job under gentui's prompt id (already recorded in the job row); returns that id."""

    @abstractmethod
    async def follow(self, prompt_id: str, on_event: EventCallback) -> RunOutcome:
        """Report a prompt's events until it ends (images downloaded); BackendUnavailable when contact is lost."""

    @abstractmethod
    async def collect(self, prompt_id: str) -> RunOutcome | None:
        """The outcome of a prompt that has finished (its images downloaded); None if it has not."""

    @abstractmethod
    async def lookup(self, prompt_id: str) -> PromptStatus:
        """What the backend knows of the prompt: pending, running, finished or unknown."""

    @abstractmethod
    async def cancel(self, prompt_id: str) -> None:
        """Remove the prompt wherever it is: pending ones are deleted, a running one is interrupted."""

    @abstractmethod
    async def cancel_pending(self, prompt_id: str) -> bool:
        """Remove the prompt only if it has not started; True when it is gone, False when it runs (or ran)."""

    @abstractmethod
    async def interrupt(self, prompt_id: str) -> None:
        """Stop the prompt if it is running (never whatever else runs)."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections (and stop a server gentui started)."""
