"""A read-only engine's read is one round trip: the query, and nothing when the connection goes back
to the pool (no ping on checkout, no ROLLBACK on return: in autocommit there is nothing to end)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text

from catalog_service.read_routing import ReadRouter
from farmlokal_common.db import make_engine
from farmlokal_common.settings import ServiceSettings
from tests.conftest import MariaDB

READS = 25


@pytest.fixture
def reads(migrated: MariaDB) -> Iterator[Engine]:
    engine = make_engine(
        migrated.service_url("catalog"), ServiceSettings(), read_only=True, pool_name="round_trip_test"
    )
    yield engine
    engine.dispose()


def _session(conn: Connection) -> tuple[int, dict[str, int]]:
    """The connection's id and its own statement counters (this session's, not the server's)."""
    rows = conn.execute(
        text("SHOW SESSION STATUS WHERE Variable_name IN ('Com_rollback', 'Com_commit', 'Com_select')")
    ).fetchall()
    connection_id = int(conn.execute(text("SELECT CONNECTION_ID()")).scalar_one())
    return connection_id, {name: int(value) for name, value in rows}


def test_a_read_sends_its_query_and_nothing_else(reads: Engine) -> None:
    router = ReadRouter(reads)
    first_id, before = router.read("", _session)
    for _ in range(READS):
        assert router.read("", lambda conn: conn.execute(text("SELECT 1")).scalar_one()) == 1
    last_id, after = router.read("", _session)

    assert last_id == first_id, "the reads did not all run on the one pooled connection"
    sent = {name: after[name] - before[name] for name in before}
    # Com_select also counts _session's own SELECT CONNECTION_ID() (one per call).
    assert sent == {"Com_rollback": 0, "Com_commit": 0, "Com_select": READS + 1}
