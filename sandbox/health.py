"""Liveness endpoint the dev stack and compose healthchecks poll."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from sandbox.settings import SandboxSettings


def routes(settings: SandboxSettings) -> list[BaseRoute]:
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "sandbox"})

    return [Route("/healthz", healthz, methods=["GET"])]
