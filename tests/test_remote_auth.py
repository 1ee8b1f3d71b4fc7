"""Remote ComfyUI behind auth and TLS: credentials on HTTP and websocket, clear refusals, no leaks."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from aiohttp import web
from comfyui_proxy import ComfyProxy

from gentui.backends.base import BackendUnavailable
from gentui.backends.comfyui import ComfyBackend
from gentui.config import BackendSettings, Settings
from gentui.params import JobParams

pytestmark = pytest.mark.timeout(60)

USER, PASSWORD, TOKEN = "ann", "pw-Zq81-secret", "tok-7Hc2-bearer-secret"
PARAMS = {"workflow": "anima", "prompt_en": "1girl", "seed": 5, "lora_name": "kanachan-v4.safetensors",
          "lora_strength": 1.0, "width": 64, "height": 64}


def backend(url: str, name: str = "gpu", **kw) -> ComfyBackend:
    settings = Settings()
    settings.backends = {name: BackendSettings(url=url, connect_timeout_s=2, read_timeout_s=10, **kw)}
    return ComfyBackend(name, settings, poll_s=0.5)


async def test_basic_auth_on_every_request_and_the_websocket(simulator, monkeypatch):
    monkeypatch.setenv("COMFY_PASS", PASSWORD)
    async with ComfyProxy(simulator.url, basic=(USER, PASSWORD)) as proxy:
        b = backend(proxy.url, username=USER, password_env="COMFY_PASS")
        try:
            h = await b.health()
            assert h.ok and h.features["auth"] is True
            pid = await b.submit(JobParams.from_flat(PARAMS))
            events = []
            out = await b.follow(pid, events.append)
            assert out.status == "done" and len(out.images) == 1
            assert "progress" in [e.kind for e in events]  # progress came over the authenticated socket
            paths = [p for _, p, _ in proxy.seen]
            assert any(p.startswith("/ws?clientId=") for p in paths)
            assert any(p.startswith("/view") for p in paths)
            assert proxy.refused == []
        finally:
            await b.close()


async def test_bearer_header_from_a_file(simulator, tmp_path):
    f = tmp_path / "token"
    f.write_text(f"Bearer {TOKEN}\n")
    async with ComfyProxy(simulator.url, bearer=TOKEN) as proxy:
        b = backend(proxy.url, header_files={"Authorization": str(f)})
        try:
            _pid = await b.submit(JobParams.from_flat(PARAMS))
            out = await b.follow(_pid, lambda e: None)
            assert out.status == "done"
            assert proxy.refused == []
        finally:
            await b.close()


async def test_wrong_password_names_the_backend_and_the_setting(simulator, monkeypatch):
    monkeypatch.setenv("COMFY_PASS", "wrong-" + PASSWORD)
    async with ComfyProxy(simulator.url, basic=(USER, PASSWORD)) as proxy:
        b = backend(proxy.url, username=USER, password_env="COMFY_PASS")
        try:
            h = await b.health()
            assert not h.ok and h.features["auth"] is False
            for msg in (h.detail,):
                assert "'gpu'" in msg and "401" in msg and "backends.gpu.password_env" in msg
                assert PASSWORD not in msg
            with pytest.raises(BackendUnavailable) as ei:
                await b.ensure_ready()
            assert "backends.gpu.username" in str(ei.value)
            with pytest.raises(BackendUnavailable, match="401"):
                await b.submit(JobParams.from_flat(PARAMS))
        finally:
            await b.close()


async def test_no_credentials_configured_says_which_settings_to_add(simulator):
    async with ComfyProxy(simulator.url, bearer=TOKEN) as proxy:
        b = backend(proxy.url)
        try:
            h = await b.health()
            assert "asks for credentials" in h.detail and "backends.gpu.headers" in h.detail
        finally:
            await b.close()


async def test_redirect_to_another_host_is_not_followed_with_credentials(simulator):
    hits = []

    async def record(request):
        hits.append(dict(request.headers))
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    other = f"http://localhost:{site._server.sockets[0].getsockname()[1]}"
    try:
        async with ComfyProxy(simulator.url, bearer=TOKEN, redirect={"/system_stats": other + "/system_stats"}) as proxy:
            b = backend(proxy.url, headers={"Authorization": f"Bearer {TOKEN}", "X-API-Key": "xkey-secret"})
            try:
                h = await b.health()
                assert not h.ok and "another host" in h.detail and "backends.gpu.url" in h.detail
                assert hits == []
            finally:
                await b.close()
    finally:
        await runner.cleanup()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if not shutil.which("openssl"):
            pytest.skip("neither the cryptography package nor the openssl CLI is available")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True,
        )
        return cert, key
    k = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    c = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(k, hashes.SHA256())
    )
    cert.write_bytes(c.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return cert, key


@pytest.mark.parametrize("mode", ["verify_false", "ca_bundle"])
async def test_tls_with_a_self_signed_certificate(simulator, tmp_path, mode):
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    async with ComfyProxy(simulator.url, bearer=TOKEN, ssl_context=server_ctx) as proxy:
        assert proxy.url.startswith("https://")
        kw = {"verify": False} if mode == "verify_false" else {"ca_bundle": str(cert)}
        b = backend(proxy.url, headers={"Authorization": f"Bearer {TOKEN}"}, **kw)
        assert b.conn.ws_url("x").startswith("wss://")
        try:
            pid = await b.submit(JobParams.from_flat(PARAMS))
            out = await b.follow(pid, lambda e: None)
            assert out.status == "done" and len(out.images) == 1
            assert any(p.startswith("/ws?") for _, p, _ in proxy.seen)
        finally:
            await b.close()
        strict = backend(proxy.url, headers={"Authorization": f"Bearer {TOKEN}"})
        try:
            h = await strict.health()
            assert not h.ok and "CERTIFICATE_VERIFY_FAILED" in h.detail and TOKEN not in h.detail
        finally:
            await strict.close()


async def test_no_secret_in_anything_the_client_writes_or_raises(simulator, monkeypatch, gentui_home):
    monkeypatch.setenv("COMFY_PASS", PASSWORD)
    secrets = [PASSWORD, TOKEN, "cf-Secret-9911"]
    async with ComfyProxy(simulator.url, basic=(USER, PASSWORD)) as proxy:
        b = backend(
            f"http://{USER}:{PASSWORD}@" + proxy.url.removeprefix("http://"),
            headers={"CF-Access-Client-Secret": "cf-Secret-9911", "X-Bearer": TOKEN},
        )
        texts = []
        try:
            pid = await b.submit(JobParams.from_flat(PARAMS))
            out = await b.follow(pid, lambda e: texts.append(repr(e)))
            assert out.status == "done"
            texts += [repr(out), repr(await b.health()), repr(b.conn.describe())]
            # errors raised by the client
            try:
                await b.validate(JobParams.from_flat({**PARAMS, "lora_name": "nope.safetensors"}))
            except Exception as e:
                texts.append(str(e))
            monkeypatch.setenv("COMFY_PASS", "bad-" + PASSWORD)
            bad = backend(proxy.url, username=USER, password_env="COMFY_PASS",
                          headers={"X-Bearer": TOKEN})
            texts.append((await bad.health()).detail)
            await bad.close()
        finally:
            await b.close()
    blob = "\n".join(texts)
    written = [p for p in Path(gentui_home).rglob("*") if p.is_file()]
    for p in written:
        blob += p.read_bytes().decode("latin-1")
    for s in secrets + ["YW5uOnB3LVpxODEtc2VjcmV0"]:  # base64 of ann:password
        assert s not in blob
