"""Builds the sandbox ASGI app from its provider modules.

Each provider (health now; the OAuth2 provider with /oauth/token and /.well-known/jwks.json, and the
supplier API under /supplier/v1 later) is a module with `routes(settings) -> list[Route]`, listed
in PROVIDERS. Any state a provider keeps lives in objects it builds from settings, never in module
globals, so each test gets a fresh app.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from sandbox import health, oauth, supplier
from sandbox.settings import SandboxSettings

RouteFactory = Callable[[SandboxSettings], list[BaseRoute]]

PROVIDERS: tuple[RouteFactory, ...] = (health.routes, oauth.routes, supplier.routes)


def create_app(settings: SandboxSettings | None = None) -> Starlette:
    settings = settings or SandboxSettings()
    routes: list[BaseRoute] = []
    for provider in PROVIDERS:
        routes.extend(provider(settings))
    app = Starlette(routes=routes)
    app.state.settings = settings
    return app
