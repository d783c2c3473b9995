"""The bench's CPU accounting (/proc parsing, worker expansion, per-request figures), the counters it
reads (Prometheus text, the Node reference's /_stats), B8's page comparison and rows, B9's rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.harness import proc_cpu, rest_pages, service_metrics
from bench.harness.accounting import Accounted, CpuRecord, requests_served
from bench.harness.figures import FAIL, NOT_APPLICABLE, PASS, Figures, Measurement
from bench.harness.scenarios.cpu import idle_row, record_row
from bench.harness.scenarios.peer_rows import pair_row

# /proc/<pid>/stat of a thread-named process: the name holds spaces and parentheses.
STAT = (
    "4242 (grpc (worker) 1) S 4200 4200 4200 0 -1 4194624 9000 0 0 0 1234 567 0 0 20 0 9 0 100 "
    "1000000 5000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
)


def test_parse_stat_counts_fields_from_the_last_parenthesis() -> None:
    stat = proc_cpu.parse_stat(STAT)
    assert (stat.pid, stat.ppid, stat.cpu_ticks) == (4242, 4200, 1234 + 567)


def test_parse_stat_rejects_what_is_not_a_stat_line() -> None:
    with pytest.raises(ValueError):
        proc_cpu.parse_stat("not a stat line")


def test_expand_names_children_as_workers_in_pid_order() -> None:
    stats = [
        proc_cpu.ProcStat(10, 1, 5),
        proc_cpu.ProcStat(12, 10, 7),
        proc_cpu.ProcStat(11, 10, 3),
        proc_cpu.ProcStat(20, 1, 1),
    ]
    expanded = proc_cpu.expand({"catalog": 10, "redis": 20}, stats)
    assert expanded == {"catalog": 10, "catalog worker 1": 11, "catalog worker 2": 12, "redis": 20}


def _fake_proc(tmp_path: Path, ticks: dict[int, tuple[int, int]]) -> Path:
    for pid, (ppid, cpu) in ticks.items():
        (tmp_path / str(pid)).mkdir(exist_ok=True)
        line = f"{pid} (p) S {ppid} 0 0 0 -1 0 0 0 0 0 {cpu} 0 0 0 20 0 1 0 1 1 1"
        (tmp_path / str(pid) / "stat").write_text(line)
    (tmp_path / "self").mkdir(exist_ok=True)
    return tmp_path


def test_snapshot_and_difference_per_label(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, {10: (1, 100), 11: (10, 200), 20: (1, 50)})
    before = proc_cpu.snapshot({"catalog": 10, "redis": 20}, proc)
    proc = _fake_proc(tmp_path, {10: (1, 100), 11: (10, 300), 20: (1, 60)})
    after = proc_cpu.snapshot({"catalog": 10, "redis": 20}, proc)
    spent = proc_cpu.difference(before, after)
    tick = 1 / proc_cpu.TICKS_PER_S
    assert spent == pytest.approx({"catalog": 0.0, "catalog worker 1": 100 * tick, "redis": 10 * tick})


def test_per_request_counts_only_the_groups_on_the_path() -> None:
    usage = proc_cpu.CpuUsage(
        {"edge": 1.0, "catalog worker 1": 0.5, "catalog worker 2": 0.5, "webhook worker 1": 9.0},
        wall_s=10.0,
        loadgen_s=0.2,
    )
    per_request = usage.per_request_ms(1000, ("edge", "catalog"))
    assert per_request == {"catalog worker 1": 0.5, "catalog worker 2": 0.5, "edge": 1.0}
    assert proc_cpu.total_ms(per_request) == 2.0
    assert usage.cores_busy("webhook worker 1") == pytest.approx(0.9)


def _measurement(rps: float = 100.0, p95: float = 5.0, p99: float = 8.0, tool: str = "wrk") -> Measurement:
    figures = Figures(1000, 10.0, rps, 2.0, p95, p99, 20.0, 0)
    config = {"skipFirst": 25} if tool == "ghz" else None
    return Measurement(tool, "load", figures, ["tool"], config, loadgen_cpu_s=0.1)


def test_requests_served_counts_what_ghz_skipped() -> None:
    assert requests_served(_measurement(tool="ghz")) == 1025
    assert requests_served(_measurement(tool="wrk")) == 1000


METRICS = """# HELP farmlokal_cache_events_total Response cache lookups by outcome
# TYPE farmlokal_cache_events_total counter
farmlokal_cache_events_total{cache="catalog",outcome="hit"} 120.0
farmlokal_cache_events_total{cache="catalog",outcome="miss"} 3.0
farmlokal_rpc_duration_seconds_count{method="/farmlokal.catalog.v1.CatalogService/ListProducts",code="OK"} 123.0
farmlokal_rpc_duration_seconds_count{method="/farmlokal.catalog.v1.CatalogService/GetProduct",code="OK"} 9.0
"""


def test_worker_counters_from_prometheus_text() -> None:
    counters = service_metrics.worker_counters(METRICS)
    assert counters.cache == {"hit": 120.0, "miss": 3.0}
    assert counters.list_calls == 123.0


def test_worker_delta_sums_cache_events_and_keeps_calls_per_worker() -> None:
    before = [service_metrics.WorkerCounters({"hit": 10.0}, 10.0), service_metrics.WorkerCounters({}, 0.0)]
    after = [
        service_metrics.WorkerCounters({"hit": 60.0, "miss": 1.0}, 61.0),
        service_metrics.WorkerCounters({"hit": 40.0}, 40.0),
    ]
    delta = service_metrics.worker_delta(before, after)
    assert (delta.hits, delta.misses, delta.calls_per_worker) == (90, 1, [51, 40])
    assert "w1 51, w2 40" in delta.describe()
    missing = service_metrics.worker_delta([None], [service_metrics.WorkerCounters({}, 5.0)])
    assert missing.calls_per_worker == [None]


def test_reference_stats_delta() -> None:
    before = {"requests": 10, "cache_hits": 5, "cache_misses": 5, "cache": "on"}
    after = {"requests": 110, "cache_hits": 105, "cache_misses": 5, "cache": "on"}
    assert service_metrics.reference_delta(before, after) == {
        "requests": 100,
        "cache_hits": 100,
        "cache_misses": 0,
    }


@pytest.mark.parametrize(
    ("cached", "hits", "misses", "requests", "problem"),
    [
        (True, 1000, 0, 1000, None),
        (True, 995, 5, 1000, None),
        (True, 900, 100, 1000, "cache misses"),
        (True, 0, 0, 1000, "only 0 cache hits"),
        (False, 0, 0, 1000, None),
        (False, 3, 0, 1000, "touched the cache"),
    ],
)
def test_cache_claims(cached: bool, hits: int, misses: int, requests: int, problem: str | None) -> None:
    found = service_metrics.cache_claim_problem(cached, hits, misses, requests)
    assert (found is None) if problem is None else (found is not None and problem in found)


def _page(*ids: int, more: bool = True, price: str = "12.50") -> dict[str, object]:
    products = [
        {
            "id": str(i),
            "name": f"n{i}",
            "description": "d",
            "category": "c",
            "price": price,
            "stock": 1,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
        for i in ids
    ]
    return {"products": products, "next_cursor": "x", "has_more": more}


def test_pages_compare_values_not_spelling() -> None:
    ours = _page(1, 2)
    theirs = _page(1, 2, price="12.5")
    for product in theirs["products"]:  # type: ignore[attr-defined]
        product["id"] = int(product["id"])
    assert rest_pages.difference(ours, theirs) is None


@pytest.mark.parametrize(
    ("theirs", "expected"),
    [
        (_page(1), "2 products against the reference's 1"),
        (_page(1, 3), "product 2 differs in id, name"),
        (_page(1, 2, more=False), "has_more True"),
        (_page(1, 2, price="13.00"), "differs in price"),
    ],
)
def test_pages_that_differ_say_how(theirs: dict[str, object], expected: str) -> None:
    found = rest_pages.difference(_page(1, 2), theirs)
    assert found is not None and expected in found


def _accounted(measurement: Measurement, hits: int | None, misses: int | None) -> Accounted:
    return Accounted(measurement, hits, misses, "counters", [500, 500])


def test_pair_row_throughput_ratio_and_bar() -> None:
    ours = _accounted(_measurement(rps=300.0), 1000, 0)
    ref = _accounted(_measurement(rps=200.0), 1000, 0)
    row = pair_row("uncached first pages, saturation", [ours, ref], "rps", 1.5)
    # "uncached" in the title: a cached claim is not expected, and these hits contradict it.
    assert row.ratio == pytest.approx(1.5) and row.verdict == FAIL and "touched the cache" in row.note
    row = pair_row("cached first pages, saturation", [ours, ref], "rps", 1.0)
    assert row.verdict == PASS and row.reference_text == "200 req/s"


def test_pair_row_latency_bars() -> None:
    ours, ref = _accounted(_measurement(p99=8.0), 1000, 0), _accounted(_measurement(p99=10.0), 1000, 0)
    assert pair_row("cached, 300 req/s", [ours, ref], "p99", 1.0).verdict == PASS
    assert pair_row("cached, 300 req/s", [ref, ours], "p99", 1.0).verdict == FAIL
    none = (_accounted(_measurement(p95=12.0), None, None), _accounted(_measurement(), None, None))
    assert pair_row("uncached deep, 100 req/s", list(none), "p95").verdict == NOT_APPLICABLE
    assert pair_row("uncached deep, 200 req/s", list(none), "p95", absolute_ms=10.0).verdict == FAIL


def _record(side: str, scenario: str, seconds: dict[str, float]) -> CpuRecord:
    usage = proc_cpu.CpuUsage(seconds, 10.0, 0.05)
    groups = tuple({proc_cpu.group_of(label) for label in seconds})
    return CpuRecord(scenario, side, groups, 1000, usage, True, [600, 400])


def test_b9_record_row_against_the_bar_and_the_reference() -> None:
    ours = _record("ours", "B8 cached saturation", {"edge": 0.4, "catalog worker 1": 0.3, "redis": 0.1})
    ref = _record("Node reference", "B8 cached saturation", {"reference-node": 0.4})
    row = record_row(ours, ref)
    assert row.verdict == PASS and row.extra["total_ms"] == pytest.approx(0.8)
    assert row.ratio == pytest.approx(2.0) and "worker 1: 600, worker 2: 400" in row.note
    assert "load generator 0.050" in row.note
    slow = _record("ours", "B8 uncached first pages", {"catalog-uncached worker 1": 4.0})
    assert record_row(slow, None).verdict == FAIL


def test_b9_idle_row_applies_the_bar_to_our_services_only() -> None:
    usage = proc_cpu.CpuUsage(
        {"mariadb": 0.5, "catalog worker 1": 0.05, "webhook worker 1": 0.05}, 10.0, None
    )
    assert idle_row(usage).verdict == PASS  # mariadb's 5% is reported, not judged
    busy = proc_cpu.CpuUsage({"webhook worker 1": 0.3}, 10.0, None)
    row = idle_row(busy)
    assert row.verdict == FAIL and "webhook worker 1 3.00%" in row.note
