"""Which subscriber URLs may be called (SSRF): http(s) to globally routable addresses only.

Checked when a subscription is created and again before every delivery (DNS may have changed). The
host is resolved on a small pool of resolver threads with a timeout, so a slow or hostile DNS server
costs the caller at most `resolve_timeout_seconds`, never a serving thread without bound.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as ResolveTimeout
from urllib.parse import urlsplit

from farmlokal_common.errors import FieldViolation, InvalidArgument

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses a connection to it may use
Resolver = Callable[[str, int], list[str]]
MAX_URL_LENGTH = 2048

_LOOPBACK = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128")]
_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]
# The IANA special-purpose registries, spelled out: Python 3.11's is_global still calls
# 192.0.0.0/24, multicast and some IPv6 ranges global. Embedded IPv4 (mapped, 6to4, NAT64's
# well-known prefix) is unwrapped before this check, so those ranges are judged by their IPv4 part.
_NEVER = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "192.0.0.0/24", "192.0.2.0/24",
        "192.88.99.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4",
        "240.0.0.0/4", "::/8", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
        "3fff::/20", "5f00::/16", "fe80::/10", "fec0::/10", "ff00::/8",
    )
]  # fmt: skip
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def system_resolver(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


def unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), else the address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


class UrlPolicy:
    """allow: "" (global addresses only), "loopback" (dev stack and tests) or "private" (also RFC 1918
    and fc00::/7). Link-local (cloud metadata), CGNAT and the other special ranges are never allowed."""

    def __init__(
        self,
        allow: str = "",
        resolve_timeout_seconds: float = 2.0,
        resolver: Resolver = system_resolver,
        resolver_threads: int = 4,
    ) -> None:
        if allow not in ("", "loopback", "private"):
            raise ValueError("allow_subscriber_networks must be '', 'loopback' or 'private'")
        self._allow = allow
        self._timeout = resolve_timeout_seconds
        self._resolver = resolver
        self._pool = ThreadPoolExecutor(max_workers=resolver_threads, thread_name_prefix="dns")

    def check(self, url: str) -> None:
        """Raises InvalidArgument (field "url") saying why the URL is refused."""
        if len(url) > MAX_URL_LENGTH:
            raise _refused(f"url must be at most {MAX_URL_LENGTH} characters")
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise _refused("url is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _refused("url must be an absolute http:// or https:// URL")
        if parts.username or parts.password:
            raise _refused("url must not carry credentials")
        for address in self._addresses(parts.hostname, port):
            if not self.allowed(address):
                raise _refused(
                    f"url resolves to {address}, which is not a globally routable address"
                    " (loopback, private, link-local, shared and reserved ranges are refused)"
                )

    def allowed(self, address: IPAddress) -> bool:
        address = unwrap(address)
        if any(address in network for network in _LOOPBACK):
            return self._allow in ("loopback", "private")
        if any(address in network for network in _PRIVATE):
            return self._allow == "private"
        return address.is_global and not any(address in network for network in _NEVER)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _addresses(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]  # a literal address: nothing to resolve
        except ValueError:
            pass
        future = self._pool.submit(self._resolver, host, port)
        try:
            found = future.result(timeout=self._timeout)
        except ResolveTimeout:
            future.cancel()
            raise _refused(f"host {host!r} did not resolve within {self._timeout:g} s") from None
        except (OSError, UnicodeError, ValueError):  # socket.gaierror is an OSError
            raise _refused(f"host {host!r} does not resolve") from None
        if not found:
            raise _refused(f"host {host!r} does not resolve")
        return [ipaddress.ip_address(address.split("%", 1)[0]) for address in found]


def _refused(description: str) -> InvalidArgument:
    return InvalidArgument(FieldViolation("url", description))
