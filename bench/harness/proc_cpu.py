"""CPU time of the stack's processes from /proc/<pid>/stat (utime + stime), sampled around load runs.

A labelled process whose children do the work (the catalog's parent forks CATALOG_WORKERS workers)
is expanded into `label` (the parent) and `label worker N` (children by pid order). CPU seconds are
process-wide (every thread) and exclude children, so each process is counted once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    cpu_ticks: int  # utime + stime


def parse_stat(text: str) -> ProcStat:
    """One /proc/<pid>/stat line. The command name (field 2) may hold spaces and parentheses, so the
    fields are counted from the last ')'."""
    head, _, tail = text.rpartition(")")
    fields = tail.split()
    if not head or len(fields) < 13:
        raise ValueError(f"not a /proc/<pid>/stat line: {text[:80]!r}")
    pid = int(head.split("(", 1)[0])
    # After ')': state(3) ppid(4) ... utime(14) stime(15); fields[0] is state.
    return ProcStat(pid=pid, ppid=int(fields[1]), cpu_ticks=int(fields[11]) + int(fields[12]))


def read_stat(pid: int, proc: Path = PROC) -> ProcStat | None:
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())
    except (OSError, ValueError):
        return None


def all_stats(proc: Path = PROC) -> list[ProcStat]:
    stats = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            found = read_stat(int(entry.name), proc)
            if found is not None:
                stats.append(found)
    return stats


def expand(labelled: Mapping[str, int], stats: Iterable[ProcStat]) -> dict[str, int]:
    """label -> pid for every labelled process and its direct children (`label worker N`)."""
    by_parent: dict[int, list[int]] = {}
    for stat in stats:
        by_parent.setdefault(stat.ppid, []).append(stat.pid)
    expanded = {}
    for label, pid in labelled.items():
        expanded[label] = pid
        for index, child in enumerate(sorted(by_parent.get(pid, [])), start=1):
            expanded[f"{label} worker {index}"] = child
    return expanded


def snapshot(labelled: Mapping[str, int], proc: Path = PROC) -> dict[str, float]:
    """CPU seconds used so far by each labelled process and its children; gone processes are left out."""
    stats = all_stats(proc)
    ticks = {s.pid: s.cpu_ticks for s in stats}
    return {label: ticks[pid] / TICKS_PER_S for label, pid in expand(labelled, stats).items() if pid in ticks}


def difference(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds spent between two snapshots, per label present in both."""
    return {label: max(0.0, after[label] - before[label]) for label in after if label in before}


def group_of(label: str) -> str:
    """'catalog worker 2' -> 'catalog'; any other label is its own group."""
    return label.split(" worker ", 1)[0]


@dataclass(frozen=True)
class CpuUsage:
    """What one measured run cost: CPU seconds per process, the load generator's apart."""

    seconds: dict[str, float]
    wall_s: float
    loadgen_s: float | None

    def per_request_ms(self, requests: int, on_path: Iterable[str]) -> dict[str, float]:
        """CPU milliseconds per request of every process whose group is on the path."""
        groups = set(on_path)
        if requests <= 0:
            return {}
        return {
            label: round(s * 1000 / requests, 4)
            for label, s in sorted(self.seconds.items())
            if group_of(label) in groups
        }

    def cores_busy(self, label: str) -> float:
        """Share of one core the process used over the run (1.0 = a whole core)."""
        return self.seconds.get(label, 0.0) / self.wall_s if self.wall_s > 0 else 0.0


def total_ms(per_request: Mapping[str, float]) -> float:
    return round(sum(per_request.values()), 4)
