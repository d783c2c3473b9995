"""The edge's settings (where it listens, where the services are, whose tokens it trusts) and its limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from farmlokal_common.settings import DEV_SANDBOX_PORT

# Hostile-client limits (README "Hostile input"). Request headers in all, at most: beyond it a 431.
# The services accept 64 KiB of metadata (farmlokal_common.server), so what the edge adds on top of
# a client's 16 KiB never reaches their limit.
MAX_REQUEST_HEADERS_KB = 16
MAX_REQUEST_BYTES = 1024 * 1024  # request body: beyond it a 413
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
REQUEST_HEADERS_TIMEOUT = "5s"  # from the first byte of a request to its last header
REQUEST_TIMEOUT = "20s"  # the whole request, body included (a slow upload)
IDLE_TIMEOUT = "10s"  # a connection with no request in flight (including one that never sends any)
STREAM_IDLE_TIMEOUT = "30s"  # a request with no progress either way (longer than any route timeout)
MAX_DOWNSTREAM_CONNECTIONS = 10_000
PER_CONNECTION_BUFFER_BYTES = 32 * 1024

# Route timeouts by kind; a method may declare its own (farmlokal.api.v1.timeout_seconds). The
# services see them as the gRPC deadline, and their database statements run under what is left.
# Reads answer in milliseconds, so 3 s bounds a stalled dependency.
READ_TIMEOUT_S = 3
DEFAULT_TIMEOUT_S = 15


@dataclass(frozen=True)
class EdgeConfig:
    listen_port: int
    admin_port: int
    # host:port of a service, or several (its replicas on different hosts): every one is an endpoint
    # of the service's cluster. A DNS name is resolved continuously (a headless Service: every pod).
    catalog_address: str | tuple[str, ...]
    webhook_address: str | tuple[str, ...]
    auth_address: str | tuple[str, ...]
    descriptor_path: Path
    cors_allowed_origins: tuple[str, ...] = ("http://localhost:3000",)
    listen_host: str = "127.0.0.1"
    # Envoy's admin (metrics at /stats/prometheus); never published on the public edge.
    admin_host: str = "127.0.0.1"
    # The OAuth2 provider whose JWTs the admin routes accept (defaults: the dev stack's sandbox).
    jwt_issuer: str = "https://sandbox.farmlokal.test/"
    jwt_audiences: tuple[str, ...] = ("https://api.farmlokal.test",)
    jwks_address: str = f"127.0.0.1:{DEV_SANDBOX_PORT}"  # host:port, plain HTTP
    jwks_path: str = "/.well-known/jwks.json"
    # The API reference's files (`make docs-assets`: build/docs) served at /docs; None: /docs says so.
    docs_dir: Path | None = None

    def cluster_addresses(self) -> dict[str, tuple[str, ...]]:
        """Upstream cluster name -> its endpoints (host:port); a cluster serves the services of its proto package."""
        return {
            name: (address,) if isinstance(address, str) else address
            for name, address in (
                ("catalog", self.catalog_address),
                ("webhook", self.webhook_address),
                ("auth", self.auth_address),
            )
        }
