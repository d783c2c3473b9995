"""B3's worst-case class selection on a small synthetic index, and the report's plots rendered from a
fixture result JSON (a quick run's rows)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.harness import plots, search_classes
from bench.harness.figures import Figures, Measurement
from bench.harness.loadgen import GhzRun, ghz_config
from bench.harness.scenarios.search_worst import alone_baseline, bounded_walk
from bench.harness.terms import SearchTerm

FIXTURE = Path(__file__).parent / "data" / "bench_result_quick.json"

# 12 products: 'alpha' and 'beta' never meet; 'gamma', 'delta', 'omega' meet two by two but
# never all three; 'rare' once; 'van...' words share a prefix.
TEXTS = [
    " alpha gamma delta vanilla",
    " alpha gamma delta vanity",
    " alpha gamma omega vantage",
    " alpha delta omega",
    " alpha delta omega",
    " alpha gamma omega",
    " beta gamma delta",
    " beta gamma omega",
    " beta delta omega rare",
    " beta gamma delta",
    " beta delta omega",
    " beta gamma omega",
]


def _vocabulary() -> dict[str, int]:
    counts: dict[str, int] = {}
    for text in TEXTS:
        for word in text.split():
            counts[word] = counts.get(word, 0) + 1
    return counts


def test_classes_from_a_synthetic_index() -> None:
    terms = [SearchTerm("common", "gamma", 8, 0.66), SearchTerm("rare", "rare", 1, 0.08)]
    classes = search_classes.choose_classes(TEXTS, _vocabulary(), len(TEXTS), terms, ("10.00", "11.00", 1))
    by_name = {c.name: c for c in classes}
    assert by_name["two common, anti-correlated"].q == "alpha beta"
    assert "together 0" in by_name["two common, anti-correlated"].detail
    assert by_name["three common"].q == "delta gamma omega"
    assert by_name["common + rare"].q == "gamma rare"
    assert by_name["3-character prefix"].q == "van"
    narrow = by_name["common + narrow price range"]
    assert narrow.request() == {"q": "gamma", "min_price": "10.00", "max_price": "11.00"}


def test_classes_need_their_terms() -> None:
    classes = search_classes.choose_classes(TEXTS, _vocabulary(), len(TEXTS), [], None)
    assert [c.name for c in classes] == ["two common, anti-correlated", "three common", "3-character prefix"]


@pytest.mark.parametrize(
    ("bar", "reference", "limits"),
    [
        ("p95 <= 50 ms, p99 <= 100 ms", None, {"p95": 50.0, "p99": 100.0}),
        ("RPS >= 1,000", None, {"rps": 1000.0}),
        ("RPS >= 80% of reference", {"rps": 500.0}, {"rps": 400.0}),
        ("RPS >= 1.5 x reference", {"rps": 200.0}, {"rps": 300.0}),
        ("RPS >= 1.5 x reference", None, {}),
        ("p99 <= reference's", {"p99_ms": 12.0}, {"p99": 12.0}),
        ("<= 1 ms in all", None, {}),
    ],
)
def test_bar_limits(bar: str, reference: dict[str, float] | None, limits: dict[str, float]) -> None:
    assert plots.bar_limits(bar, reference) == limits


def test_plots_render_from_a_result_json(tmp_path: Path) -> None:
    document = json.loads(FIXTURE.read_text())
    (tmp_path / "latest-B4.png").write_bytes(b"stale")  # a group this run did not draw
    written = plots.render_plots(document, tmp_path, document["stamp"])
    names = sorted(p.name for p in written)
    stamp = document["stamp"]
    assert names == [f"{stamp}-B1.png", f"{stamp}-B8.png", f"{stamp}-B9.png"]
    for name in names:
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert sorted(p.name for p in tmp_path.glob("latest-*.png")) == [
        "latest-B1.png",
        "latest-B8.png",
        "latest-B9.png",
    ]


def test_a_partial_run_draws_its_own_plots_and_keeps_the_latest(tmp_path: Path) -> None:
    document = json.loads(FIXTURE.read_text())
    (tmp_path / "latest-B4.png").write_bytes(b"the last full run's")
    written = plots.render_plots(document, tmp_path, document["stamp"], latest=False)
    assert len(written) == 3 and all(p.name.startswith(document["stamp"]) for p in written)
    assert [p.name for p in tmp_path.glob("latest-*.png")] == ["latest-B4.png"]
    assert (tmp_path / "latest-B4.png").read_bytes() == b"the last full run's"


def test_a_group_without_figures_draws_nothing(tmp_path: Path) -> None:
    rows = [{"id": "B5", "scenario": "seed", "verdict": "n/a", "bar": "-", "measurement": None}]
    assert plots.render_plots({"rows": rows, "stamp": "S"}, tmp_path, "S") == []
    shutil.rmtree(tmp_path)


class _Pages:
    """A stand-in for CatalogProbe.list: `pages` pages, cursor 'c<n>' to page n + 1."""

    def __init__(self, pages: int) -> None:
        self.pages, self.calls = pages, 0

    def list(self, request: dict[str, str]) -> SimpleNamespace:
        self.calls += 1
        page = int(request.get("cursor", "c1")[1:])
        more = page < self.pages
        return SimpleNamespace(has_more=more, next_cursor=f"c{page + 1}" if more else "")


def test_bounded_walk_reaches_the_page_or_says_where_it_stopped() -> None:
    later = time.monotonic() + 60
    walk = bounded_walk(_Pages(100), {"q": "x"}, 5, later)  # type: ignore[arg-type]
    assert (walk.depth, walk.complete, walk.cursor) == (5, True, "c5")
    short = bounded_walk(_Pages(3), {"q": "x"}, 5, later)  # type: ignore[arg-type]
    assert (short.depth, short.complete) == (3, False)
    pages = _Pages(100)
    late = bounded_walk(pages, {"q": "x"}, 50, time.monotonic() - 1)  # type: ignore[arg-type]
    assert (late.depth, late.complete, pages.calls) == (1, False, 0)


def test_a_slow_class_run_has_a_call_timeout() -> None:
    run = GhzRun("worst", "search", "127.0.0.1:1", [{"q": "x"}], 5, 50, 4, rps=50, timeout_s=5.0)
    assert ghz_config(run)["timeout"] == "5s"
    assert ghz_config(GhzRun("b", "search", "127.0.0.1:1", [{}], 5, 50, 4))["timeout"] == "10s"


def _b2(p95: float, errors: int = 0) -> Measurement:
    figures = Figures(
        1000, 5.0, 200.0, 2.0, p95, p95 * 2, p95 * 3, errors, {"Unavailable": errors} if errors else {}
    )
    return Measurement("ghz", "200 req/s open loop", figures, ["ghz"])


def test_load_test_baseline_is_the_clean_alone_runs() -> None:
    assert alone_baseline([_b2(10.0), _b2(14.0)])[0] == pytest.approx(12.0)
    baseline, shown = alone_baseline([_b2(140.0, errors=13), _b2(12.0)])
    assert baseline == pytest.approx(12.0) and shown.figures.p95_ms == 12.0
    assert alone_baseline([_b2(20.0, errors=1), _b2(30.0, errors=2)])[0] == pytest.approx(25.0)
