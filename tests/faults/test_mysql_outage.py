"""MariaDB unreachable: a clear 503 (no stack trace, no SQL), health `down`; back: recovery without a
restart of any service."""

from __future__ import annotations

import itertools
import time

import httpx

from tests.faults.conftest import FaultStack, wait_until

CACHED = {"limit": "20", "sort": "name", "order": "asc"}
# Words that would betray internals in an error body.
INTERNALS = (
    "Traceback",
    "SELECT",
    "sqlalchemy",
    "MySQLdb",
    "OperationalError",
    "mariadb",
    "products",
    "File ",
)
_unique = itertools.count(1)


def uncached_params() -> dict[str, str]:
    """A listing nobody asked for yet (a price range of its own), so the cache cannot answer it."""
    low = next(_unique)
    return {"limit": "5", "min_price": f"{low}.01", "max_price": "900", "sort": "price"}


def assert_clear_503(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    body = response.json()
    assert body["code"] == 14  # UNAVAILABLE
    assert "database" in body["message"].lower(), body
    assert not any(word in response.text for word in INTERNALS), body


def health(http: httpx.Client) -> tuple[int, dict]:
    response = http.get("/health")
    return response.status_code, response.json()


def test_mysql_unreachable_gives_a_clear_503_and_recovers_without_restart(stack: FaultStack) -> None:
    with stack.edge.client() as http:
        assert http.get("/v1/products", params=CACHED).status_code == 200  # now cached
        pid = stack.edge.process.pid

        stack.mysql.reset()  # open connections cut, new ones refused: as a stopped server

        started = time.monotonic()
        assert_clear_503(http.get("/v1/products", params=uncached_params()))
        assert time.monotonic() - started < 5  # an answer, not a hang
        assert_clear_503(http.get("/v1/products/1"))
        # What can be served still is: a listing in the cache.
        cached = http.get("/v1/products", params=CACHED)
        assert cached.status_code == 200 and len(cached.json()["products"]) == 20

        status, report = health(http)
        assert status == 503
        assert report["status"] == "down"
        assert report["checks"]["catalog.mysql"]["state"] == "down"
        assert report["checks"]["redis"]["state"] == "ok"

        stack.mysql.pass_through()
        recovered = wait_until(
            lambda: http.get("/v1/products", params=uncached_params()).status_code == 200,
            15,
            "listing answering after MariaDB came back",
        )
        assert recovered < 10
        wait_until(lambda: health(http)[0] == 200, 10, "health up after MariaDB came back")
        assert health(http)[1]["checks"]["catalog.mysql"]["state"] == "ok"
        assert http.get("/v1/products/1").status_code == 200
        assert stack.edge.process.pid == pid and stack.edge.process.process.poll() is None


def test_mariadb_process_stopped_and_started_again(stack: FaultStack) -> None:
    """The real thing: mariadbd shut down, then started on the same port and data directory."""
    from devstack.processes import start_mariadb

    with stack.edge.client() as http:
        assert http.get("/v1/products", params=uncached_params()).status_code == 200
        stack.mariadb.process.stop()
        assert_clear_503(http.get("/v1/products", params=uncached_params()))
        # The report is shared for a second (CATALOG_HEALTH_REPORT_MAX_AGE_SECONDS): the previous
        # test's last one may still be served.
        wait_until(lambda: health(http)[0] == 503, 3, "health down after MariaDB stopped")
        status, report = health(http)
        assert (status, report["status"]) == (503, "down")

        stack.mariadb.process = start_mariadb(
            stack.mariadb.datadir, stack.mariadb.port, stack.mariadb.process.log_path
        )
        wait_until(
            lambda: http.get("/v1/products", params=uncached_params()).status_code == 200,
            20,
            "listing answering after MariaDB restarted",
        )
        wait_until(lambda: health(http)[0] == 200, 10, "health up after MariaDB restarted")


def test_mysql_blackholed_is_answered_by_the_route_timeout_then_fast_503s(stack: FaultStack) -> None:
    """A database that accepts and never answers (a network partition). The request holding a pooled
    connection waits for the read engine's socket timeout (2 s, derived from the 1.5 s read statement
    limit), a new connection for its connect timeout (2 s): either way the client gets the service's
    503 before the edge's 3 s read-route timeout, and the edge does not retry it."""
    with stack.edge.client(timeout=30) as http:
        assert http.get("/v1/products", params=uncached_params()).status_code == 200
        stack.mysql.blackhole()
        started = time.monotonic()
        assert_clear_503(http.get("/v1/products", params=uncached_params()))
        assert time.monotonic() - started < 3

        started = time.monotonic()
        assert_clear_503(http.get("/v1/products", params=uncached_params()))
        assert time.monotonic() - started < 3

        stack.mysql.pass_through()
        wait_until(
            lambda: http.get("/v1/products", params=uncached_params()).status_code == 200,
            20,
            "listing answering after the partition healed",
        )
