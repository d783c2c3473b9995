"""Routes: one per public method (its timeout, its retry, its admin check), and the REST entry route.

Routes match the gRPC path after transcoding. Internal services (never marked public in the protos),
grpc.health and grpc.reflection have no route: they fall through to the final 404, for REST and
native gRPC callers alike.
"""

from __future__ import annotations

from typing import Any

from farmlokal_common import rest_json
from farmlokal_edge.api import PublicMethod, PublicService, longest_timeout_s
from farmlokal_edge.auth import admin_route_config
from farmlokal_edge.names import (
    CORS_FILTER,
    EDGE_METADATA,
    HEADER_MUTATION_FILTER,
    HTTP_STATUS_HEADER,
    LUA_FILTER,
    REST_SINK_CLUSTER,
)

# The grpc-timeout format (gRPC over HTTP/2): up to 8 digits and a unit. The gRPC server refuses any
# other value, and its HPACK state for the pooled connection is then broken for other callers.
GRPC_TIMEOUT_FORMAT = "[0-9]{1,8}[HMSmun]"
# What a REST client must not see of the gRPC answer (the transcoder leaves them on the response).
GRPC_RESPONSE_HEADERS = ("grpc-status", "grpc-message", "grpc-accept-encoding", "grpc-encoding")
# The transcoder marks the requests it made from REST ones with their original path.
TRANSCODED = {"name": "x-envoy-original-path", "present_match": True}
LUA_OFF = {LUA_FILTER: {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}}


def route_config(services: tuple[PublicService, ...], cors_policy: dict[str, Any]) -> dict[str, Any]:
    routes: list[dict[str, Any]] = [_connect_refused(), _bad_grpc_timeout()]
    routes += [
        route
        for service in services
        for method in service.methods
        for route in (_method_route(service, method, rest=True), _method_route(service, method, rest=False))
    ]
    routes.append(
        {
            "name": "grpc_not_found",
            "match": {"prefix": "/", "grpc": {}},
            "direct_response": {"status": 404, "body": {"inline_string": "unknown or internal gRPC method"}},
        }
    )
    longest = longest_timeout_s(services)
    routes += [
        _rest_entry(longest, method)
        for service in services
        for method in service.methods
        if method.http_status_header
    ]
    routes.append(_rest_entry(longest, None))
    return {
        "name": "public_routes",
        "virtual_hosts": [
            {
                "name": "farmlokal",
                "domains": ["*"],
                "routes": routes,
                "typed_per_filter_config": {CORS_FILTER: cors_policy},
            }
        ],
    }


def _method_route(service: PublicService, method: PublicMethod, rest: bool) -> dict[str, Any]:
    """The route of a method for transcoded REST requests or for native gRPC calls.

    Both forward alike; they differ in what they do to headers. A REST answer loses the gRPC headers
    the transcoder leaves (statically, here: the Lua filter runs only where a status is chosen). A
    native call without a deadline gets the route's.
    """
    timeout = f"{method.timeout_s}s"
    action: dict[str, Any] = {
        "cluster": service.cluster,
        "timeout": timeout,
        # The client's grpc-timeout (or, for REST, the longest route timeout) capped to this route's;
        # Envoy rewrites the header it sends upstream, so the service's deadline is the edge's.
        "max_stream_duration": {"grpc_timeout_header_max": timeout},
    }
    if method.read:
        # Only when the request cannot have been served: no connection, a refused stream, or a
        # reset before any answer (a host that died). Never on a status the service chose: a read
        # that took too long would only take too long twice. The cluster's retry budget bounds them.
        # The retry goes to another replica when there is one (a dead host is not asked twice).
        action["retry_policy"] = {
            "retry_on": "connect-failure,refused-stream,reset",
            "num_retries": 1,
            "retry_host_predicate": [
                {
                    "name": "envoy.retry_host_predicates.previous_hosts",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3"
                        ".PreviousHostsPredicate"
                    },
                }
            ],
            "host_selection_retry_max_attempts": 3,
        }
    match: dict[str, Any] = {"path": f"/{service.name}/{method.name}"}
    route: dict[str, Any] = {
        "name": f"{service.name}/{method.name}{' (REST)' if rest else ''}",
        "match": match,
    }
    per_filter: dict[str, Any] = {}
    if rest:
        match["headers"] = [TRANSCODED]
        if method.rest_json_body:
            # Its servicer answers this call with the JSON pre-rendered (rest_json); every client's
            # own header of that name was removed before transcoding (listener.py).
            route["request_headers_to_add"] = [
                {
                    "header": {"key": rest_json.REST_JSON_HEADER, "value": "1"},
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                }
            ]
    else:
        # Native gRPC calls without a deadline get the route's (REST ones were given theirs before
        # transcoding, and this filter does not run twice). A header added here reaches the service
        # as it is (Envoy's grpc_timeout_header_max does not see it), so it is the route's own.
        per_filter[HEADER_MUTATION_FILTER] = header_mutation_per_route(
            _set_grpc_timeout(method.timeout_s, "ADD_IF_ABSENT")
        )
        per_filter.update(LUA_OFF)
    route["route"] = action
    if service.admin_scope:
        route["metadata"] = {"filter_metadata": {EDGE_METADATA: {"admin_scope": service.admin_scope}}}
        per_filter.update(admin_route_config(service.admin_scope))
    route["typed_per_filter_config"] = per_filter
    return route


def _rest_entry(longest_timeout: int, method: PublicMethod | None) -> dict[str, Any]:
    """Before transcoding, a REST request is routed by its REST path. The CORS filter only applies a
    policy to a route entry (never to a direct_response), so REST paths need one. The transcoder
    then maps the request to a public method or answers 404 itself, so this sink (a cluster without
    endpoints) is reached by no request. Filters before the transcoder see this route: here a REST
    request loses every grpc-* header it sent and gets the longest route timeout as its deadline,
    which its method's route then caps (grpc_timeout_header_max).

    The Lua filter (which applies a status the servicer chose) runs only for the REST paths of the
    methods that declare one (`method`); the catch-all entry (method None) turns it off.
    """
    per_filter: dict[str, Any] = {
        HEADER_MUTATION_FILTER: header_mutation_per_route(
            {"remove_on_match": {"key_matcher": {"prefix": "grpc-"}}},
            _set_grpc_timeout(longest_timeout, "OVERWRITE_IF_EXISTS_OR_ADD"),
        )
    }
    # The header_mutation filter keeps the route it saw on the request for the response too, and
    # sees the response after the transcoder has turned grpc-status into the HTTP status (and after
    # the replies of the filters behind it: CORS, the transcoder, jwt_authn, RBAC, the router).
    responses: list[dict[str, Any]] = [{"append": _response_header("x-content-type-options", "nosniff")}]
    if method is None:
        responses += [{"remove": name} for name in (*GRPC_RESPONSE_HEADERS, HTTP_STATUS_HEADER)]
        per_filter.update(LUA_OFF)
    per_filter[HEADER_MUTATION_FILTER]["mutations"]["response_mutations"] = responses
    return {
        "name": f"rest_before_transcoding ({method.name})" if method else "rest_before_transcoding",
        "match": {"safe_regex": {"regex": method.rest_path_regex}} if method else {"prefix": "/"},
        "route": {"cluster": REST_SINK_CLUSTER, "timeout": "1s"},
        "typed_per_filter_config": per_filter,
    }


def header_mutation_per_route(*mutations: dict[str, Any]) -> dict[str, Any]:
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
            _response_header(
                "grpc-message", "grpc-timeout must be 1 to 8 digits and a unit (H, M, S, m, u, n)"
            ),
        ],
        "typed_per_filter_config": LUA_OFF,
    }


def _connect_refused() -> dict[str, Any]:
    """CONNECT (a tunnel request): refused at once with 405 (see local_replies), not held open."""
    return {
        "name": "connect_refused",
        "match": {"connect_matcher": {}},
        "direct_response": {"status": 405, "body": {"inline_string": "CONNECT is not supported"}},
        "typed_per_filter_config": LUA_OFF,
    }


def _response_header(name: str, value: str) -> dict[str, Any]:
    return {"header": {"key": name, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
