"""Creates each service's schema and its own MySQL user with grants on that schema only."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class ServiceDatabase:
    schema: str
    user: str
    password: str


def dev_service_databases() -> list[ServiceDatabase]:
    """The dev stack's users: <schema>_svc with password <schema>_dev_pw (see settings.dev_database_url)."""
    return [ServiceDatabase(s, f"{s}_svc", f"{s}_dev_pw") for s in ("catalog", "webhooks", "auth")]


def init_databases(root_url: str, databases: list[ServiceDatabase], user_host: str = "%") -> None:
    """Idempotent: schemas and users are created if missing; passwords and grants are (re)applied."""
    engine = create_engine(root_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for db in databases:
                conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{db.schema}` CHARACTER SET utf8mb4"))
                for host in {user_host, "localhost"}:
                    account = f"'{db.user}'@'{host}'"
                    conn.execute(
                        text(f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY :pw"), {"pw": db.password}
                    )
                    conn.execute(text(f"ALTER USER {account} IDENTIFIED BY :pw"), {"pw": db.password})
                    conn.execute(text(f"GRANT ALL PRIVILEGES ON `{db.schema}`.* TO {account}"))
            # LOAD DATA LOCAL for the seeder needs no global privilege; FILE is deliberately not granted.
    finally:
        engine.dispose()


def service_url(root_url: str, db: ServiceDatabase, host: str, port: int) -> str:
    """The URL a service uses to reach its own schema as its own user."""
    driver = make_url(root_url).drivername
    return f"{driver}://{db.user}:{db.password}@{host}:{port}/{db.schema}?charset=utf8mb4"
