"""Where the scenarios send load: the harness's own stack, or an existing deployment named by flags/env."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

# `--target dev`: the ports `make up` uses (devstack.stack defaults).
DEV_TARGET = (
    "rest=http://127.0.0.1:8080,grpc=127.0.0.1:15051,webhook=127.0.0.1:15052,auth=127.0.0.1:15053,"
    "sandbox=http://127.0.0.1:18090"
)
ENV_KEYS = {
    "rest": "BENCH_REST_URL",
    "grpc": "BENCH_CATALOG_GRPC",
    "uncached": "BENCH_UNCACHED_GRPC",
    "reference": "BENCH_REFERENCE_URL",
    "webhook": "BENCH_WEBHOOK_GRPC",
    "auth": "BENCH_AUTH_GRPC",
    "sandbox": "BENCH_SANDBOX_URL",
}
# Several auth processes of one deployment (B7's cold start): auth=HOST:PORT+HOST:PORT+HOST:PORT.
ADDRESS_SEPARATOR = "+"


class TargetError(ValueError):
    """The target specification cannot be used; the message says which part and why."""


@dataclass(frozen=True)
class Target:
    """Addresses of one deployment. `uncached` is a catalog instance with CATALOG_CACHE_ENABLED=false;
    `reference` is an Envoy in front of bench/reference_server.py (started locally when absent).
    `auth_replicas` are every auth process given (the first is `auth_grpc`); `sandbox_url` is the OAuth2
    provider those processes fetch tokens from (its /_sandbox/oauth/ controls and counters)."""

    rest_url: str
    catalog_grpc: str
    uncached_grpc: str
    reference_url: str | None = None
    webhook_grpc: str | None = None
    auth_grpc: str | None = None
    auth_replicas: tuple[str, ...] = ()
    sandbox_url: str | None = None
    own_stack: bool = False
    catalog_workers: int = 2

    @property
    def uncached_is_separate(self) -> bool:
        return self.uncached_grpc != self.catalog_grpc

    def with_reference(self, url: str) -> Target:
        return replace(self, reference_url=url)

    def describe(self) -> dict[str, object]:
        return {
            "own_stack": self.own_stack,
            "rest": self.rest_url,
            "catalog_grpc": self.catalog_grpc,
            "uncached_grpc": self.uncached_grpc,
            "reference": self.reference_url,
            "webhook_grpc": self.webhook_grpc,
            "auth_grpc": self.auth_grpc,
            "auth_replicas": list(self.auth_replicas),
            "sandbox": self.sandbox_url,
            "catalog_workers": self.catalog_workers,
        }


def parse_target(spec: str | None, env: Mapping[str, str]) -> Target | None:
    """`--target` (KEY=VALUE,... or a bare REST URL, or `dev`) over BENCH_* env; None: own stack."""
    values = {key: env[var] for key, var in ENV_KEYS.items() if env.get(var)}
    if spec:
        if spec.strip() == "dev":
            spec = DEV_TARGET
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key, sep, value = item.partition("=")
            if not sep and "://" in item:
                key, value = "rest", item
            elif not sep or key not in ENV_KEYS:
                raise TargetError(
                    f"bad --target item {item!r}: use {', '.join(ENV_KEYS)}=VALUE or a REST URL"
                )
            values[key.strip()] = value.strip()
    if not values:
        return None
    if "rest" not in values or "grpc" not in values:
        raise TargetError(
            "an existing deployment needs at least rest=URL and grpc=HOST:PORT (or BENCH_* env)"
        )
    workers = int(env.get("BENCH_CATALOG_WORKERS", "2"))
    auth = [a.strip() for a in values.get("auth", "").split(ADDRESS_SEPARATOR) if a.strip()]
    sandbox = values.get("sandbox")
    return Target(
        rest_url=values["rest"].rstrip("/"),
        catalog_grpc=values["grpc"],
        uncached_grpc=values.get("uncached", values["grpc"]),
        reference_url=values.get("reference"),
        webhook_grpc=values.get("webhook"),
        auth_grpc=auth[0] if auth else None,
        auth_replicas=tuple(auth),
        sandbox_url=sandbox.rstrip("/") if sandbox else None,
        catalog_workers=workers,
    )
