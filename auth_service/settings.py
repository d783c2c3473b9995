"""Auth service settings (env prefix AUTH_)."""

from __future__ import annotations

from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from farmlokal_common.settings import DEV_SANDBOX_PORT, ServiceSettings, dev_database_url


class AuthSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", frozen=True, extra="ignore")

    grpc_port: int = 15053
    metrics_port: int = 9301
    database_url: str = dev_database_url("auth")
    token_url: str = f"http://127.0.0.1:{DEV_SANDBOX_PORT}/oauth/token"
    client_id: str = "farmlokal-services"
    client_secret: str = "dev-services-secret"
    audience: str = "https://supplier.farmlokal.test"
    scope: str = "supplier:read"
    # client_secret_basic (HTTP Basic) or client_secret_post (form fields, Auth0-style).
    client_auth_method: str = "client_secret_basic"
    refresh_skew_seconds: float = 60.0
    refresh_lock_ttl_seconds: float = 15.0
    refresh_lock_wait_seconds: float = 10.0
    provider_deadline_seconds: float = 8.0
    # The breaker in front of the token endpoint (state shared by every replica through Redis).
    provider_breaker_fail_max: int = 5
    provider_breaker_reset_seconds: float = 30.0

    @model_validator(mode="after")
    def _one_fetch_per_lock(self) -> AuthSettings:
        # A fetch that outlives the refresh lock lets a second replica call the provider too.
        if self.provider_deadline_seconds >= self.refresh_lock_ttl_seconds:
            raise ValueError(
                "AUTH_PROVIDER_DEADLINE_SECONDS must be shorter than AUTH_REFRESH_LOCK_TTL_SECONDS"
            )
        return self
