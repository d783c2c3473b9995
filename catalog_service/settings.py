"""Catalog service settings (env prefix CATALOG_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from farmlokal_common.settings import DEV_SANDBOX_PORT, ServiceSettings, dev_database_url


class CatalogSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_", frozen=True, extra="ignore")

    grpc_port: int = 50051
    metrics_port: int = 9101
    database_url: str = dev_database_url("catalog")
    # Listing reads; point at a read replica in production. Empty means the primary.
    database_read_url: str = ""
    cursor_secret: str = "dev-only-cursor-secret-change-me"
    cache_ttl_seconds: int = 60
    cache_enabled: bool = True
    single_flight_wait_seconds: float = 2.0
    # Concurrent listing queries per process when Redis is down and every request goes to MySQL.
    uncached_concurrency: int = 8
    outbox_relay_enabled: bool = True
    auth_address: str = "127.0.0.1:50053"
    webhook_address: str = "127.0.0.1:50052"
    oauth_health_url: str = f"http://127.0.0.1:{DEV_SANDBOX_PORT}/healthz"
    supplier_health_url: str = f"http://127.0.0.1:{DEV_SANDBOX_PORT}/healthz"
    rate_limits: str = "ListProducts=100/1,GetProduct=200/1,ListCategories=50/1,*=100/1"

    @property
    def read_url(self) -> str:
        return self.database_read_url or self.database_url
