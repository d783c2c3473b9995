"""Webhook service settings (env prefix WEBHOOK_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from farmlokal_common.settings import ServiceSettings, dev_database_url


class WebhookSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WEBHOOK_", frozen=True, extra="ignore")

    grpc_port: int = 15052
    metrics_port: int = 9201
    database_url: str = dev_database_url("webhooks")
    catalog_address: str = "127.0.0.1:15051"
    rate_limits: str = "ReceiveWebhook=5000/1,*=100/1"
    # source=whsec_...,other=whsec_...
    # Dev secret only; production sets its own. Several entries per source allow rotation.
    source_secrets: str = "supplier=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    # Seconds before each retry of a failed inbound event; after the last one the event is dead.
    event_retry_delays: str = "5,30,120,600,3600"
    event_lease_seconds: float = 30.0
    # Threads per process applying events (claims use SKIP LOCKED, so they never take the same one).
    event_worker_threads: int = 4
    # A background worker that found nothing waits this long, doubling up to the max while idle;
    # work stored in the same process wakes it at once (webhook_service/pacing.py).
    worker_idle_seconds: float = 0.2
    worker_max_idle_seconds: float = 2.0
    # Outbound: Svix's schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
    delivery_retry_delays: str = "5,300,1800,7200,18000,36000,36000"
    delivery_timeout_seconds: float = 15.0
    # Subscriber URLs must resolve to globally routable addresses; "loopback" also allows 127.0.0.0/8
    # and ::1, "private" also RFC 1918 and fc00::/7. Link-local, CGNAT and reserved ranges never.
    allow_subscriber_networks: str = ""
    # A subscriber's host that does not resolve within this is refused (400 at creation, a failed
    # attempt at delivery).
    subscriber_dns_timeout_seconds: float = 2.0

    @staticmethod
    def delays(spec: str) -> list[float]:
        return [float(part) for part in spec.split(",") if part.strip()]
