"""Webhook service settings (env prefix WEBHOOK_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from farmlokal_common.settings import ServiceSettings, dev_database_url


class WebhookSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WEBHOOK_", frozen=True, extra="ignore")

    grpc_port: int = 50052
    metrics_port: int = 9102
    database_url: str = dev_database_url("webhooks")
    catalog_address: str = "127.0.0.1:50051"
    # source=whsec_...,other=whsec_...
    source_secrets: str = "supplier=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
