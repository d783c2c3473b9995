"""The public listener: limits, the HTTP filter chain (transcoding, auth, header hygiene) and access log."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from farmlokal_common import rest_json
from farmlokal_edge.api import PublicService
from farmlokal_edge.auth import jwt_authn_filter, rbac_filter
from farmlokal_edge.clusters import socket_address
from farmlokal_edge.config import (
    IDLE_TIMEOUT,
    MAX_REQUEST_BYTES,
    MAX_REQUEST_HEADERS_KB,
    MAX_RESPONSE_BYTES,
    PER_CONNECTION_BUFFER_BYTES,
    REQUEST_HEADERS_TIMEOUT,
    REQUEST_TIMEOUT,
    STREAM_IDLE_TIMEOUT,
    EdgeConfig,
)
from farmlokal_edge.descriptor import transcoder_descriptor
from farmlokal_edge.docs import with_docs
from farmlokal_edge.local_replies import local_reply_config
from farmlokal_edge.names import (
    CORS_FILTER,
    HEADER_MUTATION_FILTER,
    LUA_FILTER,
    SUBJECT_HEADER,
    TRANSCODER_FILTER,
)
from farmlokal_edge.routes import route_config

LUA_RESPONSE_FILTER = Path(__file__).resolve().parent.parent / "rest_response.lua"
# Request headers the gRPC servers parse themselves and no client of ours may send: a bad value in
# one fails that call with INTERNAL (grpc-timeout also poisons the edge's pooled connection, see
# field-notes). Binary metadata (-bin) is base64 that the server decodes; our services read none.
RESERVED_GRPC_HEADERS = (
    "grpc-(status|message|previous-rpc-attempts|retry-pushback-ms|internal-.*|lb-.*)|lb-.*|.*-bin"
)

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


def listener(cfg: EdgeConfig, services: tuple[PublicService, ...]) -> dict[str, Any]:
    return {
        "name": "public_rest",
        "address": socket_address(cfg.listen_host, cfg.listen_port),
        # Edge best practice: what one connection may make Envoy buffer before flow control.
        "per_connection_buffer_limit_bytes": PER_CONNECTION_BUFFER_BYTES,
        "filter_chains": [{"filters": [with_docs(_http_connection_manager(cfg, services), cfg.docs_dir)]}],
    }


def _http_connection_manager(cfg: EdgeConfig, services: tuple[PublicService, ...]) -> dict[str, Any]:
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
            "local_reply_config": local_reply_config(),
            "route_config": route_config(services, _cors_policy(cfg)),
            "http_filters": _http_filters(cfg, services),
        },
    }


def _http_filters(cfg: EdgeConfig, services: tuple[PublicService, ...]) -> list[dict[str, Any]]:
    """Order matters. Responses pass the filters in reverse, so the Lua filter (first) sees every
    reply: the transcoded ones, and the local replies of CORS, the transcoder, jwt_authn, RBAC and
    the router. jwt_authn and RBAC come after the transcoder because their per-route settings sit
    on the gRPC-path routes, which a REST request only matches once it is transcoded.
    """
    return [
        {
            "name": LUA_FILTER,
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                "default_source_code": {"inline_string": LUA_RESPONSE_FILTER.read_text()},
            },
        },
        {
            # No client may choose the subject the services rate-limit by, ask for a pre-rendered
            # REST body (only the REST routes do, routes.py), nor send a header that only gRPC itself
            # may set. REST requests lose every grpc-* header on their route
            # (routes.py, the REST entry route); native gRPC calls keep grpc-timeout, grpc-encoding and
            # grpc-accept-encoding, which their route checks.
            "name": HEADER_MUTATION_FILTER,
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3"
                ".HeaderMutation",
                "mutations": {
                    "request_mutations": [
                        {"remove": SUBJECT_HEADER},
                        {"remove": rest_json.REST_JSON_HEADER},
                        {
                            "remove_on_match": {
                                "key_matcher": {"safe_regex": {"regex": RESERVED_GRPC_HEADERS}}
                            }
                        },
                    ]
                },
            },
        },
        {
            "name": CORS_FILTER,
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
            "name": TRANSCODER_FILTER,
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3"
                ".GrpcJsonTranscoder",
                # The API's descriptor with pre-rendered answers declared HttpBody (descriptor.py).
                "proto_descriptor_bin": base64.b64encode(transcoder_descriptor(cfg.descriptor_path)).decode(),
                "services": [service.name for service in services],
                # The services that render REST answers themselves print them alike (rest_json).
                "print_options": dict(rest_json.PRINT_OPTIONS),
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
        jwt_authn_filter(cfg),
        rbac_filter(),
        {
            "name": "envoy.filters.http.router",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                "suppress_envoy_headers": True,
            },
        },
    ]


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
