"""Catalog service settings (env prefix CATALOG_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from farmlokal_common.settings import DEV_SANDBOX_PORT, ServiceSettings, dev_database_url


class CatalogSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_", frozen=True, extra="ignore")

    grpc_port: int = 15051
    metrics_port: int = 9101
    database_url: str = dev_database_url("catalog")
    # Listing and product reads; point at a read replica in production. Empty means the primary.
    database_read_url: str = ""
    # A replica further behind than this (or unreachable) is left alone: reads go to the primary until
    # it catches up. A read that needs a write the replica has not applied yet waits for it this long
    # (MASTER_GTID_WAIT), then reads the primary. The positions are polled this often.
    replica_max_lag_seconds: float = 5.0
    replica_wait_seconds: float = 0.1
    replica_check_interval_seconds: float = 0.5
    cursor_secret: str = "dev-only-cursor-secret-change-me"
    cache_ttl_seconds: int = 60
    cache_enabled: bool = True
    single_flight_wait_seconds: float = 2.0
    # Serving threads of a process that may be inside the database at once (0: half the thread pool),
    # whatever the call (a cache miss, a product, a write, Redis down); a call finding no free slot
    # within the wait is answered 503 at once, so a stalled database cannot take every thread.
    db_bulkhead_slots: int = 0
    db_bulkhead_wait_seconds: float = 0.05
    outbox_relay_enabled: bool = True
    auth_address: str = "127.0.0.1:15053"
    webhook_address: str = "127.0.0.1:15052"
    supplier_health_url: str = f"http://127.0.0.1:{DEV_SANDBOX_PORT}/healthz"
    # /health and /health/ready share one report a second (health_report_max_age_seconds); their
    # own per-client limit keeps a flood of polls from taking the serving threads.
    rate_limits: str = (
        "ListProducts=100/1,GetProduct=200/1,ListCategories=50/1,GetHealth=10/1,GetReadiness=10/1,*=100/1"
    )
    health_report_max_age_seconds: float = 1.0
    # Supplier API (API A): where it is, how hard to try, when to stop trying, how often to sync.
    supplier_base_url: str = f"http://127.0.0.1:{DEV_SANDBOX_PORT}"
    supplier_audience: str = ""  # empty: the auth service's configured supplier audience and scope
    supplier_scope: str = ""
    supplier_connect_timeout_seconds: float = 2.0
    supplier_read_timeout_seconds: float = 2.0
    supplier_request_deadline_seconds: float = 10.0  # one page, all attempts included
    supplier_max_attempts: int = 4
    supplier_backoff_base_seconds: float = 0.2
    supplier_backoff_max_seconds: float = 2.0
    supplier_retry_after_max_seconds: float = 10.0
    supplier_breaker_fail_max: int = 5
    supplier_breaker_reset_seconds: float = 30.0
    supplier_sync_page_size: int = 500
    supplier_sync_deadline_seconds: float = 300.0
    supplier_sync_interval_seconds: float = 0.0  # periodic sync; 0 disables it

    @property
    def bulkhead_slots(self) -> int:
        return self.db_bulkhead_slots or max(1, self.thread_pool_size // 2)

    @property
    def read_url(self) -> str:
        return self.database_read_url or self.database_url
