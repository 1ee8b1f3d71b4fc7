"""ComfyUI's HTTP endpoints on httpx: retries, auth and redirect rules, safe downloads.

Every error raised here is redacted (no credentials in a message) and names the
backend, so the queue panel and `gentui doctor` can show it as it is.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from gentui.backends.base import AuthRefused, BackendError, BackendUnavailable
from gentui.backends.connection import Connection

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif"}
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class UnsafeOutput(BackendError):
    """The server named an output file that could escape the output folder."""


def new_prompt_id() -> str:
    """A canonical lowercase hyphenated UUID, as newer servers require."""
    return str(uuid.uuid4())


def is_prompt_id(text: str) -> bool:
    return bool(_UUID_RE.match(text))


def check_output_name(filename: Any, subfolder: Any, kind: Any) -> None:
    """Refuse server-given names that are not plain relative names (`..`, absolute, drive, NUL)."""
    if not isinstance(filename, str) or not filename or filename in (".", ".."):
        raise UnsafeOutput(f"the server named an invalid output file {filename!r}; refused")
    if any(c in filename for c in "/\\\x00") or ":" in filename:
        raise UnsafeOutput(f"the server named an output file with a path in it ({filename!r}); refused")
    if not isinstance(subfolder, str) or "\x00" in subfolder or "\\" in subfolder or ":" in subfolder:
        raise UnsafeOutput(f"the server named an invalid subfolder {subfolder!r}; refused")
    if subfolder.startswith("/") or any(part == ".." for part in subfolder.split("/")):
        raise UnsafeOutput(f"the server named a subfolder outside its output folder ({subfolder!r}); refused")
    if kind not in ("output", "temp", "input"):
        raise UnsafeOutput(f"the server named an unknown file type {kind!r}; refused")


class ComfyHttp:
    """Thin async wrapper over one ComfyUI server's HTTP API."""

    def __init__(self, conn: Connection, *, retries: int = 3, backoff_s: float = 0.25) -> None:
        self.conn = conn
        self.retries = retries
        self.backoff_s = backoff_s
        self._client: httpx.AsyncClient | None = None
        self.last_error: str = ""
        self.last_ok: float = 0.0
        self._jobs_api: bool | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = self.conn.make_http_client()
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- core request -------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        retries: int | None = None,
        allow: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send a request; retry transport errors and 5xx with backoff (idempotent ones only).

        Returns 2xx replies and any status in `allow`; raises AuthRefused on 401/403,
        BackendUnavailable when the server cannot be reached, BackendError otherwise.
        """
        attempts = 1 + (self.retries if retries is None else retries)
        delay = self.backoff_s
        url = self.conn.url(path)
        for attempt in range(attempts):
            try:
                resp = await self._send(method, url, json=json, params=params)
            except httpx.TransportError as e:
                self.last_error = self._describe(e)
                # A request that never reached the server can always be repeated.
                repeatable = method == "GET" or isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout))
                if attempt + 1 < attempts and repeatable:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                raise BackendUnavailable(
                    f"backend {self.conn.name!r} at {self.conn.base_url} is not reachable: {self.last_error}"
                ) from None
            if resp.status_code in (401, 403):
                raise AuthRefused(self._auth_message(resp.status_code, resp.reason_phrase))
            if resp.status_code >= 500 and resp.status_code not in allow and method == "GET" and attempt + 1 < attempts:
                self.last_error = f"HTTP {resp.status_code} from {path}"
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.last_ok = time.monotonic()
            if resp.is_success or resp.status_code in allow:
                return resp
            body = self.conn.redact(resp.text[:500].strip())
            raise BackendError(
                f"backend {self.conn.name!r}: {method} {path} answered HTTP {resp.status_code}"
                + (f": {body}" if body else "")
            )
        raise AssertionError("unreachable")

    async def _send(self, method: str, url: str, *, json: Any, params: dict[str, Any] | None) -> httpx.Response:
        """One request, following redirects only within the configured origin."""
        for _ in range(5):
            resp = await self.client.request(method, url, json=json, params=params)
            if not resp.is_redirect:
                return resp
            target = str(resp.next_request.url) if resp.next_request else resp.headers.get("location", "")
            if not self.conn.same_origin(target):
                raise BackendUnavailable(
                    f"backend {self.conn.name!r}: {self.conn.base_url} redirected to {self.conn.redact(target)}, "
                    f"another host; gentui does not send credentials there. Set backends.{self.conn.name}.url "
                    f"to the address the server really answers on"
                )
            url, params = target, None
        raise BackendUnavailable(f"backend {self.conn.name!r}: too many redirects from {self.conn.base_url}")

    def _describe(self, e: Exception) -> str:
        text = str(e) or e.__class__.__name__
        return self.conn.redact(f"{e.__class__.__name__}: {text}")

    def _auth_message(self, status: int, reason: str) -> str:
        c = self.conn
        if c.auth_source:
            fix = f"check {c.auth_source}"
        else:
            fix = (
                f"it needs credentials: set backends.{c.name}.username with password_env (basic auth) "
                f"or backends.{c.name}.headers / header_envs / header_files (a token)"
            )
        what = "refused our credentials" if c.auth_source else "asks for credentials"
        return f"backend {c.name!r} at {c.base_url} {what} (HTTP {status} {reason}); {fix}"

    # -- endpoints ----------------------------------------------------------
    async def get_json(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        resp = await self.request("GET", path, params=params, **kw)
        try:
            return resp.json()
        except ValueError:
            raise BackendError(f"backend {self.conn.name!r}: {path} did not answer JSON") from None

    async def system_stats(self, retries: int = 0) -> tuple[dict[str, Any], float]:
        """(system_stats, round-trip ms)."""
        t0 = time.perf_counter()
        data = await self.get_json("/system_stats", retries=retries)
        return data, (time.perf_counter() - t0) * 1000

    async def post_prompt(self, body: dict[str, Any]) -> httpx.Response:
        """POST /prompt; 400 is returned (the caller explains it), not raised."""
        return await self.request("POST", "/prompt", json=body, allow=(400,))

    async def history(self, prompt_id: str, retries: int | None = None) -> dict[str, Any] | None:
        """The history entry of a prompt, or None while queued/running/unknown."""
        data = await self.get_json(f"/history/{prompt_id}", retries=retries)
        entry = data.get(prompt_id) if isinstance(data, dict) else None
        return entry or None

    async def queue(self, retries: int | None = None) -> tuple[list[str], list[str]]:
        """(running prompt ids, pending prompt ids sorted by queue number)."""
        data = await self.get_json("/queue", retries=retries)

        def ids(items: Any) -> list[str]:
            rows = [i for i in items or [] if isinstance(i, list) and len(i) > 1]
            rows.sort(key=lambda i: i[0] if isinstance(i[0], (int, float)) else 0)
            return [str(i[1]) for i in rows]

        return ids(data.get("queue_running")), ids(data.get("queue_pending"))

    async def interrupt(self, prompt_id: str | None) -> None:
        await self.request("POST", "/interrupt", json={"prompt_id": prompt_id} if prompt_id else {}, retries=1)

    async def queue_delete(self, prompt_ids: list[str]) -> None:
        await self.request("POST", "/queue", json={"delete": prompt_ids}, retries=1)

    async def jobs_api(self) -> bool:
        """Whether the server has the Jobs API (newer ComfyUI); probed once by a 404."""
        if self._jobs_api is None:
            resp = await self.request("GET", "/api/jobs", params={"limit": 1}, allow=(404, 405), retries=1)
            try:
                # A proxy's catch-all page is not a Jobs API: demand a JSON object.
                self._jobs_api = resp.status_code == 200 and isinstance(resp.json(), dict)
            except ValueError:
                self._jobs_api = False
        return self._jobs_api

    async def job_cancel(self, prompt_id: str) -> bool:
        """POST /api/jobs/{id}/cancel: race-free for running and pending jobs alike."""
        resp = await self.request("POST", f"/api/jobs/{prompt_id}/cancel", json={}, retries=1)
        try:
            return bool(resp.json().get("cancelled"))
        except ValueError:
            return False

    async def object_info(self, class_type: str) -> dict[str, Any]:
        """The node class description, or {} when the server has no such node."""
        data = await self.get_json(f"/object_info/{class_type}")
        return data.get(class_type, {}) if isinstance(data, dict) else {}

    async def models(self, folder: str) -> list[str] | None:
        """Files in a model folder (`GET /models/{folder}`), None if the folder is unknown."""
        resp = await self.request("GET", f"/models/{folder}", allow=(404,))
        if resp.status_code == 404:
            return None
        try:
            data = resp.json()
        except ValueError:
            return None
        return [str(x) for x in data] if isinstance(data, list) else None

    async def download(self, image: dict[str, Any], dest: Path) -> Path:
        """Stream `/view` into `dest` via a temp file renamed only when complete.

        The server's filename is checked but never used as a local path.
        """
        filename, subfolder, kind = image.get("filename"), image.get("subfolder", ""), image.get("type", "output")
        check_output_name(filename, subfolder, kind)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        params = {"filename": filename, "subfolder": subfolder, "type": kind}
        delay = self.backoff_s
        for attempt in range(1 + self.retries):
            try:
                async with self.client.stream("GET", self.conn.url("/view"), params=params) as resp:
                    if resp.status_code in (401, 403):
                        raise AuthRefused(self._auth_message(resp.status_code, resp.reason_phrase))
                    if resp.status_code != 200:
                        raise BackendError(
                            f"backend {self.conn.name!r}: /view of {filename!r} answered HTTP {resp.status_code}"
                        )
                    # Content-Length counts encoded bytes; only compare it when nothing was decoded.
                    encoded = resp.headers.get("content-encoding", "identity") != "identity"
                    expected = None if encoded else resp.headers.get("content-length")
                    size = 0
                    with open(part, "wb") as fh:
                        async for chunk in resp.aiter_bytes(1 << 16):
                            fh.write(chunk)
                            size += len(chunk)
                        fh.flush()
                        os.fsync(fh.fileno())
                    if expected is not None and expected.isdigit() and int(expected) != size:
                        raise httpx.ReadError(f"got {size} of {expected} bytes")
                os.replace(part, dest)
                return dest
            except httpx.TransportError as e:
                part.unlink(missing_ok=True)
                self.last_error = self._describe(e)
                if attempt + 1 < 1 + self.retries:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                raise BackendUnavailable(
                    f"backend {self.conn.name!r}: download of {filename!r} failed: {self.last_error}"
                ) from None
            except OSError as e:
                part.unlink(missing_ok=True)
                raise BackendError(f"cannot write the image to {dest.parent}: {e.strerror or e}") from None
            except BaseException:
                part.unlink(missing_ok=True)
                raise
        raise AssertionError("unreachable")
