"""Sandbox settings (env prefix SANDBOX_): where the stand-in for outside providers listens."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from farmlokal_common.settings import DEV_SANDBOX_PORT


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = DEV_SANDBOX_PORT
    log_level: str = "info"
