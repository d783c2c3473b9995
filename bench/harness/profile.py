"""Where a Python worker's CPU goes: py-spy samples of it under load, grouped into the layers of a call.

py-spy (a sampling profiler that reads the process from outside: no change to the code) records the
stack of the thread holding the GIL (`--gil`: the worker's Python work; threads waiting on a socket or
a condition are not sampled), without pausing the worker to read it (`--nonblocking`), in `raw`
format: one line per distinct stack with its count. Each sample is charged to the layer of its
innermost frame that belongs to a known layer, so a C call made with the GIL held (the JSON encoder,
a hash) is charged to the Python code that made it. Samples over the sampling rate are the seconds
the GIL was held; what the worker's CPU (from /proc) has beyond them ran without it: grpc's C core,
mysqlclient and hiredis in C, the kernel.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# (layer, path fragments of the files that are that layer); the first layer a frame's file matches.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Redis client", ("/redis/", "farmlokal_common/redis_scripts.py", "hiredis")),
    (
        "SQL (SQLAlchemy, mysqlclient)",
        (
            "/sqlalchemy/",
            "/MySQLdb/",
            "catalog_service/listing/execution.py",
            "catalog_service/read_routing.py",
            "farmlokal_common/db.py",
            "farmlokal_common/bulkhead.py",
            "farmlokal_common/statement_limits.py",
        ),
    ),
    (
        "response rendering (JSON, protobuf, cursor)",
        (
            "farmlokal_common/rest_json.py",
            "catalog_service/transport/presenters.py",
            "catalog_service/listing/cursor.py",
            "/json/",
            "/google/protobuf/",
        ),
    ),
    (
        "our interceptors (request id, metrics, rate limit, validation)",
        (
            "farmlokal_common/interceptors/",
            "farmlokal_common/request_context.py",
            "farmlokal_common/response_headers.py",
            "farmlokal_common/initial_metadata.py",
            "farmlokal_common/admission.py",
            "farmlokal_common/rate_limit.py",
            "farmlokal_common/request_text.py",
            "/prometheus_client/",
        ),
    ),
    (
        "grpc's Python server (call loop, thread pool hand-off)",
        ("/grpc/", "/concurrent/futures/", "/threading.py", "/queue.py", "/contextlib.py"),
    ),
)
OTHER = "our handler code (parsing, cache, listing)"
_FILE = re.compile(r"\(([^()]*?)(?::\d+)?\)$")


@dataclass(frozen=True)
class Profile:
    samples: int
    by_layer: dict[str, int]  # layer -> samples
    top_functions: list[tuple[str, int]]  # innermost frames, most sampled first

    def share(self, layer: str) -> float:
        return self.by_layer.get(layer, 0) / self.samples if self.samples else 0.0

    def layers(self) -> list[tuple[str, float]]:
        """(layer, share of the samples), largest first."""
        return sorted(((layer, self.share(layer)) for layer in self.by_layer), key=lambda item: -item[1])


def layer_of(frame: str) -> str | None:
    match = _FILE.search(frame)
    # py-spy prints paths from the package ('sqlalchemy/sql/elements.py', 'threading.py'), or absolute
    path = "/" + (match.group(1) if match else frame).lstrip("/")
    for layer, fragments in LAYERS:
        if any(fragment in path for fragment in fragments):
            return layer
    if "catalog_service/" in path or "farmlokal_common/" in path:
        return OTHER
    return None


def parse_raw(lines: Iterable[str], top: int = 12) -> Profile:
    """py-spy's raw output: 'frame;frame;...;innermost COUNT' per line."""
    by_layer: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        functions[re.sub(r":\d+\)$", ")", frames[-1])] += count
        layer = next((found for frame in reversed(frames) if (found := layer_of(frame)) is not None), OTHER)
        by_layer[layer] += count
    return Profile(total, dict(by_layer), functions.most_common(top))


def py_spy() -> Path | None:
    """The py-spy of this interpreter's environment (the dev dependency group), if installed."""
    found = Path(sys.executable).with_name("py-spy")
    return found if found.exists() else None


RATE = 250  # samples per second


def record(pid: int, seconds: float, output: Path, rate: int = RATE) -> subprocess.Popen[bytes]:
    """Starts py-spy on `pid` for `seconds`; wait on the returned process, then parse `output`."""
    binary = py_spy()
    if binary is None:
        raise FileNotFoundError("py-spy is not installed (uv sync installs the dev group)")
    command: Sequence[str] = (
        str(binary), "record", "--gil", "--nonblocking", "--rate", str(rate), "--duration", f"{max(1, round(seconds))}",
        "--format", "raw", "--output", str(output), "--pid", str(pid),
    )  # fmt: skip
    log = output.with_suffix(".log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
