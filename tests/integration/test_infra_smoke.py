"""The private MariaDB and Redis start, and each service user reaches only its own schema."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError


def test_service_user_sees_only_its_schema(mariadb) -> None:
    engine = create_engine(mariadb.service_url("catalog"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT DATABASE()")).scalar() == "catalog"
        with pytest.raises((OperationalError, ProgrammingError)):
            conn.execute(text("SELECT 1 FROM webhooks.inbound_events"))
    engine.dispose()


def test_redis_answers(redis_client) -> None:
    redis_client.set("k", "v")
    assert redis_client.get("k") == b"v"
