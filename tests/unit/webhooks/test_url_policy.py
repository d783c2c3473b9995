"""Which subscriber URLs may be called (webhook_service.url_policy): SSRF rules and DNS with a timeout."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator

import pytest

from farmlokal_common.errors import InvalidArgument
from webhook_service.url_policy import UrlPolicy

NEVER_ALLOWED = [
    "100.64.0.1",  # CGNAT (shared address space)
    "100.100.100.200",  # a cloud's metadata service, inside CGNAT
    "192.0.0.192",  # IETF protocol assignments; Python 3.11 calls it global
    "169.254.169.254",  # link-local: the usual metadata service
    "0.0.0.0",
    "0.1.2.3",
    "192.0.2.1",
    "198.18.0.1",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",  # multicast; Python 3.11 calls it global
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
    "::ffff:169.254.169.254",  # IPv4-mapped link-local
    "::ffff:100.64.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::1",
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2001::1",  # Teredo
    "2001:db8::1",
    "fe80::1",
    "fec0::1",
    "ff02::1",
    "100::1",
]
LOOPBACK = ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::"]
PRIVATE = ["10.1.2.3", "172.16.0.1", "192.168.1.1", "fd00::1", "::ffff:10.0.0.1"]
GLOBAL = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.fixture
def policies() -> Iterator[dict[str, UrlPolicy]]:
    made = {allow: UrlPolicy(allow) for allow in ("", "loopback", "private")}
    yield made
    for policy in made.values():
        policy.close()


@pytest.mark.parametrize("address", NEVER_ALLOWED)
def test_special_ranges_are_never_allowed(policies: dict[str, UrlPolicy], address: str) -> None:
    for policy in policies.values():
        assert not policy.allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", LOOPBACK)
def test_loopback_only_when_allowed(policies: dict[str, UrlPolicy], address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert (policies[""].allowed(ip), policies["loopback"].allowed(ip), policies["private"].allowed(ip)) == (
        False,
        True,
        True,
    )


@pytest.mark.parametrize("address", PRIVATE)
def test_private_only_when_allowed(policies: dict[str, UrlPolicy], address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert (policies[""].allowed(ip), policies["loopback"].allowed(ip), policies["private"].allowed(ip)) == (
        False,
        False,
        True,
    )


@pytest.mark.parametrize("address", GLOBAL)
def test_global_addresses_are_allowed(policies: dict[str, UrlPolicy], address: str) -> None:
    assert policies[""].allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://100.64.0.1/",
        "http://192.0.0.192/",
        "http://100.100.100.200/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
    ],
)
def test_urls_with_literal_addresses(policies: dict[str, UrlPolicy], url: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        policies["private"].check(url)
    assert error.value.violations[0].field == "url"
    assert "not a globally routable address" in error.value.message


def test_every_resolved_address_must_be_allowed() -> None:
    policy = UrlPolicy(resolver=lambda host, port: ["8.8.8.8", "169.254.169.254"])
    try:
        with pytest.raises(InvalidArgument, match=r"169\.254\.169\.254"):
            policy.check("https://hooks.example.com/x")
    finally:
        policy.close()
    policy = UrlPolicy(resolver=lambda host, port: ["8.8.8.8", "2606:4700:4700::1111"])
    try:
        policy.check("https://hooks.example.com/x")
    finally:
        policy.close()


def test_resolution_is_bounded_by_its_timeout_and_runs_off_the_callers_thread() -> None:
    release = threading.Event()
    callers: list[str] = []

    def hanging(host: str, port: int) -> list[str]:
        callers.append(threading.current_thread().name)
        release.wait(5)
        return ["8.8.8.8"]

    policy = UrlPolicy(resolve_timeout_seconds=0.2, resolver=hanging)
    try:
        started = time.monotonic()
        with pytest.raises(InvalidArgument, match=r"did not resolve within 0.2 s"):
            policy.check("https://slow.example.com/")
        assert time.monotonic() - started < 1.0
        assert callers and callers[0] != threading.current_thread().name
    finally:
        release.set()
        policy.close()


def test_unresolvable_host() -> None:
    def failing(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    policy = UrlPolicy(resolver=failing)
    try:
        with pytest.raises(InvalidArgument, match="does not resolve"):
            policy.check("https://nowhere.invalid/")
    finally:
        policy.close()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "http:///x",
        "not a url",
        "http://user:pw@8.8.8.8/",
        "http://[::1/",
        "http://8.8.8.8:99999/",
    ],
)
def test_malformed_urls(policies: dict[str, UrlPolicy], url: str) -> None:
    with pytest.raises(InvalidArgument):
        policies[""].check(url)
