"""PNG plots of a report, one per scenario group: latency p50/p95/p99 of each row against its bar and the
same-run reference, throughput against the reference; for B9, CPU per request per process."""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PERCENTILES = ("p50", "p95", "p99")
COLOURS = {"p50": "#9ecae1", "p95": "#4292c6", "p99": "#08519c"}
_NUMBER = r"(\d[\d,]*(?:\.\d+)?)"
_LATENCY_BAR = re.compile(r"\b(p50|p95|p99)\s*<=\s*" + _NUMBER + r"\s*ms")
_LATENCY_OF_REFERENCE = re.compile(r"\b(p50|p95|p99)\s*<=\s*reference's")
_RPS_BAR = re.compile(r"RPS\s*>=\s*" + _NUMBER + r"(\s*%\s*of|\s*x)?\s*(reference)?")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def bar_limits(bar: str, reference: Mapping[str, Any] | None = None) -> dict[str, float]:
    """The numeric limits a bar text states, e.g. {'p95': 50.0, 'p99': 100.0, 'rps': 1000.0}; a bar
    relative to the reference ('RPS >= 80% of reference', 'p99 <= reference's') needs its figures."""
    limits = {name: _number(value) for name, value in _LATENCY_BAR.findall(bar)}
    for name in _LATENCY_OF_REFERENCE.findall(bar):
        if reference and reference.get(f"{name}_ms"):
            limits[name] = float(reference[f"{name}_ms"])
    rps = _RPS_BAR.search(bar)
    if rps:
        value, relation, relative = rps.groups()
        if not relative:
            limits["rps"] = _number(value)
        elif reference and reference.get("rps"):
            share = _number(value) / 100 if relation and "%" in relation else _number(value)
            limits["rps"] = share * float(reference["rps"])
    return limits


def group_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row["id"]), []).append(row)
    return groups


def _figures(side: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return side.get("figures") if side else None


def _label(row: Mapping[str, Any], prefix: str) -> str:
    scenario = str(row["scenario"]).removeprefix(prefix)
    return "\n".join(textwrap.wrap(f"{scenario} [{row['verdict']}]", 34)[:3])


def common_prefix(rows: Sequence[Mapping[str, Any]]) -> str:
    """The words every scenario of the group starts with ('Node reference: '), left out of labels."""
    names = [str(r["scenario"]) for r in rows]
    if len(names) < 2:
        return ""
    prefix = names[0]
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    cut = max(prefix.rfind(": "), prefix.rfind(", "))
    return prefix[: cut + 2] if cut > 0 else ""


def _once(seen: set[str], label: str) -> str | None:
    """A legend label the first time it is drawn, None after (one legend entry each)."""
    if label in seen:
        return None
    seen.add(label)
    return label


def _latency_panel(ax: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    height = 0.8 / (len(PERCENTILES) * 2)
    seen: set[str] = set()
    for index, row in enumerate(rows):
        mine, theirs = _figures(row.get("measurement")), _figures(row.get("reference"))
        limits = bar_limits(str(row.get("bar", "")), theirs)
        for k, name in enumerate(PERCENTILES):
            y = index - 0.4 + height * (2 * k + 0.5)
            value = mine.get(f"{name}_ms") if mine else None
            if value:
                ax.barh(y, value, height, color=COLOURS[name], label=_once(seen, name))
            reference = theirs.get(f"{name}_ms") if theirs else None
            if reference:
                ax.barh(
                    y + height,
                    reference,
                    height,
                    color="none",
                    edgecolor=COLOURS[name],
                    hatch="///",
                    label=_once(seen, f"reference {name}"),
                )
            if name in limits:
                ax.plot(
                    [limits[name]] * 2,
                    [y - height / 2, y + 1.5 * height],
                    color="red",
                    linewidth=2,
                    label=_once(seen, "bar"),
                )
    ax.set_xscale("log")
    ax.set_xlabel("latency, ms (log); hatched: same-run reference; red: the bar")


def _throughput_panel(ax: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    seen: set[str] = set()
    for index, row in enumerate(rows):
        mine, theirs = _figures(row.get("measurement")), _figures(row.get("reference"))
        if mine:
            ax.barh(index - 0.2, mine["rps"], 0.4, color="#31a354", label=_once(seen, "measured"))
        if theirs:
            ax.barh(
                index + 0.2,
                theirs["rps"],
                0.4,
                color="none",
                edgecolor="#31a354",
                hatch="///",
                label=_once(seen, "reference"),
            )
        limit = bar_limits(str(row.get("bar", "")), theirs).get("rps")
        if limit:
            ax.plot([limit, limit], [index - 0.45, index + 0.45], color="red", linewidth=2)
    ax.set_xlabel("throughput, req/s (red: the bar)")


def _cpu_panel(ax: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Stacked CPU ms per request by process, ours and the reference side by side, bar in red."""
    colours: dict[str, Any] = {}
    import matplotlib

    tab20 = matplotlib.colormaps["tab20"]
    palette = [tab20(i) for i in (*range(0, 20, 2), *range(1, 20, 2))]
    for index, row in enumerate(rows):
        extra = row.get("extra") or {}
        for offset, key in ((-0.2, "cpu"), (0.2, "reference_cpu")):
            record = extra.get(key)
            if not record:
                continue
            left = 0.0
            for label, ms in record["cpu_ms_per_request"].items():
                group = label.split(" worker ")[0]
                if group not in colours:
                    colours[group] = palette[len(colours) % len(palette)]
                ax.barh(
                    index + offset,
                    ms,
                    0.38,
                    left=left,
                    color=colours[group],
                    hatch="///" if key == "reference_cpu" else None,
                    edgecolor="white",
                )
                left += ms
        if extra.get("bar_ms"):
            ax.plot([extra["bar_ms"]] * 2, [index - 0.45, index + 0.45], color="red", linewidth=2)
    for group, colour in colours.items():
        ax.barh(0, 0, color=colour, label=group)
    ax.set_xlabel("CPU ms per request (hatched: the reference; red: the bar)")


def render_group(group: str, rows: Sequence[Mapping[str, Any]], path: Path, title: str) -> bool:
    """One PNG for a group; False (nothing written) when no row has figures to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cpu = [r for r in rows if (r.get("extra") or {}).get("cpu")]
    measured = [r for r in rows if r.get("measurement")]
    shown = cpu if group == "B9" else measured
    if not shown:
        return False
    panels = [_cpu_panel] if group == "B9" else [_latency_panel, _throughput_panel]
    prefix = common_prefix(shown)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(7 * len(panels) + 4, 1.2 + 0.75 * len(shown)), squeeze=False
    )
    for ax, panel in zip(axes[0], panels, strict=True):
        panel(ax, shown)
        ax.set_yticks(range(len(shown)))
        labels = [_label(r, prefix) for r in shown] if ax is axes[0][0] else [""] * len(shown)
        ax.set_yticklabels(labels, fontsize=7)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"{group}: {prefix.rstrip(':, ') + '; ' if prefix else ''}{title}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def render_plots(
    document: Mapping[str, Any], results_dir: Path, stamp: str, latest: bool = True
) -> list[Path]:
    """<stamp>-<group>.png per group with figures; for a full run (latest) also copied to
    latest-<group>.png, and older latest-*.png of groups this run did not draw are removed, as
    latest.md only shows this run."""
    written = []
    for group, rows in sorted(group_rows(document.get("rows", [])).items()):
        path = results_dir / f"{stamp}-{group}.png"
        title = f"{document.get('stamp', stamp)}, {document.get('products') or 'deployment'} products"
        if render_group(group, rows, path, title):
            written.append(path)
    if not latest:
        return written
    current = {results_dir / f"latest-{p.name.split('-', 1)[1]}" for p in written}
    for old in results_dir.glob("latest-*.png"):
        if old not in current:
            old.unlink()
    for path in written:
        shutil.copyfile(path, results_dir / f"latest-{path.name.split('-', 1)[1]}")
    return written
