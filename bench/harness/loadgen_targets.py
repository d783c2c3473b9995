"""vegeta with a JSON targets file (per-request headers and bodies): B6's signed webhook requests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.harness.figures import Measurement
from bench.harness.loadgen import run_tool
from bench.harness.parsers import parse_vegeta
from bench.harness.tools import Toolbox


@dataclass(frozen=True)
class VegetaTargetsRun:
    """vegeta with a JSON targets file (`-format=json`: per-request method, URL, headers, base64 body).

    rate 0 is saturation with `max_workers` workers. `lazy` reads the targets as it goes, so the attack
    stops when they run out instead of starting over (distinct ids must never repeat).
    """

    name: str
    targets: Path
    duration_s: float
    rate: int
    max_workers: int | None = None
    lazy: bool = False

    @property
    def load(self) -> str:
        if self.rate:
            return f"{self.rate} req/s open loop"
        return f"max {self.max_workers} workers saturation"


def run_vegeta_targets(tools: Toolbox, run: VegetaTargetsRun, workdir: Path) -> tuple[Measurement, Path]:
    """The measurement and the results encoded as JSON lines (one per request, bodies base64)."""
    results = workdir / f"{run.name}.vegeta.bin"
    attack = [
        tools.vegeta.path,
        "attack",
        "-format=json",
        f"-targets={run.targets}",
        f"-rate={run.rate}/1s" if run.rate else "-rate=0",
        f"-duration={run.duration_s:g}s",
        "-timeout=10s",
        f"-output={results}",
    ]
    if run.max_workers:
        attack.insert(-1, f"-max-workers={run.max_workers}")
    if run.lazy:
        attack.insert(-1, "-lazy")
    run_tool(attack, run.duration_s, workdir / f"{run.name}.vegeta.attack.txt", expect_output=False)
    report = [tools.vegeta.path, "report", "-type=json", str(results)]
    output = run_tool(report, 0, workdir / f"{run.name}.vegeta.json")
    encoded = workdir / f"{run.name}.vegeta.results.jsonl"
    encode = [tools.vegeta.path, "encode", "-to=json", f"-output={encoded}", str(results)]
    run_tool(encode, 0, workdir / f"{run.name}.vegeta.encode.txt", expect_output=False)
    results.unlink(missing_ok=True)
    measurement = Measurement("vegeta", run.load, parse_vegeta(output), [*attack, "&&", *report])
    return measurement, encoded
