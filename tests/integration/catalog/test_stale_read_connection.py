"""A read whose pooled connection went stale (the server killed it, or MySQL restarted since) is
answered, not a 503: read engines do not ping on checkout, so the read runs again on a fresh one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from catalog_service.read_routing import ReadRouter
from farmlokal_common.db import make_engine
from farmlokal_common.settings import ServiceSettings


@pytest.fixture
def engines(migrated) -> Iterator[tuple[Engine, Engine]]:
    admin = create_engine(migrated.root_url, pool_size=1)
    reads = make_engine(
        migrated.service_url("catalog"), ServiceSettings(), read_only=True, pool_name="stale_test"
    )
    yield admin, reads
    reads.dispose()
    admin.dispose()


def _connection_id(conn) -> int:  # type: ignore[no-untyped-def]
    return int(conn.execute(text("SELECT CONNECTION_ID()")).scalar_one())


def test_a_read_on_a_connection_the_server_killed_is_answered(engines: tuple[Engine, Engine]) -> None:
    admin, reads = engines
    router = ReadRouter(reads)
    pooled = router.read("", _connection_id)  # the read engine's one pooled connection
    with admin.connect() as conn:
        conn.execute(text(f"KILL CONNECTION {pooled}"))

    answered = router.read("", _connection_id)
    assert answered != pooled  # a fresh connection answered the read
    assert router.read("", _connection_id) == answered  # and it stays in the pool
