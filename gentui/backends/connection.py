"""Per-backend connection settings -> what httpx and websockets need, with secrets kept secret.

A remote ComfyUI sits behind whatever guards it (basic auth on a reverse proxy,
a bearer token, Cloudflare Access headers). The same credentials must go on
every HTTP request and on the websocket handshake, never follow a redirect to
another host, and never appear in a log line, an error or a sidecar: every
message that leaves this package goes through `Connection.redact`.
"""

from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from gentui.backends.base import BackendUnavailable
from gentui.config import BackendSettings

REDACTED = "***"


class ConnectionSettingsError(BackendUnavailable):
    """A secret the config points at cannot be read (unset variable, missing file)."""


@dataclass
class Connection:
    """Resolved connection of one backend: URLs, headers (secrets included) and TLS.

    Never print one of these; use `describe()` or `redact()`.
    """

    name: str
    base_url: str
    """http(s)://host:port[/prefix] without a trailing slash and without userinfo."""
    headers: dict[str, str] = field(default_factory=dict)
    """Every header sent on each request and on the websocket handshake."""
    secrets: list[str] = field(default_factory=list)
    """Every secret value (and its encodings) to scrub from text."""
    verify: bool | str = True
    """True, False, or a CA bundle path."""
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    auth_source: str = ""
    """Which settings carry credentials, for the 401/403 message."""

    # -- URLs ---------------------------------------------------------------
    @property
    def origin(self) -> tuple[str, str, int]:
        """(scheme, host, port) that credentials may be sent to."""
        u = urlsplit(self.base_url)
        port = u.port or (443 if u.scheme == "https" else 80)
        return (u.scheme, (u.hostname or "").lower(), port)

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    def ws_url(self, client_id: str) -> str:
        """The websocket URL: ws:// for http, wss:// for https."""
        u = urlsplit(self.base_url)
        scheme = "wss" if u.scheme == "https" else "ws"
        path = u.path.rstrip("/") + "/ws"
        return urlunsplit((scheme, u.netloc, path, f"clientId={quote(client_id)}", ""))

    @property
    def display(self) -> str:
        """host:port shown in the status bar."""
        u = urlsplit(self.base_url)
        return u.netloc + u.path

    # -- TLS and clients ------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for https/wss (None for plain http)."""
        if not self.base_url.startswith("https://"):
            return None
        if self.verify is False:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        if isinstance(self.verify, str):
            try:
                return ssl.create_default_context(cafile=self.verify)
            except (OSError, ssl.SSLError) as e:
                raise ConnectionSettingsError(
                    f"backend {self.name!r}: backends.{self.name}.ca_bundle = {self.verify!r} cannot be used: {e}"
                ) from None
        return ssl.create_default_context()

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.read_timeout_s, connect=self.connect_timeout_s)

    def httpx_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `httpx.AsyncClient`: headers, TLS, timeouts, no redirects."""
        ctx = self.ssl_context()
        return {
            "headers": dict(self.headers),
            "verify": ctx if ctx is not None else True,
            "timeout": self.timeout(),
            # Redirects are handled by the client: followed only within the same origin.
            "follow_redirects": False,
            "trust_env": False,
        }

    def make_http_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(**self.httpx_kwargs())

    def websocket_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `websockets.asyncio.client.connect` (headers, TLS)."""
        kw: dict[str, Any] = {
            "additional_headers": dict(self.headers),
            "open_timeout": self.connect_timeout_s,
        }
        ctx = self.ssl_context()
        if ctx is not None:
            kw["ssl"] = ctx
        return kw

    def same_origin(self, url: str) -> bool:
        """True when `url` goes to the configured scheme, host and port."""
        u = urlsplit(url)
        port = u.port or (443 if u.scheme == "https" else 80)
        return (u.scheme, (u.hostname or "").lower(), port) == self.origin

    # -- secrets ------------------------------------------------------------
    def redact(self, text: Any) -> str:
        """`text` with every secret value replaced by `***`."""
        return redact_text(str(text), self.secrets)

    def describe(self) -> dict[str, Any]:
        """What doctor and the status bar may show: secret values as `***`."""
        return {
            "url": self.base_url,
            "headers": {k: REDACTED for k in self.headers},
            "tls_verify": self.verify if not isinstance(self.verify, str) else f"ca_bundle {self.verify}",
            "auth": self.auth_source or "none",
            "connect_timeout_s": self.connect_timeout_s,
            "read_timeout_s": self.read_timeout_s,
        }


def redact_text(text: str, secrets: list[str]) -> str:
    """Replace every occurrence of each secret (longest first) with `***`."""
    for s in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(s, REDACTED)
    return text


def _secret_forms(value: str) -> list[str]:
    """A secret and the encodings it may appear in (URL-quoted)."""
    forms = [value]
    q = quote(value, safe="")
    if q != value:
        forms.append(q)
    return forms


def _read_secret_file(name: str, key: str, path: str) -> str:
    p = Path(path).expanduser()
    try:
        return p.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConnectionSettingsError(
            f"backend {name!r}: backends.{name}.{key} = {path!r}: file not found"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConnectionSettingsError(
            f"backend {name!r}: backends.{name}.{key} = {path!r}: cannot read it ({e.__class__.__name__})"
        ) from None


def _read_secret_env(name: str, key: str, var: str) -> str:
    value = os.environ.get(var)
    if value is None or value == "":
        raise ConnectionSettingsError(
            f"backend {name!r}: backends.{name}.{key} names the environment variable {var!r}, which is not set"
        )
    return value


def resolve_connection(name: str, settings: BackendSettings) -> Connection:
    """Build the Connection of backend `name`, reading secrets from env vars and files.

    Raises ConnectionSettingsError naming the setting when a secret cannot be read.
    """
    raw = settings.url.strip()
    u = urlsplit(raw)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ConnectionSettingsError(
            f"backend {name!r}: backends.{name}.url = {raw!r}: expected http://host:port or https://host"
        )
    secrets: list[str] = []
    sources: list[str] = []
    username = settings.username
    password = ""
    # Credentials written into the URL are moved to basic auth and kept out of every message.
    if u.username is not None or u.password is not None:
        username = username or unquote(u.username or "")
        if u.password:
            password = unquote(u.password)
            secrets += _secret_forms(password) + [u.password]
        sources.append(f"backends.{name}.url (user:password@)")
    netloc = u.hostname if ":" not in (u.hostname or "") else f"[{u.hostname}]"
    if u.port:
        netloc += f":{u.port}"
    base_url = urlunsplit((u.scheme, netloc, u.path.rstrip("/"), "", ""))

    headers: dict[str, str] = {}
    for k, v in settings.headers.items():
        headers[k] = v
        secrets += _secret_forms(v)
        sources.append(f"backends.{name}.headers.{k}")
    for k, path in settings.header_files.items():
        v = _read_secret_file(name, f"header_files.{k}", path)
        headers[k] = v
        secrets += _secret_forms(v)
        sources.append(f"backends.{name}.header_files.{k}")
    for k, var in settings.header_envs.items():
        v = _read_secret_env(name, f"header_envs.{k}", var)
        headers[k] = v
        secrets += _secret_forms(v)
        sources.append(f"backends.{name}.header_envs.{k}")

    if settings.password:
        password = settings.password
        sources.append(f"backends.{name}.password")
    elif settings.password_env:
        password = _read_secret_env(name, "password_env", settings.password_env)
        sources.append(f"backends.{name}.password_env")
    elif settings.password_file:
        password = _read_secret_file(name, "password_file", settings.password_file)
        sources.append(f"backends.{name}.password_file")
    if password and not username:
        raise ConnectionSettingsError(
            f"backend {name!r}: a basic auth password is set but backends.{name}.username is empty"
        )
    if username:
        if not password:
            raise ConnectionSettingsError(
                f"backend {name!r}: backends.{name}.username is set but no password "
                f"(set password_env, password_file or password)"
            )
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
        secrets += _secret_forms(password) + [token, f"{username}:{password}"]
        sources.insert(0, f"backends.{name}.username")

    verify: bool | str = settings.verify
    if settings.ca_bundle:
        bundle = Path(settings.ca_bundle).expanduser()
        if not bundle.is_file():
            raise ConnectionSettingsError(
                f"backend {name!r}: backends.{name}.ca_bundle = {settings.ca_bundle!r}: file not found"
            )
        verify = str(bundle)
    return Connection(
        name=name,
        base_url=base_url,
        headers=headers,
        secrets=secrets,
        verify=verify,
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        auth_source=", ".join(sources),
    )
