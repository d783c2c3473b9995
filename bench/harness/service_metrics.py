"""Counters read from the catalog workers' Prometheus endpoints (metrics port + worker index) and from
the Node reference's /_stats, before and after a run: cache hits and misses, calls per worker."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

LIST_PRODUCTS = "/farmlokal.catalog.v1.CatalogService/ListProducts"
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus text exposition -> (metric name, labels, value); comments skipped."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        labels = dict(_LABEL.findall(match.group("labels") or ""))
        samples.append((match.group("name"), labels, value))
    return samples


@dataclass(frozen=True)
class WorkerCounters:
    """What one catalog worker had counted: cache events by outcome, ListProducts calls."""

    cache: dict[str, float] = field(default_factory=dict)
    list_calls: float = 0.0


def worker_counters(text: str) -> WorkerCounters:
    cache: dict[str, float] = {}
    calls = 0.0
    for name, labels, value in parse_samples(text):
        if name == "farmlokal_cache_events_total":
            outcome = labels.get("outcome", "?")
            cache[outcome] = cache.get(outcome, 0.0) + value
        elif name == "farmlokal_rpc_duration_seconds_count" and labels.get("method") == LIST_PRODUCTS:
            calls += value
    return WorkerCounters(cache, calls)


def read_workers(metrics_port: int, workers: int, host: str = "127.0.0.1") -> list[WorkerCounters | None]:
    """One entry per worker (None: its metrics port did not answer)."""
    found: list[WorkerCounters | None] = []
    with httpx.Client(timeout=3.0, trust_env=False) as client:
        for index in range(workers):
            try:
                answer = client.get(f"http://{host}:{metrics_port + index}/metrics")
                found.append(worker_counters(answer.text) if answer.status_code == 200 else None)
            except httpx.HTTPError:
                found.append(None)
    return found


@dataclass(frozen=True)
class CounterDelta:
    """The difference of counters over a run: cache outcomes in total and calls per worker."""

    cache: dict[str, int]
    calls_per_worker: list[int | None]

    @property
    def hits(self) -> int:
        return self.cache.get("hit", 0) + self.cache.get("shared", 0)

    @property
    def misses(self) -> int:
        return self.cache.get("miss", 0)

    def describe(self) -> str:
        outcomes = ", ".join(f"{n:,} {k}" for k, n in sorted(self.cache.items()) if n) or "no cache events"
        workers = ", ".join(
            f"w{i + 1} {'?' if n is None else f'{n:,}'}" for i, n in enumerate(self.calls_per_worker)
        )
        return f"{outcomes}; ListProducts per worker: {workers}"


def worker_delta(before: list[WorkerCounters | None], after: list[WorkerCounters | None]) -> CounterDelta:
    cache: dict[str, int] = {}
    calls: list[int | None] = []
    for old, new in zip(before, after, strict=True):
        if old is None or new is None:
            calls.append(None)
            continue
        calls.append(round(new.list_calls - old.list_calls))
        for outcome, value in new.cache.items():
            cache[outcome] = cache.get(outcome, 0) + round(value - old.cache.get(outcome, 0.0))
    return CounterDelta(cache, calls)


def read_reference_stats(base_url: str) -> dict[str, int | str]:
    """The Node reference's GET /_stats (requests, cache_hits, cache_misses, db_queries, ...)."""
    with httpx.Client(timeout=3.0, trust_env=False) as client:
        answer: dict[str, int | str] = client.get(f"{base_url}/_stats").json()
    return answer


def reference_delta(before: Mapping[str, int | str], after: Mapping[str, int | str]) -> dict[str, int]:
    return {
        key: int(after[key]) - int(before.get(key, 0))
        for key in ("requests", "cache_hits", "cache_misses", "db_queries", "errors", "rate_limited")
        if isinstance(after.get(key), int)
    }


def cache_claim_problem(cached: bool, hits: int, misses: int, requests: int) -> str | None:
    """Why a run was not what it claims (None when it was): a cached run answers from the cache (a
    miss or two from a TTL running out are tolerated: at most 1%), an uncached one never does."""
    if cached:
        if requests and misses > max(1, requests // 100):
            return f"cached run had {misses:,} cache misses for {requests:,} requests"
        if requests and hits < requests // 2:
            return f"cached run had only {hits:,} cache hits for {requests:,} requests"
        return None
    if hits or misses:
        return f"uncached run touched the cache ({hits:,} hits, {misses:,} misses)"
    return None
