"""B7: TokenBrokerService.GetAccessToken, cache hit and cold start (benchmarks.md, reliability.md OAuth2 row).

- Cache hit: one warm-up call, then ghz at a fixed 500 req/s (tests/load/ghz/token_broker_cache_hit.json)
  and at saturation (token_broker_saturation.json); the provider's counters show no call during them.
- Cold start: three auth processes sharing one Redis, the cached token dropped (InvalidateToken with
  its fingerprint), the provider's counters reset, then 50 concurrent callers on each process at once
  (token_broker_cold_start.json: `total` 50, concurrency 50). The provider answers after
  COLD_START_PROVIDER_LATENCY_S, so every caller is in flight before the first token exists (as in
  tests/e2e/test_auth_broker_processes.py). The sandbox's /_sandbox/oauth/counters must then show
  exactly one token request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc
import httpx
from farmlokal.auth.v1 import auth_internal_pb2 as auth_pb2
from farmlokal.auth.v1 import auth_internal_pb2_grpc as auth_pb2_grpc

from bench.harness.figures import (
    FAIL,
    NOT_APPLICABLE,
    Measurement,
    Row,
    fail_on_errors,
    merge_concurrent,
    verdict,
)
from bench.harness.loadgen import GhzRun, run_ghz, run_ghz_together
from bench.harness.scenarios.context import Context

NOT_MEASURABLE = "not measurable"
CACHE_HIT_RATE = 500
CACHE_HIT_P99_MS = 5.0
SATURATION_CONCURRENCY = 32
CONNECTIONS = 4
COLD_PROCESSES = 3
COLD_CALLERS = 50
COLD_START_PROVIDER_LATENCY_S = 0.3
COLD_TIMEOUT_S = 20.0
CALL_TIMEOUT_S = 10.0


def run_b7(ctx: Context) -> list[Row]:
    target = ctx.target
    if not target.auth_grpc:
        return [
            _unmeasurable("cache hit", "no auth address: give auth=HOST:PORT or BENCH_AUTH_GRPC"),
            _unmeasurable("cold start", "no auth address: give auth=HOST:PORT or BENCH_AUTH_GRPC"),
        ]
    workdir = ctx.workdir / "B7"
    sandbox = Sandbox(target.sandbox_url) if target.sandbox_url else None
    _get_token(target.auth_grpc)  # warm-up: the token is cached from here on
    before = sandbox.token_requests() if sandbox else None
    ctx.say(f"B7: cache hit, ghz {CACHE_HIT_RATE} req/s {ctx.durations.fixed_rate:g}s")
    fixed = run_ghz(
        ctx.tools,
        GhzRun(
            "cache-hit",
            "token_broker_cache_hit",
            target.auth_grpc,
            [{}],
            ctx.durations.fixed_rate,
            concurrency=16,
            connections=CONNECTIONS,
            rps=CACHE_HIT_RATE,
            skip_first=CACHE_HIT_RATE // 2,
        ),
        workdir,
    )
    ctx.say(f"B7: cache hit, ghz saturation c={SATURATION_CONCURRENCY} {ctx.durations.saturation:g}s")
    saturation = run_ghz(
        ctx.tools,
        GhzRun(
            "saturation",
            "token_broker_saturation",
            target.auth_grpc,
            [{}],
            ctx.durations.saturation,
            concurrency=SATURATION_CONCURRENCY,
            connections=CONNECTIONS,
        ),
        workdir,
    )
    after = sandbox.token_requests() if sandbox else None
    during = None if before is None or after is None else after["total"] - before["total"]
    rows = [_cache_hit_row(fixed, during), _saturation_row(saturation, during)]
    rows.append(_cold_start(ctx, sandbox, workdir))
    return rows


class Sandbox:
    """The OAuth2 provider's test controls and counters (sandbox/oauth.py)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def control(self, name: str, **body: Any) -> None:
        with httpx.Client(trust_env=False, timeout=5) as http:
            http.post(f"{self.url}/_sandbox/oauth/{name}", json=body).raise_for_status()

    def token_requests(self) -> dict[str, Any]:
        with httpx.Client(trust_env=False, timeout=5) as http:
            answer = http.get(f"{self.url}/_sandbox/oauth/counters")
        answer.raise_for_status()
        return dict(answer.json()["token_requests"])


def _get_token(address: str) -> auth_pb2.GetAccessTokenResponse:
    with grpc.insecure_channel(address) as channel:
        stub = auth_pb2_grpc.TokenBrokerServiceStub(channel)
        return stub.GetAccessToken(auth_pb2.GetAccessTokenRequest(), timeout=CALL_TIMEOUT_S)


def _invalidate(address: str, fingerprint: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        stub = auth_pb2_grpc.TokenBrokerServiceStub(channel)
        answer = stub.InvalidateToken(
            auth_pb2.InvalidateTokenRequest(fingerprint=fingerprint), timeout=CALL_TIMEOUT_S
        )
    return bool(answer.invalidated)


def _cold_addresses(ctx: Context) -> list[str]:
    target = ctx.target
    addresses = [a for a in (target.auth_replicas or (target.auth_grpc,)) if a]
    if ctx.stack is not None and len(addresses) < COLD_PROCESSES:
        ctx.say(f"B7: starting {COLD_PROCESSES - len(addresses)} more auth process(es) for the cold start")
        addresses += ctx.stack.start_auth_replicas(COLD_PROCESSES - len(addresses))
    return addresses


def _cold_start(ctx: Context, sandbox: Sandbox | None, workdir: Any) -> Row:
    if sandbox is None:
        return _unmeasurable(
            "cold start",
            "no sandbox URL: give sandbox=URL or BENCH_SANDBOX_URL (the OAuth2 provider the auth "
            "processes call; its /_sandbox/oauth/counters are the truth about provider calls)",
        )
    addresses = _cold_addresses(ctx)
    for address in addresses:
        _get_token(address)  # each answers (and the processes share one cache: none calls the provider)
    token = _get_token(addresses[0])
    sandbox.control("reset")
    sandbox.control("latency", seconds=COLD_START_PROVIDER_LATENCY_S)
    try:
        dropped = _invalidate(addresses[0], token.fingerprint)
        ctx.say(
            f"B7: cold start, {len(addresses)} processes x {COLD_CALLERS} concurrent callers"
            f" (cached token dropped: {dropped}; provider latency {COLD_START_PROVIDER_LATENCY_S:g} s)"
        )
        runs = [
            GhzRun(
                f"cold-start-{index}",
                "token_broker_cold_start",
                address,
                [{}],
                COLD_TIMEOUT_S,
                concurrency=COLD_CALLERS,
                connections=5,
                total=COLD_CALLERS,
            )
            for index, address in enumerate(addresses)
        ]
        measurements = run_ghz_together(ctx.tools, runs, workdir)
        counters = sandbox.token_requests()
    finally:
        sandbox.control("latency", seconds=0)
    return cold_start_row(measurements, counters, len(addresses), dropped)


def cold_start_row(
    measurements: list[Measurement], counters: Mapping[str, Any], processes: int, dropped: bool
) -> Row:
    """Exactly one provider call (an issued token) for every caller of every process, no errors."""
    figures = merge_concurrent([m.figures for m in measurements])
    calls = int(counters.get("total", -1))
    outcomes = dict(counters.get("by_outcome") or {})
    ok = calls == 1 and outcomes == {"issued": 1}
    note = (
        f"provider calls: {calls} ({', '.join(f'{k} {v}' for k, v in sorted(outcomes.items())) or 'none'});"
        f" {processes} processes x {COLD_CALLERS} callers started together; provider latency"
        f" {COLD_START_PROVIDER_LATENCY_S:g} s; latencies: the worst process's percentiles"
    )
    if calls == 0:
        note += "; the cache was not empty when the callers came (another client refilled it?)"
    if not dropped:
        note += "; InvalidateToken found no token to drop"
    measured = Measurement(
        "ghz",
        f"{processes} x {COLD_CALLERS} calls, c={COLD_CALLERS} each",
        figures,
        [part for m in measurements for part in [*m.command, ";"]][:-1],
        {"per_process": [m.to_dict() for m in measurements]},
    )
    row = Row(
        id="B7",
        scenario="GetAccessToken cold start",
        bar=f"{COLD_PROCESSES} processes x {COLD_CALLERS} callers -> exactly 1 provider call",
        verdict=verdict(ok),
        measurement=measured,
        reference_text=f"{calls} provider call(s)",
        note=note,
        extra={"provider_calls": calls, "by_outcome": outcomes, "processes": processes},
    )
    if processes < COLD_PROCESSES:
        row.note += f"; only {processes} auth process(es) given (auth=A+B+C): not the bar's setting"
        row.verdict = FAIL if not ok else NOT_APPLICABLE
    return fail_on_errors(row)


def _cache_hit_row(measured: Measurement, provider_calls: int | None) -> Row:
    p99 = measured.figures.p99_ms
    row = Row(
        id="B7",
        scenario="GetAccessToken cache hit, fixed rate",
        bar=f"p99 <= {CACHE_HIT_P99_MS:g} ms",
        verdict=verdict(p99 is not None and p99 <= CACHE_HIT_P99_MS),
        measurement=measured,
        note=_provider_note(provider_calls),
        extra={"provider_calls_during_cache_runs": provider_calls},
    )
    return fail_on_errors(row)


def _saturation_row(measured: Measurement, provider_calls: int | None) -> Row:
    row = Row(
        id="B7",
        scenario="GetAccessToken cache hit, saturation",
        bar="reported (no bar)",
        verdict=NOT_APPLICABLE,
        measurement=measured,
        note=f"c={SATURATION_CONCURRENCY} over {CONNECTIONS} connections to one process",
    )
    return fail_on_errors(row)


def _provider_note(calls: int | None) -> str:
    if calls is None:
        return "provider calls during the cache-hit runs not counted (no sandbox URL)"
    return f"provider calls during the cache-hit runs: {calls}"


def _unmeasurable(label: str, why: str) -> Row:
    return Row(
        id="B7",
        scenario=f"GetAccessToken {label}",
        bar=f"p99 <= {CACHE_HIT_P99_MS:g} ms" if label == "cache hit" else "exactly 1 provider call",
        verdict=NOT_MEASURABLE,
        note=why,
    )
