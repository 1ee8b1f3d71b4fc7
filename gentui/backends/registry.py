"""Backend name -> a Backend object, by the `type` of its `[backends.NAME]` table."""

from __future__ import annotations

from typing import Any

from gentui.backends.base import Backend, BackendError
from gentui.config import Settings


def make_backend(name: str, settings: Settings, **kwargs: Any) -> Backend:
    """Build the backend configured as `[backends.NAME]`; extra kwargs go to its constructor."""
    if name not in settings.backends:
        raise BackendError(
            f"no backend named {name!r}; configured: {', '.join(sorted(settings.backends)) or 'none'}"
        )
    kind = settings.backends[name].type
    if kind == "comfyui":
        from gentui.backends.comfyui import ComfyBackend

        return ComfyBackend(name, settings, **kwargs)
    if kind == "mflux":
        from gentui.backends.mflux import MfluxBackend

        return MfluxBackend(name, settings.backends[name], settings.data_dir / "mflux-runs", **kwargs)
    raise BackendError(f"backend {name!r}: unknown type {kind!r} (allowed: comfyui, mflux)")
