"""Describes the machine and the versions of what ran, for the report's header and JSON."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any


def describe_machine() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "os": _os_name(),
    }


def describe_versions(envoy_binary: str) -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "envoy": _version(_first_line([envoy_binary, "--version"]), r"/(\d+\.\d+\.\d+)/"),
        "mariadb": _version(_first_line([_which("mariadbd", "mysqld"), "--version"]), r"Ver (\S+)"),
        "redis": _version(_first_line([_which("redis-server"), "--version"]), r"v=(\S+)"),
    }


def summary(machine: dict[str, Any]) -> str:
    return f"{machine['cpu_model']}, {machine['cores']} cores, {machine['memory_gib']} GiB, Linux {machine['kernel']}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def _which(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or next(
            (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
        )
        if found:
            return found
    return names[0]


def _version(line: str, pattern: str) -> str:
    found = re.search(pattern, line)
    return found.group(1) if found else line


def _first_line(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    lines = (result.stdout or result.stderr).strip().splitlines()
    return next((line.strip() for line in lines if line.strip()), "unknown")
