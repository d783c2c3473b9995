"""Lua scripts run as one EVALSHA on a connection at hand: how every service calls its Redis scripts.

redis-py's own Script goes through execute_command, which wraps each command in its Retry (retries are
off here: farmlokal_common/redis_client.py) and its observability recording, and through the pool's
get_connection and release, which poll the socket (can_read), record metrics and dispatch events
around every command. On this project's box (one client, an EVALSHA answering a 9 KB page, 5,000
calls) that is 136-142 us of CPU a call, against 73-75 us for the command on a connection at hand.

So a script here sends EVALSHA on a connection from a free list that every script of the same pool
shares (`_idle`), taken from the pool when the list is empty. A connection goes back on the list only
after its reply was read whole (an error reply, such as a script's own error, is a whole reply);
any other failure (a timeout, a reset, a demoted Sentinel master) disconnects it and hands it back to
the pool, which reconnects it, to the master the Sentinels name, on its next use. A connection the
pool no longer owns (another process after a fork, a Sentinel master that changed since it
connected) is handed back the same way before it is used. The errors raised are redis-py's own.
A Redis Cluster client keeps redis-py's Script, which sends each call to the node of its keys' slot.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

import redis
from redis.connection import Connection, ConnectionPool
from redis.exceptions import NoScriptError, ResponseError

Value = bytes | str | int | float

# Idle connections of each pool, shared by every script that runs on it.
_idle: weakref.WeakKeyDictionary[ConnectionPool, list[Connection]] = weakref.WeakKeyDictionary()


class LuaScript(Protocol):
    def __call__(self, keys: Sequence[str] = (), args: Sequence[Value] = ()) -> Any: ...


def register_script(client: redis.Redis | redis.RedisCluster, source: str) -> LuaScript:
    """The script `source` of `client`: `script(keys=[...], args=[...])` returns its reply."""
    if isinstance(client, redis.Redis):
        return Script(client, source)
    cluster_script: LuaScript = client.register_script(source)
    return cluster_script


class Script:
    """A Lua script of one server's (or Sentinel master's) client."""

    def __init__(self, client: redis.Redis, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        self._pool: ConnectionPool = client.connection_pool
        self._idle = _idle.setdefault(self._pool, [])

    def __call__(self, keys: Sequence[str] = (), args: Sequence[Value] = ()) -> Any:
        conn = self._connection()
        try:
            try:
                reply = self._evalsha(conn, keys, args)
            except NoScriptError:  # a Redis that restarted or was promoted: load it, once
                conn.send_command("SCRIPT", "LOAD", self.source)  # type: ignore[no-untyped-call]
                conn.read_response()
                reply = self._evalsha(conn, keys, args)
        except ResponseError:
            self._idle.append(conn)  # an error reply read whole: the connection is in step
            raise
        except BaseException:
            conn.disconnect()  # type: ignore[no-untyped-call]
            self._pool.release(conn)
            raise
        self._idle.append(conn)
        return reply

    def _evalsha(self, conn: Connection, keys: Sequence[str], args: Sequence[Value]) -> Any:
        conn.send_command("EVALSHA", self.sha, len(keys), *keys, *args)  # type: ignore[no-untyped-call]
        return conn.read_response()

    def _connection(self) -> Connection:
        idle = self._idle
        while idle:
            try:
                conn = idle.pop()
            except IndexError:  # another thread took the last one
                break
            if self._pool.owns_connection(conn):
                return conn
            self._pool.release(conn)  # not the pool's any more: it disconnects and forgets it
        return self._pool.get_connection()
