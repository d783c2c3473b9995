"""Envoy's own error replies (404, 413, 431, 503, ...) as google.rpc.Status JSON, or plain gRPC status."""

from __future__ import annotations

from typing import Any

from farmlokal_edge.config import MAX_REQUEST_HEADERS_KB
from farmlokal_edge.names import EDGE_METADATA, JWT_AUTHN_FILTER, JWT_PAYLOAD_METADATA

NOSNIFF = {
    "header": {"key": "x-content-type-options", "value": "nosniff"},
    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
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


def local_reply_config() -> dict[str, Any]:
    """Envoy's own error replies (404, 413, 503, ...) as google.rpc.Status JSON."""

    def body(code: int) -> dict[str, Any]:
        return {
            "json_format": {"code": code, "message": "%LOCAL_REPLY_BODY%"},
            "content_type": "application/json",
        }

    plain = {"text_format_source": {"inline_string": "%LOCAL_REPLY_BODY%"}}
    mappers: list[dict[str, Any]] = [
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
    rejected_token: list[dict[str, Any]] = [
        {
            "filter": {"and_filter": {"filters": [grpc_request, unverified_403]}},
            "status_code": 401,
            "body_format_override": plain,
        },
        {"filter": unverified_403, "status_code": 401, "body_format_override": body(16)},
    ]
    # RBAC's own text ("RBAC: access denied") does not say what is missing; the route knows.
    scope_message = (
        "this route needs a token with the %METADATA(ROUTE:" + EDGE_METADATA + ":admin_scope)% scope"
    )
    missing_scope: list[dict[str, Any]] = [
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
    hostile: list[dict[str, Any]] = [
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
    ordered: list[dict[str, Any]] = [*hostile, *rejected_token, *missing_scope, grpc_caller, *mappers]
    # Envoy's own replies do not pass the routes' response headers: each mapper adds nosniff, and a
    # last one (matching every status) covers the replies no other mapper rewrote.
    every: dict[str, Any] = {
        "status_code_filter": {
            "comparison": {"op": "GE", "value": {"default_value": 0, "runtime_key": "edge.local_reply.any"}}
        }
    }
    ordered.append({"filter": every})
    for mapper in ordered:
        mapper["headers_to_add"] = [NOSNIFF]
    return {"mappers": ordered, "body_format": body(2)}


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
