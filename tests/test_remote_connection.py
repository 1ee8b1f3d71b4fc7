"""Connection settings -> headers, URLs and TLS, with every secret redactable."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gentui.backends.connection import (
    ConnectionSettingsError,
    redact_text,
    resolve_connection,
)
from gentui.config import BackendSettings


def test_plain_url_gives_ws_url_and_no_headers():
    c = resolve_connection("comfyui", BackendSettings(url="http://127.0.0.1:8188/"))
    assert c.base_url == "http://127.0.0.1:8188"
    assert c.ws_url("abc") == "ws://127.0.0.1:8188/ws?clientId=abc"
    assert c.headers == {}
    assert c.httpx_kwargs()["follow_redirects"] is False


def test_https_prefix_gives_wss_under_the_prefix():
    c = resolve_connection("gpu", BackendSettings(url="https://gpu.example.org/comfy"))
    assert c.ws_url("x") == "wss://gpu.example.org/comfy/ws?clientId=x"
    assert c.url("/prompt") == "https://gpu.example.org/comfy/prompt"
    assert c.origin == ("https", "gpu.example.org", 443)
    assert c.same_origin("https://gpu.example.org:443/other")
    assert not c.same_origin("https://evil.example.org/comfy")
    assert not c.same_origin("http://gpu.example.org/comfy")


def test_basic_auth_from_env_goes_into_headers_and_is_redacted(monkeypatch):
    monkeypatch.setenv("COMFY_PASS", "s3cr3t-pa55")
    c = resolve_connection("gpu", BackendSettings(url="https://h", username="ann", password_env="COMFY_PASS"))
    token = base64.b64encode(b"ann:s3cr3t-pa55").decode()
    assert c.headers["Authorization"] == f"Basic {token}"
    text = f"failed with s3cr3t-pa55 and Basic {token} and ann:s3cr3t-pa55"
    red = c.redact(text)
    assert "s3cr3t" not in red and token not in red
    assert "gpu.password_env" in c.auth_source


def test_header_files_and_envs(tmp_path, monkeypatch):
    f = tmp_path / "token"
    f.write_text("tok-from-file\n")
    monkeypatch.setenv("CF_SECRET", "cf-secret-value")
    c = resolve_connection(
        "cloud",
        BackendSettings(
            url="https://h",
            headers={"X-Plain": "plain-header-value"},
            header_files={"Authorization": str(f)},
            header_envs={"CF-Access-Client-Secret": "CF_SECRET"},
        ),
    )
    assert c.headers == {
        "X-Plain": "plain-header-value",
        "Authorization": "tok-from-file",
        "CF-Access-Client-Secret": "cf-secret-value",
    }
    assert c.websocket_kwargs()["additional_headers"] == c.headers
    d = c.describe()
    assert d["headers"] == {"X-Plain": "***", "Authorization": "***", "CF-Access-Client-Secret": "***"}
    assert "value" not in repr(d) and "tok-from-file" not in repr(d)
    assert c.redact("tok-from-file cf-secret-value plain-header-value") == "*** *** ***"


def test_credentials_in_the_url_move_to_basic_auth():
    c = resolve_connection("gpu", BackendSettings(url="https://bob:p%40ss@host:8443/"))
    assert c.base_url == "https://host:8443"
    assert c.headers["Authorization"] == "Basic " + base64.b64encode(b"bob:p@ss").decode()
    assert c.redact("https://bob:p%40ss@host p@ss") == "https://bob:***@host ***"


@pytest.mark.parametrize(
    "kw, expect",
    [
        ({"password_env": "NOPE_NOT_SET", "username": "u"}, r"backends\.gpu\.password_env.*NOPE_NOT_SET.*not set"),
        ({"password_file": "/nonexistent/pw", "username": "u"}, r"backends\.gpu\.password_file.*not found"),
        ({"header_envs": {"X-Key": "NOPE_NOT_SET"}}, r"backends\.gpu\.header_envs\.X-Key"),
        ({"header_files": {"X-Key": "/nonexistent/k"}}, r"backends\.gpu\.header_files\.X-Key"),
        ({"password": "pw"}, r"backends\.gpu\.username is empty"),
        ({"username": "u"}, r"no password"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, r"backends\.gpu\.ca_bundle.*not found"),
        ({"url": "ftp://x"}, r"backends\.gpu\.url"),
    ],
)
def test_unreadable_secrets_name_the_setting(monkeypatch, kw, expect):
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    with pytest.raises(ConnectionSettingsError, match=expect):
        resolve_connection("gpu", BackendSettings(**{"url": "https://h", **kw}))


def test_verify_false_context_accepts_any_cert():
    import ssl

    c = resolve_connection("gpu", BackendSettings(url="https://h", verify=False))
    ctx = c.ssl_context()
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname
    assert resolve_connection("gpu", BackendSettings(url="http://h")).ssl_context() is None


@given(st.text(st.characters(blacklist_characters="*"), min_size=1, max_size=20), st.text(max_size=60))
def test_redact_never_leaves_a_secret(secret, text):
    out = redact_text(text + secret + text, [secret])
    assert secret not in out
