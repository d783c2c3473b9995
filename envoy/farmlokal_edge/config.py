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

# The dev sandbox's OAuth provider (sandbox/oauth.py), trusted when nothing else is configured.
SANDBOX_ISSUER = "https://sandbox.farmlokal.test/"
SANDBOX_API_AUDIENCE = "https://api.farmlokal.test"
# What Envoy trusts for an https JWKS without EDGE_JWKS_CA_FILE: Debian's bundle (also in Envoy's image).
SYSTEM_CA_FILE = Path("/etc/ssl/certs/ca-certificates.crt")


def sandbox_jwks_uri(host: str, port: int) -> str:
    return f"http://{host}:{port}/.well-known/jwks.json"


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
    # The OAuth2 provider whose JWTs the admin routes accept (defaults: the dev stack's sandbox);
    # farmlokal_edge.settings.EdgeSettings reads them from EDGE_* variables.
    jwt_issuer: str = SANDBOX_ISSUER
    jwt_audiences: tuple[str, ...] = (SANDBOX_API_AUDIENCE,)
    # http or https; https is verified against jwks_ca_file (PEM), or the system's CA bundle.
    jwks_uri: str = sandbox_jwks_uri("127.0.0.1", DEV_SANDBOX_PORT)
    jwks_ca_file: Path | None = None
    # How long Envoy keeps the JWKS: it does not refetch on an unknown `kid`, so a signing key must
    # be published this long before it signs (README "Operations": key rotation).
    jwks_cache_seconds: int = 300
    # Leeway on `exp` and `nbf`: an expired token passes for this long.
    jwt_clock_skew_seconds: int = 30
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
