"""What one load run measured, and one line of the report: figures, reference, ratio, bar, verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASS = "pass"
FAIL = "FAIL"
NOT_APPLICABLE = "n/a"
NOT_IMPLEMENTED = "not yet implemented"
ERROR = "error"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Figures:
    """Latencies in milliseconds; rps is completed requests per second of the run."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    errors: int
    error_kinds: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Measurement:
    """Figures plus how they were obtained, so a run can be repeated by hand."""

    tool: str
    load: str
    figures: Figures
    command: list[str]
    config: dict[str, Any] | None = None
    loadgen_cpu_s: float | None = None  # CPU the load tool itself used (B9 reports it apart)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "load": self.load,
            "figures": self.figures.to_dict(),
            "command": self.command,
            "config": self.config,
            "loadgen_cpu_s": self.loadgen_cpu_s,
        }


@dataclass
class Row:
    """One line of the report. `reference` is the figure measured beside it in the same run."""

    id: str
    scenario: str
    bar: str
    verdict: str
    measurement: Measurement | None = None
    reference: Measurement | None = None
    reference_text: str = ""
    ratio: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tool(self) -> str:
        return self.measurement.tool if self.measurement else self.extra.get("tool", "")

    @property
    def load(self) -> str:
        return self.measurement.load if self.measurement else self.extra.get("load", "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scenario": self.scenario,
            "tool": self.tool,
            "load": self.load,
            "measurement": self.measurement.to_dict() if self.measurement else None,
            "reference": self.reference.to_dict() if self.reference else None,
            "reference_text": self.reference_text,
            "ratio": self.ratio,
            "bar": self.bar,
            "verdict": self.verdict,
            "note": self.note,
            "extra": self.extra,
        }


def verdict(ok: bool) -> str:
    return PASS if ok else FAIL


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def fail_on_errors(row: Row) -> Row:
    """Errors on either side void a comparison: the row fails and its note says which."""
    problems = []
    if row.measurement and row.measurement.figures.errors:
        problems.append(f"errors {row.measurement.figures.error_kinds}")
    if row.reference and row.reference.figures.errors:
        problems.append(f"reference errors {row.reference.figures.error_kinds}")
    if problems:
        row.verdict = FAIL
        row.note = "; ".join(filter(None, [row.note, *problems]))
    return row


def merge_concurrent(parts: list[Figures]) -> Figures:
    """Runs that went side by side (one per process): counts add up, the rate is over the longest run,
    and each percentile is the worst run's (percentiles of separate runs cannot be combined exactly)."""

    def worst(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return max(known) if known else None

    requests = sum(f.requests for f in parts)
    duration = max((f.duration_s for f in parts), default=0.0)
    kinds: dict[str, int] = {}
    for f in parts:
        for kind, n in f.error_kinds.items():
            kinds[kind] = kinds.get(kind, 0) + n
    return Figures(
        requests=requests,
        duration_s=duration,
        rps=requests / duration if duration else 0.0,
        p50_ms=worst([f.p50_ms for f in parts]),
        p95_ms=worst([f.p95_ms for f in parts]),
        p99_ms=worst([f.p99_ms for f in parts]),
        max_ms=worst([f.max_ms for f in parts]),
        errors=sum(f.errors for f in parts),
        error_kinds=kinds,
    )
