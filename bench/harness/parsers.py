"""Turns the output of ghz (-O json), wrk (with wrk_report.lua) and vegeta (report -type=json) into Figures."""

from __future__ import annotations

import json
import re
from typing import Any

from bench.harness.figures import Figures

NS_PER_MS = 1_000_000
US_PER_MS = 1_000
WRK_JSON_PREFIX = "WRK_JSON "


class ParseError(ValueError):
    """The tool's output did not have the expected shape; the message quotes what was missing."""


def parse_ghz(text: str) -> Figures:
    """ghz JSON: latencies in ns, `latencyDistribution` (null when every call failed), status counts."""
    try:
        report = json.loads(text)
        count = int(report["count"])
        total_ns = float(report["total"])
    except (ValueError, KeyError, TypeError) as error:
        raise ParseError(f"not a ghz JSON report: {error}") from error
    percentiles = {
        int(p["percentage"]): p["latency"] / NS_PER_MS for p in report.get("latencyDistribution") or []
    }
    statuses: dict[str, int] = dict(report.get("statusCodeDistribution") or {})
    error_kinds = {code: n for code, n in statuses.items() if code != "OK"}
    ok = statuses.get("OK", 0)
    return Figures(
        requests=count,
        duration_s=total_ns / 1e9,
        rps=float(report.get("rps") or 0.0),
        p50_ms=percentiles.get(50),
        p95_ms=percentiles.get(95),
        p99_ms=percentiles.get(99),
        max_ms=report["slowest"] / NS_PER_MS if percentiles else None,
        errors=count - ok,
        error_kinds=error_kinds,
    )


def parse_wrk(text: str) -> Figures:
    """wrk stdout. The WRK_JSON line printed by wrk_report.lua is exact; without it, the --latency text."""
    for line in text.splitlines():
        if line.startswith(WRK_JSON_PREFIX):
            return _wrk_from_json(json.loads(line[len(WRK_JSON_PREFIX) :]))
    return _wrk_from_text(text)


def _wrk_from_json(data: dict[str, Any]) -> Figures:
    duration_s = data["duration_us"] / 1e6
    kinds = {
        kind: int(data[f"errors_{kind}"])
        for kind in ("connect", "read", "write", "status", "timeout")
        if data.get(f"errors_{kind}")
    }
    return Figures(
        requests=int(data["requests"]),
        duration_s=duration_s,
        rps=data["requests"] / duration_s if duration_s else 0.0,
        p50_ms=data["p50_us"] / US_PER_MS,
        p95_ms=data["p95_us"] / US_PER_MS,
        p99_ms=data["p99_us"] / US_PER_MS,
        max_ms=data["latency_max_us"] / US_PER_MS,
        errors=sum(kinds.values()),
        error_kinds=kinds,
    )


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_DURATION = r"([\d.]+)(us|ms|s|m)"


def _wrk_from_text(text: str) -> Figures:
    done = re.search(r"(\d+) requests in " + _DURATION, text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not done or not rps:
        raise ParseError("no 'N requests in T' / 'Requests/sec:' lines in wrk output")
    percentiles = {
        int(m.group(1)): float(m.group(2)) * _UNITS_MS[m.group(3)]
        for m in re.finditer(r"^\s+(\d+)%\s+" + _DURATION + r"\s*$", text, re.MULTILINE)
    }
    latency = re.search(r"Latency\s+\S+\s+\S+\s+" + _DURATION, text)
    kinds: dict[str, int] = {}
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if socket:
        for kind, value in zip(("connect", "read", "write", "timeout"), socket.groups(), strict=True):
            if int(value):
                kinds[kind] = int(value)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non_2xx:
        kinds["status"] = int(non_2xx.group(1))
    return Figures(
        requests=int(done.group(1)),
        duration_s=float(done.group(2)) * _UNITS_MS[done.group(3)] / 1000,
        rps=float(rps.group(1)),
        p50_ms=percentiles.get(50),
        p95_ms=None,  # plain wrk prints 50/75/90/99 only
        p99_ms=percentiles.get(99),
        max_ms=float(latency.group(1)) * _UNITS_MS[latency.group(2)] if latency else None,
        errors=sum(kinds.values()),
        error_kinds=kinds,
    )


def parse_vegeta(text: str) -> Figures:
    """`vegeta report -type=json`: latencies in ns, status_codes by code ("0" is a transport error)."""
    try:
        report = json.loads(text)
        latencies = report["latencies"]
        requests = int(report["requests"])
    except (ValueError, KeyError, TypeError) as error:
        raise ParseError(f"not a vegeta JSON report: {error}") from error
    elapsed_s = (report.get("duration", 0) + report.get("wait", 0)) / 1e9
    codes: dict[str, int] = dict(report.get("status_codes") or {})
    kinds = {f"http {code}": n for code, n in codes.items() if not code.startswith("2")}
    errors = sum(kinds.values())
    has_latency = requests > 0
    return Figures(
        requests=requests,
        duration_s=elapsed_s,
        rps=requests / elapsed_s if elapsed_s else 0.0,
        p50_ms=latencies["50th"] / NS_PER_MS if has_latency else None,
        p95_ms=latencies["95th"] / NS_PER_MS if has_latency else None,
        p99_ms=latencies["99th"] / NS_PER_MS if has_latency else None,
        max_ms=latencies["max"] / NS_PER_MS if has_latency else None,
        errors=errors,
        error_kinds=kinds,
    )
