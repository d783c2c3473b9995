"""Upstream clusters: the services over HTTP/2 with gRPC health checks, and the OAuth provider's JWKS."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from farmlokal_edge.config import SYSTEM_CA_FILE
from farmlokal_edge.names import JWKS_CLUSTER


def socket_address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


# A replica the edge cannot reach (connections refused, reset or timed out: errors of the connection,
# not answers) leaves the balancing after two in a row, before its health checks fail; a passing
# health check brings it back. A status the service chose (a 503 while its database is down) ejects
# nothing: every replica would answer the same. At most half a cluster is ejected at once.
OUTLIER_DETECTION = {
    "split_external_local_origin_errors": True,
    "consecutive_local_origin_failure": 2,
    "enforcing_consecutive_local_origin_failure": 100,
    "enforcing_consecutive_5xx": 0,
    "enforcing_consecutive_gateway_failure": 0,
    "enforcing_success_rate": 0,
    "enforcing_local_origin_success_rate": 0,
    "interval": "1s",
    "base_ejection_time": "5s",
    "max_ejection_time": "30s",
    "max_ejection_percent": 50,
}


def service_cluster(name: str, addresses: Sequence[str], health_service: str) -> dict[str, Any]:
    """A service's replicas (one endpoint per address), balanced round robin, health-checked."""
    discovery = _discovery([_host_port(address)[2] for address in addresses])
    endpoints = [
        {"endpoint": {"address": socket_address(host, port)}}
        for host, port, _ in (_host_port(address) for address in addresses)
    ]
    return {
        "name": name,
        "type": discovery,
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        # Retries (of reads that never reached a service) at most 20% of the requests in flight.
        "circuit_breakers": {
            "thresholds": [{"retry_budget": {"budget_percent": {"value": 20.0}, "min_retry_concurrency": 3}}]
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                # A PING every second, answered within one: a connection to a host that vanished
                # (no FIN, no RST) is closed after at most 2 s, its streams reset, so reads in flight
                # on it are retried on another replica instead of waiting for their route timeout.
                "explicit_http_config": {
                    "http2_protocol_options": {"connection_keepalive": {"interval": "1s", "timeout": "1s"}}
                },
                # grpc servers count PINGs on a connection that carries no data as abuse and send
                # GOAWAY after the third (grpc.http2.max_ping_strikes): the edge closes a connection
                # idle for 2 s itself first, so no request ever races such a GOAWAY.
                "common_http_protocol_options": {"idle_timeout": "2s"},
            }
        },
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": endpoints}],
        },
        "outlier_detection": OUTLIER_DETECTION,
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


def jwks_cluster(uri: str, ca_file: Path | None = None) -> dict[str, Any]:
    """HTTP/1.1 to the OAuth provider, for its JWKS only; TLS (SNI, certificate and name checked)
    when the URI is https, against ca_file or the system's CA bundle."""
    endpoint = jwks_endpoint(uri)
    host, port, discovery = _host_port(f"{endpoint.hostname}:{endpoint.port}")
    cluster: dict[str, Any] = {
        "name": JWKS_CLUSTER,
        "type": discovery,
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": JWKS_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket_address(host, port)}}]}],
        },
    }
    if discovery == "STRICT_DNS":
        # Envoy's default (AUTO) takes an IPv6 address first when there is one: `localhost` became
        # ::1, where the provider did not listen. IPv4 first, IPv6 when a name has no IPv4 address.
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    if endpoint.scheme == "https":
        cluster["transport_socket"] = _tls_to(host, ca_file or SYSTEM_CA_FILE)
    return cluster


@dataclass(frozen=True)
class JwksEndpoint:
    scheme: str
    hostname: str
    port: int


def jwks_endpoint(uri: str) -> JwksEndpoint:
    """The scheme, host and port of a JWKS URI; ValueError for anything but an absolute http(s) URI."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the JWKS URI must be an absolute http or https URI, not {uri!r}")
    return JwksEndpoint(parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


def _tls_to(host: str, ca_file: Path) -> dict[str, Any]:
    """Upstream TLS that checks the provider's certificate: chain to ca_file, and a subject
    alternative name equal to the host (Envoy checks no name unless told). SNI names a host name
    only (RFC 6066: never an IP address)."""
    by_ip = _host_port(f"{host}:0")[2] == "STATIC"
    context: dict[str, Any] = {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": {
            "validation_context": {
                "trusted_ca": {"filename": str(ca_file)},
                "match_typed_subject_alt_names": [
                    {"san_type": "IP_ADDRESS" if by_ip else "DNS", "matcher": {"exact": host}}
                ],
            }
        },
    }
    if not by_ip:
        context["sni"] = host
    return {"name": "envoy.transport_sockets.tls", "typed_config": context}


def _discovery(kinds: Sequence[str]) -> str:
    """STATIC when every endpoint is an IP address; names (even one) make the cluster STRICT_DNS."""
    return "STATIC" if all(kind == "STATIC" for kind in kinds) else "STRICT_DNS"


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
