"""Renders the rows as a Markdown table and writes bench/results/<UTC stamp>.json, .md (and latest.md)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness.figures import Row

COLUMNS = (
    "id",
    "scenario",
    "tool",
    "load",
    "requests",
    "RPS",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "errors",
    "reference (same run)",
    "ratio",
    "bar",
    "result",
)


def number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def render_row(row: Row) -> list[str]:
    figures = row.measurement.figures if row.measurement else None
    cells = [
        row.id,
        row.scenario,
        row.tool or "-",
        row.load or "-",
        f"{figures.requests:,}" if figures else "-",
        number(figures.rps, 0) if figures else "-",
        number(figures.p50_ms, 2) if figures else "-",
        number(figures.p95_ms, 2) if figures else "-",
        number(figures.p99_ms, 2) if figures else "-",
        number(figures.max_ms, 1) if figures else "-",
        str(figures.errors) if figures else "-",
        row.reference_text or "-",
        f"{row.ratio:.2f}" if row.ratio is not None else "-",
        row.bar,
        row.verdict,
    ]
    return [cell.replace("|", "\\|") for cell in cells]


def render_table(rows: Sequence[Row]) -> str:
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(render_row(row)) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(rows: Sequence[Row], header: dict[str, Any]) -> str:
    """The whole report: a few lines of context, the table, then each row's note."""
    lines = [f"# Benchmark report {header.get('stamp', '')}".rstrip(), ""]
    for key in ("target", "products", "machine", "versions", "mode"):
        if header.get(key):
            lines.append(f"- {key}: {header[key]}")
    lines += ["", render_table(rows), ""]
    notes = [f"- {row.id} {row.scenario}: {row.note}" for row in rows if row.note]
    if notes:
        lines += ["Notes:", *notes, ""]
    return "\n".join(lines)


def write_report(
    results_dir: Path, stamp: str, document: dict[str, Any], markdown: str, latest: bool = True
) -> dict[str, Path]:
    """<stamp>.json with every figure and command, <stamp>.md with the table, and (latest: a full
    run) latest.md with it too; a partial run leaves the last full run's latest.md alone."""
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": results_dir / f"{stamp}.json", "md": results_dir / f"{stamp}.md"}
    paths["json"].write_text(json.dumps(document, indent=2, default=str) + "\n")
    paths["md"].write_text(markdown)
    if latest:
        paths["latest"] = results_dir / "latest.md"
        paths["latest"].write_text(markdown)
    return paths
