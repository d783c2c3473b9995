"""Sandbox settings (env prefix SANDBOX_): where the stand-in for outside providers listens."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from farmlokal_common.settings import DEV_SANDBOX_PORT


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = DEV_SANDBOX_PORT
    log_level: str = "info"

    # OAuth2 provider (sandbox/oauth.py documents the two dev clients). An empty key file: a fresh
    # RSA key per process. The issuer is what the edge's jwt_authn and the tokens' `iss` agree on.
    oauth_issuer: str = "https://sandbox.farmlokal.test/"
    oauth_expires_in: int = 3600
    oauth_services_secret: str = "dev-services-secret"
    oauth_admin_secret: str = "dev-admin-secret"
    oauth_private_key_file: str = ""

    # Supplier API (sandbox/supplier.py): a deterministic data set; bearer tokens of the OAuth
    # provider above, checked against its JWKS (or a PEM public key when one is given).
    supplier_product_count: int = 3000
    supplier_seed: int = 20260101
    supplier_max_page_size: int = 1000
    supplier_jwks_url: str = ""  # empty: this sandbox's own /.well-known/jwks.json
    supplier_jwt_public_key: str = ""
    supplier_token_issuer: str = ""  # empty: oauth_issuer
    supplier_token_audience: str = "https://supplier.farmlokal.test"
    supplier_token_scope: str = "supplier:read"
