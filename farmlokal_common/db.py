"""SQLAlchemy engines for MySQL/MariaDB with explicit pool sizing, pre-ping and timeouts."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from farmlokal_common.pool_metrics import watch_pool
from farmlokal_common.settings import ServiceSettings


def make_engine(url: str, settings: ServiceSettings, *, pool_size: int | None = None) -> Engine:
    """One engine per service and URL: a bounded pool whose connections time out instead of hanging."""
    engine = create_engine(
        url,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            "connect_timeout": settings.db_connect_timeout_seconds,
            "read_timeout": settings.db_read_timeout_seconds,
            "write_timeout": settings.db_read_timeout_seconds,
        },
    )
    watch_pool(make_url(url).database or "default", engine)
    return engine


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
