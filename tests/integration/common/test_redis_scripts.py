"""Scripts sent as one EVALSHA on a connection at hand (farmlokal_common/redis_scripts.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from farmlokal_common.redis_client import RedisTarget, connect
from farmlokal_common.redis_scripts import register_script
from tests.redis_commands import CommandLog

# GET of a missing key is false in Lua: a nil in the reply.
LOOKUP = "return {ARGV[1], tonumber(ARGV[2]) + 1, redis.call('GET', KEYS[1])}"
# Holds Redis (scripts run alone) for ARGV[1] ms, then answers ARGV[2].
BUSY = """
local stop = redis.call('TIME')
local until_us = stop[1] * 1000000 + stop[2] + tonumber(ARGV[1]) * 1000
repeat local now = redis.call('TIME') until now[1] * 1000000 + now[2] >= until_us
return ARGV[2]
"""


def client_of(real: redis.Redis, timeout: float = 2.0, max_connections: int | None = None) -> redis.Redis:
    return connect(RedisTarget.of(real_url(real)), timeout, max_connections=max_connections)


def real_url(real: redis.Redis) -> str:
    kwargs = real.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/0"


def test_the_reply_is_redis_pys_own(redis_client: redis.Redis) -> None:
    client = client_of(redis_client)
    ours, theirs = register_script(client, LOOKUP), client.register_script(LOOKUP)
    redis_client.set("page", b"\x00\xffbytes")
    for keys, args in ((["page"], ["gen-7", 41]), (["missing"], ["", 0])):
        assert ours(keys=keys, args=args) == theirs(keys=keys, args=args)
    assert ours(keys=["page"], args=["g", 1]) == [b"g", 2, b"\x00\xffbytes"]
    assert ours(keys=["missing"], args=["g", 1]) == [b"g", 2, None]


def test_a_script_redis_forgot_is_loaded_again(redis_client: redis.Redis) -> None:
    log = CommandLog(redis_client)
    script = register_script(log.client, LOOKUP)
    assert script(keys=["k"], args=["a", 1]) == [b"a", 2, None]
    redis_client.script_flush()  # as after a restart or a failover to a replica that never ran it
    log.reset()
    assert script(keys=["k"], args=["b", 2]) == [b"b", 3, None]
    assert log.sent == ["EVALSHA", "SCRIPT", "EVALSHA"]
    log.reset()
    assert script(keys=["k"], args=["c", 3]) == [b"c", 4, None]
    assert log.sent == ["EVALSHA"]


def test_a_script_error_is_raised_and_the_connection_serves_the_next_call(redis_client: redis.Redis) -> None:
    client = client_of(redis_client, max_connections=1)  # one connection: the next call must reuse it
    failing = register_script(client, "return redis.error_reply('bad input ' .. ARGV[1])")
    fine = register_script(client, LOOKUP)
    with pytest.raises(redis.ResponseError, match="bad input 7"):
        failing(args=[7])
    assert fine(keys=["k"], args=["x", 1]) == [b"x", 2, None]


class KeepsSocketOnError(redis.Connection):
    """Reads as a Sentinel master's connection does: redis-py's SentinelManagedConnection passes
    disconnect_on_error=False, so a read that fails leaves its socket open."""

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["disconnect_on_error"] = False
        return super().read_response(*args, **kwargs)


def test_after_a_timeout_the_late_reply_never_answers_another_call(redis_client: redis.Redis) -> None:
    """The connection that timed out still has the first script's reply coming: reusing it would
    hand that reply to the next caller. It is dropped instead."""
    kwargs = {**redis_client.connection_pool.connection_kwargs, "socket_timeout": 0.1}
    client = redis.Redis(connection_pool=redis.ConnectionPool(connection_class=KeepsSocketOnError, **kwargs))
    busy = register_script(client, BUSY)
    assert busy(args=[0, "warm"]) == b"warm"
    with pytest.raises(redis.TimeoutError):
        busy(args=[300, "late reply"])
    redis_client.ping()  # waits for the busy script to end (scripts run alone)
    assert busy(args=[0, "second"]) == b"second"
    assert busy(args=[0, "third"]) == b"third"


def test_a_connection_the_pool_no_longer_owns_is_not_used(redis_client: redis.Redis) -> None:
    client = client_of(redis_client)
    script = register_script(client, LOOKUP)
    script(keys=["k"], args=["a", 1])
    before = redis_client.client_list()
    idle = script._idle  # type: ignore[attr-defined]
    assert len(idle) == 1
    idle[0].pid = -1  # as in a process forked after it connected (a Sentinel master change alike)
    assert script(keys=["k"], args=["b", 1]) == [b"b", 2, None]
    assert len(idle) == 1 and idle[0].pid != -1
    ids = {entry["id"] for entry in before}
    assert len([entry for entry in redis_client.client_list() if entry["id"] not in ids]) == 1


def test_scripts_of_one_client_share_its_connections(redis_client: redis.Redis) -> None:
    """Eight threads over five scripts within a pool of eight connections: none is refused one."""
    client = client_of(redis_client, max_connections=8)
    scripts = [register_script(client, LOOKUP + f" -- {n}") for n in range(5)]
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for call in range(200):
                script = scripts[(worker + call) % len(scripts)]
                reply = script(keys=[f"k{worker}"], args=[str(worker), call])
                assert reply == [str(worker).encode(), call + 1, None]
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
