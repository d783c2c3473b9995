"""What every service's bootstrap repeats: dependency checks for its stores, and closing them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis
from sqlalchemy import Engine

from farmlokal_common.db import ping as mysql_ping
from farmlokal_common.redis_client import ping as redis_ping

log = logging.getLogger("farmlokal.lifecycle")


def store_checks(engine: Engine, client: redis.Redis | None = None) -> dict[str, Callable[[], None]]:
    """Health checks: MySQL always; Redis when the service cannot serve without it."""
    checks: dict[str, Callable[[], None]] = {"mysql": lambda: mysql_ping(engine)}
    if client is not None:
        checks["redis"] = lambda: redis_ping(client)
    return checks


def closer(*resources: Any) -> Callable[[], None]:
    """Closes channels and clients (close()) and disposes engines (dispose()), in the order given."""

    def close() -> None:
        for resource in resources:
            try:
                if isinstance(resource, Engine):
                    resource.dispose()
                else:
                    resource.close()
            except Exception:
                log.exception("closing a resource failed", extra={"resource": type(resource).__name__})

    return close
