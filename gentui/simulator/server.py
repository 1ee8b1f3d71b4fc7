"""Starting and stopping the simulator: in the running loop, or in its own thread.

`Simulator` is the async server (aiohttp app + engine + websocket hub).
`start_simulator()` runs one in a daemon thread with its own event loop and
returns a `SimulatorHandle` (`.url`, `.stop()`, `.kill()`, `.restart()`), which
is what tests and `gentui --demo` use. `kill()` resets every connection the
way a crashed server would; `restart()` brings a fresh server (empty queue and
history, same output folder) back on the same port.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import shutil
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from aiohttp import web

from gentui.simulator.catalogue import (
    ModelCatalogue,
    default_catalogue,
    load_catalogue,
)
from gentui.simulator.engine import Dirs, Engine
from gentui.simulator.faults import Faults
from gentui.simulator.hub import Hub
from gentui.simulator.ledger import Ledger
from gentui.simulator.routes import build_routes
from gentui.simulator.validate import PromptShapeError

log = logging.getLogger("gentui.sim")
_TROUBLE = "500 Internal Server Error\n\nServer got itself in trouble"
FAULTS_KEY = web.AppKey("faults", Faults)


def _foreign_origin(request: web.Request) -> bool:
    """ComfyUI's origin-only check: a loopback Host with an Origin naming another host gets 403."""
    host, origin = request.headers.get("Host"), request.headers.get("Origin")
    if not host or not origin:
        return False
    parsed = urllib.parse.urlparse(origin)
    host_parsed = urllib.parse.urlsplit("//" + host.lower())
    try:
        loopback = ipaddress.ip_address(host_parsed.hostname or "").is_loopback
    except ValueError:
        loopback = host_parsed.hostname == "localhost"
    host_domain, origin_domain = host.lower(), parsed.netloc.lower()
    if parsed.port is None:
        host_domain = host_parsed.hostname or ""
    if host_parsed.port is None:
        origin_domain = parsed.hostname or ""
    return bool(loopback and host_domain and origin_domain and host_domain != origin_domain)


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Log each request; 500/403 like ComfyUI (crashes, foreign origins); hang while frozen."""
    faults = request.app.get(FAULTS_KEY)
    if faults is not None:
        await faults.gate()
    if _foreign_origin(request):
        log.warning("request with non matching host and origin, returning 403")
        return web.Response(status=403)
    try:
        response = await handler(request)
    except web.HTTPException:
        raise
    except (json.JSONDecodeError, PromptShapeError, ValueError, TypeError, AttributeError, KeyError) as e:
        log.warning("%s %s -> 500 (%s: %s)", request.method, request.path_qs, type(e).__name__, e)
        return web.Response(status=500, text=_TROUBLE)
    if request.path not in ("/ws", "/api/ws"):
        log.info("%s %s -> %s", request.method, request.path_qs, response.status)
    return response


def _catalogue(models: ModelCatalogue | str | Path | dict | None) -> ModelCatalogue:
    if models is None:
        return default_catalogue()
    if isinstance(models, ModelCatalogue):
        return models
    if isinstance(models, dict):
        from gentui.simulator.catalogue import from_mapping

        return from_mapping(models)
    return load_catalogue(models)


class Simulator:
    """The ComfyUI simulator as an async server inside the current event loop.

    Args:
        host, port: where to listen (port 0 picks a free one).
        step_ms: time per sampler step.
        models: a ModelCatalogue, a `{folder: [names], "broken": [...]}` dict, or a TOML/JSON path.
        jobs_api: act as a newer server (Jobs API, UUID prompt ids, `missing_node_type`).
        output_dir: where SaveImage writes (a temp dir, removed on stop, when None).
        preview: send binary preview frames per sampler step (like `--preview-method latent2rgb`).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        step_ms: float = 50.0,
        models: Any = None,
        jobs_api: bool = False,
        output_dir: str | Path | None = None,
        preview: bool = False,
        ledger: Ledger | None = None,
        nondeterministic: bool = False,
    ) -> None:
        self.host, self.port, self.step_ms = host, port, step_ms
        self.nondeterministic = nondeterministic
        self.ledger = ledger if ledger is not None else Ledger()
        self.jobs_api, self.preview = jobs_api, preview
        self.catalogue = _catalogue(models)
        self._own_dirs: list[Path] = []
        if output_dir is None:
            root = Path(tempfile.mkdtemp(prefix="gentui-sim-"))
            self._own_dirs.append(root)
            out = root / "output"
        else:
            root = Path(tempfile.mkdtemp(prefix="gentui-sim-temp-"))
            self._own_dirs.append(root)
            out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (root / "temp").mkdir(exist_ok=True)
        (root / "input").mkdir(exist_ok=True)
        self.dirs = Dirs(output=out.resolve(), temp=(root / "temp").resolve(), input=(root / "input").resolve())
        self.faults: Faults = None  # type: ignore[assignment]  # made in start(): needs the loop
        self.hub: Hub = None  # type: ignore[assignment]
        self.engine: Engine = None  # type: ignore[assignment]
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> "Simulator":
        """Bind and serve; afterwards `.port` and `.url` are the real ones."""
        self.faults = Faults()
        self.faults.nondeterministic = self.nondeterministic
        self.hub = Hub(self.faults)
        self.engine = Engine(
            self.hub, self.catalogue, self.dirs, self.step_ms, self.preview, self.jobs_api, self.faults, self.ledger
        )
        app = web.Application(middlewares=[_guard], client_max_size=100 * 1024 * 1024)
        app[FAULTS_KEY] = self.faults
        routes = build_routes(self)
        app.add_routes(routes)
        api = web.RouteTableDef()
        for route in routes:
            if isinstance(route, web.RouteDef) and not route.path.startswith("/api/"):
                api.route(route.method, "/api" + route.path)(route.handler)
        app.add_routes(api)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await self.stop()  # nothing listens: release the runner and the folders made for it
            raise
        sockets = getattr(site._server, "sockets", None) or []  # noqa: SLF001 - aiohttp exposes no bound port
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self.hub.start()
        self.engine.start()
        log.info("gentui ComfyUI simulator (a test double, not ComfyUI) listening on %s", self.url)
        return self

    async def stop(self, abort: bool = False, keep_dirs: bool = False) -> None:
        """Stop serving; `abort` resets connections instead of closing them politely."""
        if self.faults:
            self.faults.thaw()
        if self.engine:
            await self.engine.stop()
        if self.hub:
            await self.hub.close(abort=abort)
        if self._runner:
            await self._runner.cleanup()
            self._runner = None
        if not keep_dirs:
            for d in self._own_dirs:
                shutil.rmtree(d, ignore_errors=True)

    async def __aenter__(self) -> "Simulator":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def start_simulator_async(**kwargs: Any) -> Simulator:
    """Start a `Simulator` in the running loop (see `Simulator` for the arguments)."""
    return await Simulator(**kwargs).start()


class SimulatorHandle:
    """A simulator running in its own thread and event loop."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("ledger", Ledger())  # one ledger across restarts: what ran, ever
        self._kwargs = kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.sim: Simulator | None = None
        self._cleanup: list[Path] = []
        self._start()

    def _start(self) -> None:
        ready = threading.Event()
        errors: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self.sim = loop.run_until_complete(Simulator(**self._kwargs).start())
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                errors.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="gentui-simulator", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors:
            raise errors[0]
        assert self.sim is not None
        self._cleanup.extend(self.sim._own_dirs)  # noqa: SLF001 - removed by the last stop()
        self._kwargs["port"] = self.sim.port
        self._kwargs["output_dir"] = self.sim.dirs.output

    @property
    def url(self) -> str:
        assert self.sim is not None
        return self.sim.url

    @property
    def port(self) -> int:
        assert self.sim is not None
        return self.sim.port

    @property
    def output_dir(self) -> Path:
        assert self.sim is not None
        return self.sim.dirs.output

    def call(self, fn: Any, *args: Any) -> Any:
        """Run `fn(*args)` on the simulator's loop and return its result (for tests)."""
        assert self._loop is not None

        async def wrapper() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(10)

    def drop_websockets(self) -> int:
        """Reset every websocket connection while the server keeps running."""
        assert self.sim is not None
        return self.call(self.sim.hub.drop)

    def freeze(self) -> None:
        """Stop answering (HTTP hangs, no websocket messages, samplers pause) until `thaw()`."""
        assert self.sim is not None
        self.call(self.sim.faults.freeze)

    def thaw(self) -> None:
        assert self.sim is not None
        self.call(self.sim.faults.thaw)

    def report_filenames(self, filename: str | None = None, subfolder: str | None = None) -> None:
        """Make the server report hostile names (e.g. `../../x.png`) for images it writes."""
        assert self.sim is not None

        def setter() -> None:
            self.sim.faults.report_filename, self.sim.faults.report_subfolder = filename, subfolder

        self.call(setter)

    def delay_history(self, ms: float) -> None:
        """Write each history entry `ms` after `execution_success` went out (the real server's race, widened)."""
        assert self.sim is not None

        def setter() -> None:
            self.sim.faults.history_delay_ms = ms

        self.call(setter)

    def _shutdown(self, abort: bool, keep_dirs: bool) -> None:
        if self._loop is None or self.sim is None or not self._loop.is_running():
            return
        fut = asyncio.run_coroutine_threadsafe(self.sim.stop(abort=abort, keep_dirs=keep_dirs), self._loop)
        try:
            fut.result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread:
                self._thread.join(10)

    def stop(self) -> None:
        """Stop the server and remove the folders it created."""
        self._shutdown(abort=False, keep_dirs=True)
        for d in self._cleanup:
            shutil.rmtree(d, ignore_errors=True)

    @property
    def ledger(self) -> Ledger:
        """What this server did across its restarts (executions per prompt id, model loads, LoRA patches...)."""
        return self._kwargs["ledger"]

    def kill(self) -> None:
        """Die like a crashed server: reset every connection, lose queue and history, keep files."""
        self._shutdown(abort=True, keep_dirs=True)

    def restart(self, delay: float = 0.0) -> None:
        """Come back (after `delay` seconds) on the same port with an empty queue and history."""
        if self.sim is not None and self.sim.engine is not None:
            self._kwargs["step_ms"] = self.sim.engine.step_ms  # keep a tuned step time across restarts
        if self._loop is not None and self._loop.is_running():
            self.kill()
        if delay:
            time.sleep(delay)
        self._start()


def start_simulator(
    port: int = 0,
    step_ms: float = 50.0,
    models: Any = None,
    jobs_api: bool = False,
    host: str = "127.0.0.1",
    output_dir: str | Path | None = None,
    preview: bool = False,
) -> SimulatorHandle:
    """Run a ComfyUI simulator (a test double) in a background thread; returns its handle."""
    return SimulatorHandle(
        port=port, step_ms=step_ms, models=models, jobs_api=jobs_api, host=host, output_dir=output_dir, preview=preview
    )
