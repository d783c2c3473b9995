"""Finds or installs the pinned load tools (ghz, vegeta from the Go module proxy; wrk from apt)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / "build" / "tools" / "bin"
GHZ_MODULE = "github.com/bojand/ghz"
GHZ_VERSION = "v0.121.0"
VEGETA_MODULE = "github.com/tsenart/vegeta/v12"
VEGETA_VERSION = "v12.12.0"

Say = Callable[[str], None]


class ToolError(RuntimeError):
    """A load tool is missing and could not be installed; the message says how to install it."""


@dataclass(frozen=True)
class Tool:
    name: str
    path: str
    version: str


@dataclass(frozen=True)
class Toolbox:
    ghz: Tool
    wrk: Tool
    vegeta: Tool

    def describe(self) -> dict[str, dict[str, str]]:
        return {t.name: {"path": t.path, "version": t.version} for t in (self.ghz, self.wrk, self.vegeta)}


def ensure_tools(say: Say = print) -> Toolbox:
    return Toolbox(ghz=ensure_ghz(say), wrk=ensure_wrk(say), vegeta=ensure_vegeta(say))


def ensure_ghz(say: Say = print) -> Tool:
    path = TOOLS_BIN / "ghz"
    if not path.exists():
        say(f"tools: installing ghz {GHZ_VERSION} into {TOOLS_BIN} (go install)")
        _go(["install", f"{GHZ_MODULE}/cmd/ghz@{GHZ_VERSION}"], cwd=ROOT)
    return Tool("ghz", str(path), _go_module_version(path, GHZ_MODULE))


def ensure_vegeta(say: Say = print) -> Tool:
    """Vegeta (open-loop HTTP load at a fixed rate). `go install mod@version` needs the proxy's version
    list for its deprecation check, which this proxy refuses for vegeta; downloading the pinned
    module and building it in place gives the same binary."""
    path = TOOLS_BIN / "vegeta"
    if not path.exists():
        say(f"tools: building vegeta {VEGETA_VERSION} into {TOOLS_BIN} (go mod download + go build)")
        listing = _go(["mod", "download", "-json", f"{VEGETA_MODULE}@{VEGETA_VERSION}"], cwd=TOOLS_BIN)
        source = Path(json.loads(listing)["Dir"])
        _go(["build", "-ldflags", f"-X main.Version={VEGETA_VERSION}", "-o", str(path), "."], cwd=source)
    result = subprocess.run([str(path), "-version"], capture_output=True, text=True, check=False)
    version = result.stdout.split("\n", 1)[0].removeprefix("Version:").strip() or "unknown"
    return Tool("vegeta", str(path), f"{VEGETA_MODULE} {version}")


def ensure_wrk(say: Say = print) -> Tool:
    found = shutil.which("wrk")
    if found is None:
        if os.geteuid() != 0:
            raise ToolError("wrk is not installed: run `sudo apt-get install -y wrk`")
        say("tools: installing wrk (apt-get install -y wrk)")
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
        if found is None:
            raise ToolError("apt-get installed wrk but it is not on PATH")
    result = subprocess.run([found, "-v"], capture_output=True, text=True, check=False)
    first = (result.stdout + result.stderr).strip().splitlines()
    return Tool("wrk", found, first[0].split(" [")[0] if first else "unknown")


def _go(args: list[str], cwd: Path) -> str:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        raise ToolError("the Go toolchain is needed to install ghz and vegeta (https://go.dev/dl)")
    TOOLS_BIN.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(TOOLS_BIN), "GOFLAGS": "-mod=mod"}
    result = subprocess.run([go, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ToolError(f"go {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def _go_module_version(binary: Path, module: str) -> str:
    """The module version compiled into a Go binary (`go version -m`)."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    try:
        result = subprocess.run(
            [go, "version", "-m", str(binary)], capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "mod" and fields[1] == module:
            return f"{module} {fields[2]}"
    return "unknown"
