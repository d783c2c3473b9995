"""A Redis client that records every command its connections send: one entry per round trip.

Counted on the connection, below redis-py's client and its Script, so a test holds whatever path a
command takes (farmlokal_common/redis_scripts.py sends scripts on a connection directly).
"""

from __future__ import annotations

from typing import Any

import redis


class CommandLog:
    def __init__(self, real: redis.Redis) -> None:
        self.sent: list[str] = []
        sent = self.sent

        class Recording(redis.Connection):
            def send_command(self, *args: Any, **kwargs: Any) -> None:
                sent.append(str(args[0]))
                super().send_command(*args, **kwargs)  # type: ignore[no-untyped-call]

        kwargs = dict(real.connection_pool.connection_kwargs)
        self.client = redis.Redis(connection_pool=redis.ConnectionPool(connection_class=Recording, **kwargs))

    def reset(self) -> None:
        self.sent.clear()
