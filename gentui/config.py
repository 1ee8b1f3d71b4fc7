"""The TOML config file -> typed, validated settings, and where gentui keeps its files.

No config file is needed: every field has a default. A bad value raises
`ConfigError` naming the file, the key and what is allowed, so the user can fix
it without reading the source.

Paths follow XDG through platformdirs; `GENTUI_HOME` puts config, catalog,
thumbnails and outputs under one folder (handy for demos and tests).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
import types
from typing import Any, Union, get_args, get_origin, get_type_hints

import platformdirs

APP = "gentui"


class ConfigError(Exception):
    """A config file that cannot be used; the message says where and why."""


@dataclass
class LaunchSettings:
    """How to start a local ComfyUI when it is down (gentui stops only what it started)."""

    command: str = ""
    """Shell command that starts the server, e.g. `python main.py --port 8188`."""
    cwd: str = ""
    """Working directory for the command (the ComfyUI checkout)."""
    timeout_s: float = 180.0
    """How long to wait for `/system_stats` to answer after starting it."""


@dataclass
class BackendSettings:
    """One generation backend: a ComfyUI server or the local mflux command line."""

    type: str = "comfyui"
    """`comfyui` or `mflux`."""
    url: str = "http://127.0.0.1:8188"
    """Base URL of a ComfyUI server (http or https)."""
    launch: LaunchSettings | None = None
    """Start the server when it is down (ComfyUI only)."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra HTTP headers sent on every request and the websocket handshake."""
    header_files: dict[str, str] = field(default_factory=dict)
    """Header name -> file whose (stripped) content is the header value."""
    header_envs: dict[str, str] = field(default_factory=dict)
    """Header name -> environment variable holding the header value."""
    username: str = ""
    """HTTP basic auth user."""
    password: str = ""
    """HTTP basic auth password (prefer `password_env` or `password_file`)."""
    password_env: str = ""
    """Environment variable holding the basic auth password."""
    password_file: str = ""
    """File holding the basic auth password."""
    verify: bool = True
    """Verify TLS certificates; false accepts self-signed ones."""
    ca_bundle: str = ""
    """CA bundle file for a server with a private certificate."""
    connect_timeout_s: float = 5.0
    """Seconds to wait for a TCP/TLS connection."""
    read_timeout_s: float = 60.0
    """Seconds to wait for a reply."""
    unreachable_timeout_s: float = 120.0
    """ComfyUI only: how long a running job waits for a server that stopped answering."""
    enabled: bool = True
    """A disabled backend is kept in the file but never scheduled."""
    command: str = "mflux-generate-flux2"
    """mflux only: the generate command."""
    model: str = "flux2-klein-4b"
    """mflux only: `flux2-klein-4b` or `flux2-klein-9b`."""
    quantize: int = 0
    """mflux only: 3, 4, 5, 6 or 8 bits; 0 leaves it unquantized."""
    lora_dir: str = ""
    """mflux only: folder LoRA names are resolved against."""


@dataclass
class TranslateSettings:
    """The Ollama cascade that turns Japanese (or any) prompts into English."""

    host: str = ""
    """Ollama URL; empty means `OLLAMA_HOST` or http://127.0.0.1:11434."""
    models: list[str] = field(
        default_factory=lambda: ["llm-jp:4-8b-fixed", "gemma3:12b", "qwen3.6:35b"]
    )
    """Models tried in order; a refusal or a bad answer falls through to the next."""
    timeout_s: float = 120.0
    """Per-model timeout."""
    seed: int = 42
    """Fixed sampling seed, so a prompt translates the same way every time."""

    def resolved_host(self) -> str:
        return self.host or os.environ.get("OLLAMA_HOST") or "http://127.0.0.1:11434"


@dataclass
class SuggestSettings:
    """Suggested annotations from an Ollama vision model (off while `model` is empty)."""

    model: str = ""
    """Vision model asked (e.g. `qwen2.5vl:7b`, `llava:13b`); empty turns suggestions off."""
    host: str = ""
    """Ollama URL; empty means the [translate] host (or OLLAMA_HOST, or http://127.0.0.1:11434)."""
    timeout_s: float = 120.0
    """Per request (one request per character)."""
    max_side: int = 1024
    """The picture is sent scaled down to at most this many pixels on its longer side."""
    seed: int = 42
    """Fixed sampling seed, so the same picture gets the same suggestions."""


@dataclass
class WorkerSettings:
    """How workers share backends (the lease) and keep them busy."""

    prequeue: int = 1
    """Jobs sent ahead to a backend while one runs (0: send the next only when one finishes)."""
    heartbeat_s: float = 2.0
    """How often a worker refreshes the lease on each backend it runs."""
    lease_stale_s: float = 15.0
    """A lease whose heartbeat is older than this may be taken over (its worker is presumed dead or asleep)."""


@dataclass
class DefaultSettings:
    """What a sweep uses when it does not say."""

    backend: str = "comfyui"
    """Backend name (a key of `[backends]`)."""
    workflow: str = "anima"
    """Workflow name (a pair of files in a workflows folder)."""
    lora: str = ""
    """Character LoRA file name."""


@dataclass
class TuiSettings:
    """Terminal UI preferences."""

    image_protocol: str = "auto"
    """`auto`, `kitty`, `sixel` or `halfblock`."""
    keys: dict[str, str] = field(default_factory=dict)
    """Binding id -> keys, e.g. `filter = "slash,f"`."""
    theme: str = "textual-dark"
    """Textual theme name."""


@dataclass
class PathSettings:
    """Where gentui keeps data; empty values use the XDG data dir (or GENTUI_HOME)."""

    data_dir: str = ""
    catalog: str = ""
    output_dir: str = ""
    thumbnails: str = ""
    workflows_dir: str = ""


@dataclass
class Settings:
    """Everything in the config file."""

    paths: PathSettings = field(default_factory=PathSettings)
    backends: dict[str, BackendSettings] = field(
        default_factory=lambda: {"comfyui": BackendSettings()}
    )
    translate: TranslateSettings = field(default_factory=TranslateSettings)
    suggest: SuggestSettings = field(default_factory=SuggestSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    defaults: DefaultSettings = field(default_factory=DefaultSettings)
    tui: TuiSettings = field(default_factory=TuiSettings)
    source: Path | None = None
    """The file these settings came from (None: built-in defaults)."""

    # -- resolved locations -------------------------------------------------
    @property
    def data_dir(self) -> Path:
        if self.paths.data_dir:
            return Path(self.paths.data_dir).expanduser()
        home = os.environ.get("GENTUI_HOME")
        if home:
            return Path(home).expanduser()
        return Path(platformdirs.user_data_dir(APP))

    @property
    def catalog_path(self) -> Path:
        return Path(self.paths.catalog).expanduser() if self.paths.catalog else self.data_dir / "catalog.db"

    @property
    def output_dir(self) -> Path:
        return Path(self.paths.output_dir).expanduser() if self.paths.output_dir else self.data_dir / "outputs"

    @property
    def thumbnail_dir(self) -> Path:
        return Path(self.paths.thumbnails).expanduser() if self.paths.thumbnails else self.data_dir / "thumbnails"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def user_workflows_dir(self) -> Path:
        if self.paths.workflows_dir:
            return Path(self.paths.workflows_dir).expanduser()
        return config_dir() / "workflows"


# gentui/workflows links to the top-level workflows/ in a checkout and is a real folder in a wheel.
BUILTIN_WORKFLOWS_DIR = Path(__file__).resolve().parent / "workflows"


def config_dir() -> Path:
    home = os.environ.get("GENTUI_HOME")
    return Path(home).expanduser() if home else Path(platformdirs.user_config_dir(APP))


def default_config_path() -> Path:
    return config_dir() / "config.toml"


def load_settings(path: str | Path | None = None) -> Settings:
    """Read the config file (or the default one, if it exists) into Settings.

    An explicitly named file must exist; the default one may be absent.
    """
    explicit = path is not None
    p = Path(path).expanduser() if explicit else default_config_path()
    if not p.exists():
        if explicit:
            raise ConfigError(f"{p}: config file not found")
        return Settings()
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    settings = settings_from_dict(raw, str(p))
    settings.source = p
    return settings


def settings_from_dict(raw: dict[str, Any], where: str = "<config>") -> Settings:
    """Validate a parsed TOML document; errors name `where` and the dotted key."""
    backends_raw = raw.get("backends", None)
    rest = {k: v for k, v in raw.items() if k != "backends"}
    settings = _build(Settings, rest, where, "", skip={"backends", "source"})
    if backends_raw is not None:
        if not isinstance(backends_raw, dict) or not backends_raw:
            raise ConfigError(f"{where}: [backends] must be a table of named backends, e.g. [backends.comfyui]")
        settings.backends = {}
        for name, b in backends_raw.items():
            if not isinstance(b, dict):
                raise ConfigError(f"{where}: backends.{name} must be a table, e.g. [backends.{name}] url = \"http://...\"")
            backend = _build(BackendSettings, b, where, f"backends.{name}.")
            _check_choice(where, f"backends.{name}.type", backend.type, ("comfyui", "mflux"))
            if backend.type == "comfyui" and not backend.url.startswith(("http://", "https://")):
                raise ConfigError(
                    f"{where}: backends.{name}.url = {backend.url!r}: expected an http:// or https:// URL"
                )
            if backend.quantize not in (0, 3, 4, 5, 6, 8):
                raise ConfigError(f"{where}: backends.{name}.quantize = {backend.quantize}: allowed 0, 3, 4, 5, 6, 8")
            settings.backends[name] = backend
    _check_choice(where, "tui.image_protocol", settings.tui.image_protocol, ("auto", "kitty", "sixel", "halfblock"))
    if not settings.translate.models:
        raise ConfigError(f"{where}: translate.models is empty: list at least one Ollama model")
    if settings.translate.timeout_s <= 0:
        raise ConfigError(f"{where}: translate.timeout_s must be > 0")
    if settings.suggest.timeout_s <= 0 or settings.suggest.max_side < 64:
        raise ConfigError(f"{where}: suggest.timeout_s must be > 0 and suggest.max_side at least 64")
    w = settings.worker
    if w.prequeue < 0 or w.heartbeat_s <= 0 or w.lease_stale_s < 2 * w.heartbeat_s:
        raise ConfigError(f"{where}: worker: prequeue must be >= 0, heartbeat_s > 0 and lease_stale_s at least "
                          f"twice heartbeat_s (got {w.prequeue}, {w.heartbeat_s}, {w.lease_stale_s})")
    if settings.defaults.backend not in settings.backends:
        raise ConfigError(
            f"{where}: defaults.backend = {settings.defaults.backend!r} is not a configured backend; "
            f"allowed: {', '.join(sorted(settings.backends))}"
        )
    return settings


def _check_choice(where: str, key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{where}: {key} = {value!r}: allowed values are {', '.join(allowed)}")


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _build(cls: type, raw: Any, where: str, prefix: str, skip: set[str] = frozenset()) -> Any:
    """Make a dataclass from a TOML table, checking every key and type."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'top level'} must be a table")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)} - skip
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        dotted = prefix + key
        if key not in known:
            raise ConfigError(f"{where}: unknown key {dotted!r}; allowed here: {', '.join(sorted(known))}")
        kwargs[key] = _convert(hints[key], value, where, dotted)
    return cls(**kwargs)


def _convert(tp: Any, value: Any, where: str, dotted: str) -> Any:
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is None and isinstance(tp, type) and hasattr(tp, "__dataclass_fields__"):
        return _build(tp, value, where, dotted + ".")
    if origin in (types.UnionType, Union):
        inner = [a for a in args if a is not type(None)][0]
        return _convert(inner, value, where, dotted)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {dotted} must be a list, got {value!r}")
        return [_convert(args[0], v, where, f"{dotted}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {dotted} must be a table, got {value!r}")
        return {str(k): _convert(args[1], v, where, f"{dotted}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in _TYPE_NAMES:
        if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
            return value
        raise ConfigError(f"{where}: {dotted} = {value!r}: expected {_TYPE_NAMES[tp]}")
    return value
