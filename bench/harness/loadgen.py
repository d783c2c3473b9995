"""Runs ghz, wrk and vegeta with bounded durations and returns what they measured with the command."""

from __future__ import annotations

import json
import resource
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.harness.figures import Measurement
from bench.harness.parsers import parse_ghz, parse_vegeta, parse_wrk
from bench.harness.tools import Toolbox

ROOT = Path(__file__).resolve().parents[2]
GHZ_SCENARIOS = ROOT / "tests" / "load" / "ghz"
DESCRIPTOR = ROOT / "build" / "gen" / "api.pb"
WRK_SCRIPT = Path(__file__).with_name("wrk_report.lua")
SLACK_S = 60  # beyond its duration a run may take this long to finish before it is killed


class LoadRunError(RuntimeError):
    """A load tool failed or printed nothing to parse; the message carries its stderr."""


@dataclass(frozen=True)
class GhzRun:
    """One ghz run derived from a scenario file in tests/load/ghz (call, timeouts, defaults)."""

    name: str
    scenario: str
    host: str
    data: Sequence[dict[str, Any]]
    duration_s: float
    concurrency: int
    connections: int
    rps: int | None = None
    skip_first: int = 0
    total: int | None = None  # a fixed number of calls instead of a duration (B7's cold start)
    timeout_s: float | None = None  # per call, instead of the scenario file's (bounds a slow class)

    @property
    def load(self) -> str:
        if self.total:
            return f"{self.total} calls, c={self.concurrency}"
        if self.rps:
            return f"{self.rps} req/s open loop"
        return f"c={self.concurrency} saturation"


def ghz_config(run: GhzRun) -> dict[str, Any]:
    """The scenario file with this run's host, data, rate and duration; the harness writes it out."""
    config: dict[str, Any] = json.loads((GHZ_SCENARIOS / f"{run.scenario}.json").read_text())
    config.update(
        {
            "host": run.host,
            "protoset": str(DESCRIPTOR),
            "insecure": True,
            "data": list(run.data),
            "duration": f"{run.duration_s:g}s",
            "duration-stop": "wait",
            "concurrency": run.concurrency,
            "connections": run.connections,
            "format": "json",
            "skipFirst": run.skip_first,
        }
    )
    config.pop("total", None)
    config.pop("rps", None)
    if run.timeout_s:
        config["timeout"] = f"{run.timeout_s:g}s"
    if run.rps:
        config["rps"] = run.rps
    if run.total:
        # A count, not a duration: ghz stops after `total` calls (and would stop at a duration first).
        config["total"] = run.total
        for key in ("duration", "duration-stop"):
            config.pop(key, None)
    return config


def _ghz_command(tools: Toolbox, run: GhzRun, workdir: Path) -> tuple[list[str], dict[str, Any]]:
    config = ghz_config(run)
    path = workdir / f"{run.name}.ghz.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    return [tools.ghz.path, "--config", str(path)], config


def run_ghz(tools: Toolbox, run: GhzRun, workdir: Path) -> Measurement:
    command, config = _ghz_command(tools, run, workdir)
    output, cpu_s = run_counted(command, run.duration_s, workdir / f"{run.name}.ghz.out.json")
    figures = parse_ghz(output)
    if run.rps and run.skip_first:
        # ghz counts the skipped calls out of `count` but not out of `total`: rate over the counted part.
        counted_s = figures.duration_s - run.skip_first / run.rps
        if counted_s > 0:
            figures = replace(figures, rps=figures.requests / counted_s)
    return Measurement("ghz", run.load, figures, command, config, loadgen_cpu_s=cpu_s)


def run_ghz_together(tools: Toolbox, runs: Sequence[GhzRun], workdir: Path) -> list[Measurement]:
    """Several ghz processes started at once (one per target process), each measured on its own."""
    commands = [_ghz_command(tools, run, workdir) for run in runs]
    limit = max(run.duration_s for run in runs) + SLACK_S
    started = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for command, _ in commands
    ]
    measurements = []
    failures = []
    for run, (command, config), proc in zip(runs, commands, started, strict=True):
        try:
            stdout, stderr = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            failures.append(f"{run.name}: ghz did not finish within {limit:.0f}s")
            continue
        save_to = workdir / f"{run.name}.ghz.out.json"
        save_to.write_text(stdout + (f"\n--- stderr ---\n{stderr}" if stderr else ""))
        if proc.returncode != 0 or not stdout.strip():
            failures.append(f"{run.name}: ghz exited {proc.returncode}: {(stderr or stdout)[-500:]}")
            continue
        measurements.append(Measurement("ghz", run.load, parse_ghz(stdout), command, config))
    if failures:
        raise LoadRunError("; ".join(failures))
    return measurements


def run_wrk(
    tools: Toolbox,
    base_url: str,
    paths: Sequence[str],
    name: str,
    workdir: Path,
    duration_s: float,
    connections: int = 32,
    threads: int = 2,
) -> Measurement:
    """Closed-loop saturation at a fixed number of connections, rotating over paths."""
    paths_file = workdir / f"{name}.paths.txt"
    paths_file.parent.mkdir(parents=True, exist_ok=True)
    paths_file.write_text("\n".join(paths) + "\n")
    command = [
        tools.wrk.path,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s:g}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(WRK_SCRIPT),
        base_url,
        "--",
        str(paths_file),
    ]
    output, cpu_s = run_counted(command, duration_s, workdir / f"{name}.wrk.txt")
    return Measurement("wrk", f"c={connections} saturation", parse_wrk(output), command, loadgen_cpu_s=cpu_s)


def run_vegeta(
    tools: Toolbox,
    base_url: str,
    paths: Sequence[str],
    name: str,
    workdir: Path,
    rate: int,
    duration_s: float,
) -> Measurement:
    """Open loop at a fixed rate: requests leave on schedule however slow the answers are."""
    targets = workdir / f"{name}.targets.txt"
    targets.parent.mkdir(parents=True, exist_ok=True)
    targets.write_text("".join(f"GET {base_url}{path}\n" for path in paths))
    results = workdir / f"{name}.vegeta.bin"
    attack = [
        tools.vegeta.path,
        "attack",
        f"-rate={rate}/1s",
        f"-duration={duration_s:g}s",
        "-timeout=10s",
        f"-targets={targets}",
        f"-output={results}",
    ]
    _, cpu_s = run_counted(attack, duration_s, workdir / f"{name}.vegeta.attack.txt", expect_output=False)
    report = [tools.vegeta.path, "report", "-type=json", str(results)]
    output = run_tool(report, 0, workdir / f"{name}.vegeta.json")
    results.unlink(missing_ok=True)  # every result of the run, large; the JSON report above stays
    figures = parse_vegeta(output)
    command = [*attack, "&&", *report]
    return Measurement("vegeta", f"{rate} req/s open loop", figures, command, loadgen_cpu_s=cpu_s)


def run_tool(command: list[str], duration_s: float, save_to: Path, expect_output: bool = True) -> str:
    output, _ = run_counted(command, duration_s, save_to, expect_output)
    return output


def children_cpu_s() -> float:
    """CPU seconds of every child process this process has waited for (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_counted(
    command: list[str], duration_s: float, save_to: Path, expect_output: bool = True
) -> tuple[str, float]:
    """Runs a load tool to completion: its output and the CPU seconds it used (the harness runs one
    child at a time, so the children's rusage difference is this tool's)."""
    cpu_before = children_cpu_s()
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + SLACK_S, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise LoadRunError(
            f"{Path(command[0]).name} did not finish within {duration_s + SLACK_S:.0f}s"
        ) from error
    save_to.write_text(result.stdout + (f"\n--- stderr ---\n{result.stderr}" if result.stderr else ""))
    if result.returncode != 0 or (expect_output and not result.stdout.strip()):
        raise LoadRunError(
            f"{' '.join(command)} exited {result.returncode}: {(result.stderr or result.stdout)[-1500:]}"
        )
    return result.stdout, children_cpu_s() - cpu_before
