"""DB pool gauges: connections in use and threads waiting when the pool is exhausted."""

from __future__ import annotations

import threading
import time

from prometheus_client import REGISTRY
from sqlalchemy import text

from farmlokal_common.db import make_engine
from farmlokal_common.settings import ServiceSettings


def gauge(name: str, pool: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"pool": pool})


def test_in_use_and_waiting_follow_the_pool(migrated) -> None:
    settings = ServiceSettings(db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=5)
    engine = make_engine(migrated.service_url("auth"), settings)
    holder = engine.connect()
    holder.execute(text("SELECT 1"))
    assert gauge("farmlokal_db_pool_in_use", "auth") == 1
    waiter = threading.Thread(target=lambda: engine.connect().close())
    waiter.start()
    deadline = time.monotonic() + 3
    while gauge("farmlokal_db_pool_waiting", "auth") != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gauge("farmlokal_db_pool_waiting", "auth") == 1
    holder.close()
    waiter.join(5)
    assert gauge("farmlokal_db_pool_waiting", "auth") == 0
    assert gauge("farmlokal_db_pool_in_use", "auth") == 0
    engine.dispose()
