"""The `python -m <service>` command line shared by every service: serve, or migrate its schema."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from farmlokal_common.logging import configure_logging
from farmlokal_common.migrations import upgrade
from farmlokal_common.server import ServiceApp, serve
from farmlokal_common.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def run_service(
    name: str,
    settings_type: type[S],
    migrations: Path,
    build_app: Callable[[S], ServiceApp],
    argv: list[str] | None = None,
) -> None:
    """`serve` (default) runs the gRPC server; `migrate` upgrades the service's own schema to head."""
    args = sys.argv[1:] if argv is None else argv
    settings = settings_type()
    configure_logging(name, settings.log_level)
    command = args[0] if args else "serve"
    if command == "migrate":
        upgrade(migrations, settings.database_url)
    elif command == "serve":
        serve(settings, lambda: build_app(settings))
    else:
        raise SystemExit(f"usage: python -m {name}_service [serve|migrate]")
