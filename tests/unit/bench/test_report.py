"""The bench harness's parsing of ghz, wrk and vegeta output, and the report table, on captured outputs."""

from __future__ import annotations

import json

import pytest

from bench.harness import report
from bench.harness.figures import FAIL, PASS, Figures, Measurement, Row, fail_on_errors
from bench.harness.parsers import ParseError, parse_ghz, parse_vegeta, parse_wrk
from bench.harness.target import TargetError, parse_target
from bench.harness.terms import parse_terms

# ghz v0.121.0 -O json, 100 req/s for 3 s against bench/reference_server.py (details, histogram trimmed).
GHZ_OK = json.dumps(
    {
        "date": "2026-11-22T02:13:30Z",
        "endReason": "timeout",
        "count": 300,
        "total": 3010910393,
        "average": 1726589,
        "fastest": 934188,
        "slowest": 9913284,
        "rps": 99.63763807035356,
        "errorDistribution": {},
        "statusCodeDistribution": {"OK": 300},
        "latencyDistribution": [
            {"percentage": 10, "latency": 1316362},
            {"percentage": 25, "latency": 1471769},
            {"percentage": 50, "latency": 1589934},
            {"percentage": 75, "latency": 1738429},
            {"percentage": 90, "latency": 1951018},
            {"percentage": 95, "latency": 2357858},
            {"percentage": 99, "latency": 4936520},
        ],
    }
)

# ghz when every call failed: latencyDistribution is null and slowest/fastest are 0.
GHZ_ALL_FAILED = json.dumps(
    {
        "date": "2026-11-22T02:20:34Z",
        "endReason": "timeout",
        "count": 224,
        "total": 5001422713,
        "average": 5184484,
        "fastest": 0,
        "slowest": 0,
        "rps": 44.7872561176974,
        "errorDistribution": {
            "rpc error: code = Internal desc = internal error; the request id identifies it in the service logs": 224
        },
        "statusCodeDistribution": {"Internal": 224},
        "latencyDistribution": None,
        "histogram": None,
    }
)

# wrk 4.1.0 -t2 -c32 -d5s --latency -s bench/harness/wrk_report.lua, through Envoy to the reference server.
WRK_OK = """\
Running 5s test @ http://127.0.0.1:18181
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    27.31ms   10.07ms  67.29ms   65.93%
    Req/Sec   587.87     89.87     0.90k    69.31%
  Latency Distribution
     50%   27.34ms
     75%   34.28ms
     90%   40.41ms
     99%   50.02ms
  5913 requests in 5.10s, 44.33MB read
Requests/sec:   1160.09
Transfer/sec:      8.70MB
WRK_JSON {"duration_us":5097029,"requests":5913,"bytes":46488006,"errors_connect":0,"errors_read":0,\
"errors_write":0,"errors_status":0,"errors_timeout":0,"latency_min_us":2758,"latency_mean_us":27307.8,\
"latency_max_us":67292,"p50_us":27336,"p90_us":40407,"p95_us":44181,"p99_us":50020}
"""

# The same tool against a catalog answering 500: every response counts as an error.
WRK_ERRORS = """\
Running 5s test @ http://127.0.0.1:35265
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.01s   427.60ms   2.19s    95.52%
    Req/Sec    40.20     42.14   110.00     80.00%
  Latency Distribution
     50%    2.09s
     75%    2.16s
     90%    2.17s
     99%    2.19s
  67 requests in 5.03s, 26.83KB read
  Non-2xx or 3xx responses: 67
Requests/sec:     13.33
Transfer/sec:      5.34KB
"""

# vegeta v12.12.0 `report -type=json`, 200 req/s for 3 s through Envoy to the reference server.
VEGETA_OK = (
    '{"latencies":{"total":1457562013,"mean":2429270,"50th":2391101,"90th":2706284,"95th":2854571,'
    '"99th":5112360,"max":10344549,"min":1634292},"bytes_in":{"total":4591200,"mean":7652},'
    '"bytes_out":{"total":0,"mean":0},"earliest":"2026-11-22T02:13:24.602335029Z",'
    '"latest":"2026-11-22T02:13:27.594923066Z","end":"2026-11-22T02:13:27.597544445Z",'
    '"duration":2992588037,"wait":2621379,"requests":600,"rate":200.49535471694463,'
    '"throughput":200.31988307558126,"success":1,"status_codes":{"200":600},"errors":[]}'
)

# vegeta against an overloaded catalog: 429s, 500s and client timeouts (status "0").
VEGETA_ERRORS = (
    '{"latencies":{"total":4806153996802,"mean":1922461598,"50th":920745,"90th":9186112782,'
    '"95th":10000527405,"99th":10001677062,"max":10004229224,"min":529915},"bytes_in":{"total":171750,'
    '"mean":68.7},"bytes_out":{"total":0,"mean":0},"duration":4998744048,"wait":9300976643,'
    '"requests":2500,"rate":500.1256267562352,"throughput":0,"success":0,'
    '"status_codes":{"0":165,"429":1831,"500":504},"errors":["429 Too Many Requests"]}'
)


def test_ghz_report_gives_percentiles_in_milliseconds():
    figures = parse_ghz(GHZ_OK)
    assert figures.requests == 300
    assert figures.errors == 0
    assert figures.rps == pytest.approx(99.64, abs=0.01)
    assert figures.duration_s == pytest.approx(3.011, abs=0.001)
    assert figures.p50_ms == pytest.approx(1.590, abs=0.001)
    assert figures.p95_ms == pytest.approx(2.358, abs=0.001)
    assert figures.p99_ms == pytest.approx(4.937, abs=0.001)
    assert figures.max_ms == pytest.approx(9.913, abs=0.001)


def test_ghz_report_with_every_call_failed_has_errors_and_no_latencies():
    figures = parse_ghz(GHZ_ALL_FAILED)
    assert figures.requests == 224
    assert figures.errors == 224
    assert figures.error_kinds == {"Internal": 224}
    assert figures.p50_ms is None and figures.p99_ms is None and figures.max_ms is None


def test_ghz_parse_rejects_summary_text():
    with pytest.raises(ParseError):
        parse_ghz("Summary:\n  Count: 399\n")


def test_wrk_json_line_is_preferred_and_exact():
    figures = parse_wrk(WRK_OK)
    assert figures.requests == 5913
    assert figures.rps == pytest.approx(5913 / 5.097029)
    assert figures.p50_ms == pytest.approx(27.336)
    assert figures.p95_ms == pytest.approx(44.181)
    assert figures.p99_ms == pytest.approx(50.020)
    assert figures.max_ms == pytest.approx(67.292)
    assert figures.errors == 0


def test_wrk_plain_latency_text_without_the_script():
    plain = WRK_OK.split("WRK_JSON")[0]
    figures = parse_wrk(plain)
    assert figures.requests == 5913
    assert figures.rps == pytest.approx(1160.09)
    assert figures.p50_ms == pytest.approx(27.34)
    assert figures.p95_ms is None  # plain wrk has no p95
    assert figures.p99_ms == pytest.approx(50.02)
    assert figures.max_ms == pytest.approx(67.29)


def test_wrk_non_2xx_responses_are_errors():
    figures = parse_wrk(WRK_ERRORS)
    assert figures.errors == 67
    assert figures.error_kinds == {"status": 67}
    assert figures.p50_ms == pytest.approx(2090.0)


def test_wrk_parse_rejects_output_without_totals():
    with pytest.raises(ParseError):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_vegeta_report_in_milliseconds():
    figures = parse_vegeta(VEGETA_OK)
    assert figures.requests == 600
    assert figures.errors == 0
    assert figures.rps == pytest.approx(600 / (2.992588037 + 0.002621379))
    assert figures.p50_ms == pytest.approx(2.391, abs=0.001)
    assert figures.p95_ms == pytest.approx(2.855, abs=0.001)
    assert figures.p99_ms == pytest.approx(5.112, abs=0.001)
    assert figures.max_ms == pytest.approx(10.345, abs=0.001)


def test_vegeta_non_2xx_and_timeouts_are_errors_by_status():
    figures = parse_vegeta(VEGETA_ERRORS)
    assert figures.errors == 2500
    assert figures.error_kinds == {"http 0": 165, "http 429": 1831, "http 500": 504}


def _measurement(tool: str, figures: Figures) -> Measurement:
    return Measurement(tool, "c=32 saturation", figures, [tool])


def test_table_has_one_line_per_row_with_figures_reference_ratio_and_verdict():
    measured = _measurement("wrk", parse_wrk(WRK_OK))
    rows = [
        Row("B1", "cached listing", "RPS >= 80% of reference", PASS, measured, measured, "1,160 req/s", 1.0),
        Row("B7", "GetAccessToken", "p99 <= 5 ms", "not yet implemented", note="UNIMPLEMENTED"),
    ]
    table = report.render_table(rows).splitlines()
    assert table[0].startswith("| id | scenario | tool | load | requests | RPS | p50 ms | p95 ms | p99 ms |")
    assert len(table) == 4
    b1 = [cell.strip() for cell in table[2].strip("|").split("|")]
    assert b1 == [
        "B1",
        "cached listing",
        "wrk",
        "c=32 saturation",
        "5,913",
        "1,160",
        "27.34",
        "44.18",
        "50.02",
        "67.3",
        "0",
        "1,160 req/s",
        "1.00",
        "RPS >= 80% of reference",
        "pass",
    ]
    b7 = [cell.strip() for cell in table[3].strip("|").split("|")]
    assert b7[0] == "B7" and b7[4:11] == ["-"] * 7 and b7[-1] == "not yet implemented"


def test_markdown_report_has_header_table_and_notes():
    rows = [Row("B5", "seed", "<= 120 s", PASS, note="98.2 s wall clock")]
    text = report.render_markdown(rows, {"stamp": "20260101T000000Z", "products": "1,000,000"})
    assert text.startswith("# Benchmark report 20260101T000000Z")
    assert "- products: 1,000,000" in text
    assert "| B5 | seed |" in text
    assert "- B5 seed: 98.2 s wall clock" in text


def test_pipes_in_cells_do_not_break_the_table():
    rows = [Row("B2", "a | b", "p95 <= 10 ms", PASS)]
    assert "a \\| b" in report.render_table(rows)


def test_errors_fail_a_row_that_met_its_bar():
    row = fail_on_errors(Row("B2", "x", "bar", PASS, _measurement("ghz", parse_ghz(GHZ_ALL_FAILED))))
    assert row.verdict == FAIL
    assert "Internal" in row.note


def test_write_report_saves_json_markdown_and_latest(tmp_path):
    paths = report.write_report(tmp_path, "20260101T000000Z", {"rows": []}, "# table\n")
    assert json.loads(paths["json"].read_text()) == {"rows": []}
    assert paths["md"].read_text() == paths["latest"].read_text() == "# table\n"


def test_a_partial_run_leaves_the_last_full_runs_latest_alone(tmp_path):
    report.write_report(tmp_path, "20260101T000000Z", {"rows": []}, "# full run\n")
    paths = report.write_report(tmp_path, "20260102T000000Z", {"rows": []}, "# B8 only\n", latest=False)
    assert "latest" not in paths and paths["md"].read_text() == "# B8 only\n"
    assert (tmp_path / "latest.md").read_text() == "# full run\n"


def test_target_from_flags_and_env():
    assert parse_target(None, {}) is None
    target = parse_target("rest=http://h:8080/,grpc=h:15051", {"BENCH_UNCACHED_GRPC": "h:50061"})
    assert target is not None
    assert (target.rest_url, target.catalog_grpc, target.uncached_grpc) == (
        "http://h:8080",
        "h:15051",
        "h:50061",
    )
    dev = parse_target("dev", {})
    assert (
        dev is not None and dev.rest_url == "http://127.0.0.1:8080" and dev.uncached_grpc == "127.0.0.1:15051"
    )
    with pytest.raises(TargetError):
        parse_target("http://h:8080", {})  # no gRPC address
    with pytest.raises(TargetError):
        parse_target("nonsense", {})


def test_search_terms_flag():
    terms = parse_terms("common=fresh,rare=zyx")
    assert [(t.frequency_class, t.term) for t in terms] == [("common", "fresh"), ("rare", "zyx")]
    with pytest.raises(ValueError):
        parse_terms("often=fresh")
