"""`gentui` with no command: prepare the terminal, the demo if asked, and run the app."""

from __future__ import annotations

import sys

from gentui.config import Settings


def prepare_images(protocol: str) -> None:
    """Import textual-image before the app starts (it probes the terminal on import).

    A pty that reports 0 columns makes its import divide by zero: then assume
    the usual cell size and import again. With `halfblock` nothing needs probing.
    """
    if protocol == "halfblock":
        return
    try:
        import textual_image.widget  # noqa: F401
    except ZeroDivisionError:
        from textual_image import _terminal

        _terminal.get_cell_size._result = _terminal.CellSize(10, 20)  # type: ignore[attr-defined]
        try:
            import textual_image.widget  # noqa: F401
        except Exception:
            pass
    except Exception:
        pass  # no usable terminal facts: the thumbnails fall back to half-blocks


def run_app(settings: Settings, demo: bool = False) -> int:
    """Open the TUI (on the demo catalog with `demo`); returns the exit status."""
    from gentui.catalog.db import CatalogError

    if demo:
        from gentui.tui.demo import prepare_demo

        try:
            settings = prepare_demo(settings)
        except Exception as e:
            print(f"gentui --demo: {e}", file=sys.stderr)
            return 1
    prepare_images(settings.tui.image_protocol)
    from gentui.tui.app import GentuiApp

    try:
        app = GentuiApp(settings, demo=demo)
    except CatalogError as e:
        print(f"gentui: {e}", file=sys.stderr)
        return 1
    result = app.run()
    return int(result or 0)
