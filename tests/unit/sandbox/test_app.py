"""The sandbox app answers its health check and nothing it does not serve.

Requests go through httpx's ASGI transport: Starlette 1.x deprecates its httpx-based TestClient,
and warnings are errors in this suite.
"""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette

from sandbox.app import create_app
from sandbox.settings import SandboxSettings


def _get(app: Starlette, path: str) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            return await client.get(path)

    return asyncio.run(call())


def test_healthz_answers_ok() -> None:
    response = _get(create_app(SandboxSettings()), "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "sandbox"}


def test_unknown_path_is_404() -> None:
    assert _get(create_app(SandboxSettings()), "/nope").status_code == 404


def test_settings_read_env(monkeypatch) -> None:
    monkeypatch.setenv("SANDBOX_PORT", "18123")
    monkeypatch.setenv("SANDBOX_HOST", "0.0.0.0")
    settings = SandboxSettings()
    assert (settings.host, settings.port) == ("0.0.0.0", 18123)
