"""B6/B7 logic of the bench harness without a stack: signed targets, counting answers, the delivery
check, merging concurrent ghz runs, the cold-start verdict, the target's auth/sandbox entries."""

from __future__ import annotations

import base64
import json
import time

import pytest

from bench.harness import webhooks as wh
from bench.harness.figures import FAIL, NOT_APPLICABLE, PASS, Figures, Measurement, merge_concurrent
from bench.harness.loadgen import GhzRun, ghz_config
from bench.harness.scenarios.token_broker import cold_start_row
from bench.harness.stack import WEBHOOK_SECRET
from bench.harness.target import parse_target
from webhook_service import signature as sig
from webhook_service.inbound import parse_source_secrets

KEY = sig.secret_key(WEBHOOK_SECRET)


def _result(code: int, body: dict | None = None, error: str = "") -> str:
    encoded = base64.b64encode(json.dumps(body).encode()).decode() if body is not None else None
    return json.dumps({"seq": 0, "code": code, "error": error, "body": encoded})


def _figures(requests=100, duration=2.0, p99=3.0, errors=0, kinds=None) -> Figures:
    return Figures(requests, duration, requests / duration, 1.0, 2.0, p99, p99 + 1, errors, kinds or {})


def test_targets_verify_with_the_services_own_check_and_secret_setting():
    now = int(time.time())
    targets = list(wh.distinct_targets("http://edge/v1/webhooks/supplier", KEY, "ab12", "f", 3, now))
    assert [t["header"]["webhook-id"][0] for t in targets] == [
        "bench-ab12-f0",
        "bench-ab12-f1",
        "bench-ab12-f2",
    ]
    (service_key,) = parse_source_secrets(f"supplier={WEBHOOK_SECRET}")["supplier"]
    for target in targets:
        body = base64.b64decode(target["body"])
        headers = {name: values[0] for name, values in target["header"].items()}
        sig.verify([service_key], sig.parse_headers(headers), body)  # raises when it would be a 401
        document = json.loads(body)
        assert document["type"] == "product.upserted"
        assert document["data"]["external_id"] == headers["webhook-id"]
        assert target["method"] == "POST" and headers["content-type"] == "application/json"


def test_a_target_signed_six_minutes_ago_is_refused():
    target = wh.duplicate_target("http://edge/x", KEY, "ab12", int(time.time()) - 360)
    headers = {name: values[0] for name, values in target["header"].items()}
    with pytest.raises(sig.InvalidSignature):
        sig.verify([KEY], sig.parse_headers(headers), base64.b64decode(target["body"]))


def test_event_bodies_pass_the_catalogs_product_rules():
    from catalog_service.product_input import product_fields

    data = json.loads(wh.event_body("ab12", "bench-ab12-f7", 7))["data"]
    fields = product_fields(
        data["external_id"], data["name"], data["description"], data["category"], data["price"], data["stock"]
    )
    assert fields.external_id == "bench-ab12-f7"


def test_write_targets_writes_one_json_line_each(tmp_path):
    path = tmp_path / "t.jsonl"
    count = wh.write_targets(path, wh.distinct_targets("http://e/x", KEY, "r", "f", 4, 1))
    assert count == 4
    assert [json.loads(line)["header"]["webhook-id"] for line in path.read_text().splitlines()] == [
        ["bench-r-f0"],
        ["bench-r-f1"],
        ["bench-r-f2"],
        ["bench-r-f3"],
    ]


def test_receipts_count_statuses_from_bodies_and_skip_the_end_of_targets_marker():
    lines = [
        _result(200, {"event_id": "a", "status": "accepted"}),
        _result(200, {"event_id": "b", "status": "accepted"}),
        _result(200, {"event_id": "a", "status": "duplicate"}),
        _result(200, {"event_id": "a", "status": "duplicate"}),
        _result(503, {"code": 14}),
        _result(0, None, "Post: read: connection reset by peer"),
        _result(200, None),
        "",
        _result(0, None, wh.EXHAUSTED),
    ]
    receipts = wh.count_receipts(lines)
    assert receipts.accepted_ids == ["a", "b"]
    assert receipts.duplicates == 2
    assert receipts.exhausted == 1
    assert receipts.other == {
        "http 503": 1,
        "error Post: read: connection reset by peer": 1,
        "200 with an unreadable body": 1,
    }
    assert receipts.to_dict()["accepted"] == 2


def test_the_end_of_targets_marker_is_not_an_error_in_the_figures():
    figures = _figures(requests=101, duration=2.0, errors=2, kinds={"http 0": 1, "http 503": 1})
    fixed = wh.without_exhaustion(figures, 1)
    assert (fixed.requests, fixed.errors, fixed.error_kinds) == (100, 1, {"http 503": 1})
    assert fixed.rps == 50.0
    assert wh.without_exhaustion(figures, 0) is figures


def test_delivery_check_passes_when_every_accepted_event_was_processed_once():
    events = {i: wh.StoredEvent("processed", 1) for i in ("a", "b")}
    check = wh.check_delivery(["a", "b"], events, {"a": 1, "b": 1})
    assert check.ok
    assert check.summary() == "2 rows for 2 accepted; none lost, none processed twice"


@pytest.mark.parametrize(
    ("accepted", "events", "products", "problem"),
    [
        (["a", "b"], {"a": ("processed", 1)}, {"a": 1}, "1 lost"),
        (["a", "a"], {"a": ("processed", 1)}, {"a": 1}, "1 accepted twice"),
        (["a"], {"a": ("processed", 2)}, {"a": 1}, "1 with attempts > 1"),
        (["a"], {"a": ("failed", 1)}, {}, "1 not processed"),
        (["a"], {"a": ("pending", 0)}, {}, "1 not processed"),
        (["a"], {"a": ("processed", 1)}, {}, "1 without a product"),
        (["a"], {"a": ("processed", 1)}, {"a": 2}, "1 with several products"),
        (["a"], {"a": ("processed", 1), "b": ("processed", 1)}, {"a": 1, "b": 1}, "1 stored without"),
    ],
)
def test_delivery_check_fails_on_each_kind_of_problem(accepted, events, products, problem):
    stored = {k: wh.StoredEvent(*v) for k, v in events.items()}
    check = wh.check_delivery(accepted, stored, products)
    assert not check.ok
    assert problem in check.summary()


def test_delivery_check_without_catalog_access_says_so():
    check = wh.check_delivery(["a"], {"a": wh.StoredEvent("processed", 1)}, None)
    assert check.ok
    assert "catalog rows not checked" in check.summary()
    assert check.to_dict()["products_checked"] is False


def test_concurrent_runs_add_counts_and_keep_the_worst_percentiles():
    merged = merge_concurrent(
        [_figures(50, 0.4, 300.0), _figures(50, 0.5, 360.0, 1, {"UNAVAILABLE": 1}), _figures(50, 0.3, 320.0)]
    )
    assert merged.requests == 150
    assert merged.duration_s == 0.5
    assert merged.rps == 300.0
    assert merged.p99_ms == 360.0
    assert (merged.errors, merged.error_kinds) == (1, {"UNAVAILABLE": 1})


def _cold(counters: dict, processes: int = 3, errors: int = 0):
    kinds = {"UNAVAILABLE": errors} if errors else {}
    measurements = [
        Measurement("ghz", "50 calls, c=50", _figures(50, 0.4, 350.0, errors, kinds), ["ghz"], {})
        for _ in range(processes)
    ]
    return cold_start_row(measurements, counters, processes, True)


def test_cold_start_passes_with_exactly_one_issued_token():
    row = _cold({"total": 1, "by_outcome": {"issued": 1}})
    assert row.verdict == PASS
    assert row.measurement.figures.requests == 150
    assert row.extra["provider_calls"] == 1


@pytest.mark.parametrize(
    ("counters", "hint"),
    [
        ({"total": 3, "by_outcome": {"issued": 3}}, "provider calls: 3"),
        ({"total": 0, "by_outcome": {}}, "cache was not empty"),
        ({"total": 1, "by_outcome": {"invalid_client": 1}}, "invalid_client 1"),
    ],
)
def test_cold_start_fails_on_any_other_provider_count(counters, hint):
    row = _cold(counters)
    assert row.verdict == FAIL
    assert hint in row.note


def test_cold_start_with_caller_errors_fails_and_with_too_few_processes_is_not_the_bar():
    assert _cold({"total": 1, "by_outcome": {"issued": 1}}, errors=2).verdict == FAIL
    row = _cold({"total": 1, "by_outcome": {"issued": 1}}, processes=1)
    assert row.verdict == NOT_APPLICABLE
    assert "only 1 auth process" in row.note


def test_ghz_config_keeps_total_for_a_counted_run_and_drops_it_for_a_timed_one():
    counted = ghz_config(
        GhzRun("cold", "token_broker_cold_start", "h:1", [{}], 20, concurrency=50, connections=5, total=50)
    )
    assert counted["total"] == 50
    assert "duration" not in counted and "duration-stop" not in counted
    assert counted["concurrency"] == 50
    timed = ghz_config(
        GhzRun("hit", "token_broker_cache_hit", "h:1", [{}], 5, concurrency=16, connections=4, rps=500)
    )
    assert "total" not in timed
    assert (timed["duration"], timed["rps"]) == ("5s", 500)


def test_target_takes_several_auth_processes_and_the_sandbox():
    target = parse_target("rest=http://h:8080,grpc=h:15051,auth=a:1+b:2+c:3,sandbox=http://s:18090/", {})
    assert target is not None
    assert target.auth_grpc == "a:1"
    assert target.auth_replicas == ("a:1", "b:2", "c:3")
    assert target.sandbox_url == "http://s:18090"
    env = {"BENCH_REST_URL": "http://h", "BENCH_CATALOG_GRPC": "h:1", "BENCH_AUTH_GRPC": "a:1"}
    from_env = parse_target(None, env)
    assert from_env is not None and from_env.auth_replicas == ("a:1",) and from_env.sandbox_url is None
    dev = parse_target("dev", {})
    assert dev is not None and dev.sandbox_url == "http://127.0.0.1:18090"
