"""bench/harness/profile.py: py-spy's raw stacks grouped into the layers of a call."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.harness import profile

# Lines as py-spy 0.4 writes them (raw format), from a catalog worker serving cached pages.
RAW = [
    "Thread._bootstrap (threading.py:1002);_worker (concurrent/futures/thread.py:83);"
    "_unary_response_in_pool (grpc/_server.py:781);logged (farmlokal_common/interceptors/request_logging.py:70);"
    "CatalogServicer.ListProducts (catalog_service/transport/servicers.py:44);"
    "ResponseCache._get (catalog_service/response_cache.py:271);Script.__call__ (farmlokal_common/redis_scripts.py:62);"
    "AbstractConnection.read_response (redis/connection.py:1393) 30",
    "Thread._bootstrap (threading.py:1002);_serve (grpc/_server.py:1301) 50",
    "Thread._bootstrap (threading.py:1002);_worker (concurrent/futures/thread.py:83);"
    "CatalogServicer.ListProducts (catalog_service/transport/servicers.py:43);"
    "parse_list_request (catalog_service/transport/requests.py:51) 10",
    "x;page_json (catalog_service/transport/presenters.py:90);dumps (json/__init__.py:238) 6",
    "x;tuples (catalog_service/listing/execution.py:30);"
    "BaseCursor.execute (/opt/venv/lib/python3.11/site-packages/MySQLdb/cursors.py:179) 4",
    "not a sample line",
    "",
]


def test_each_sample_goes_to_the_layer_of_its_innermost_known_frame() -> None:
    found = profile.parse_raw(RAW)
    assert found.samples == 100
    assert found.by_layer == {
        "Redis client": 30,
        "grpc's Python server (call loop, thread pool hand-off)": 50,
        profile.OTHER: 10,
        "response rendering (JSON, protobuf, cursor)": 6,
        "SQL (SQLAlchemy, mysqlclient)": 4,
    }
    assert found.layers()[0] == ("grpc's Python server (call loop, thread pool hand-off)", 0.5)
    assert found.top_functions[0] == ("_serve (grpc/_server.py)", 50)


def test_a_frame_outside_every_layer_is_charged_to_its_caller() -> None:
    line = "x;ResponseCache._get (catalog_service/response_cache.py:1);<lambda> (some/lib.py:3) 7"
    assert profile.parse_raw([line]).by_layer == {profile.OTHER: 7}
    assert profile.layer_of("hashlib_thing (hashlib.py:10)") is None


@pytest.mark.skipif(
    os.geteuid() != 0 or profile.py_spy() is None, reason="py-spy reads another process as root"
)
def test_py_spy_samples_a_running_process(tmp_path: Path) -> None:
    busy = tmp_path / "spin.py"
    busy.write_text("import time\nend = time.time() + 20\nwhile time.time() < end:\n    sum(range(1000))\n")
    child = subprocess.Popen([sys.executable, str(busy)])
    try:
        time.sleep(0.3)
        output = tmp_path / "out.raw"
        assert profile.record(child.pid, 1, output, rate=200).wait(timeout=30) == 0
        found = profile.parse_raw(output.read_text().splitlines())
    finally:
        child.kill()
        child.wait()
    assert found.samples >= 50
    name, count = found.top_functions[0]
    assert "spin.py" in name and count / found.samples > 0.9
