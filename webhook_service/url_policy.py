"""Which subscriber URLs may be called: http(s) only; loopback, private and link-local refused (SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from farmlokal_common.errors import FieldViolation, InvalidArgument


class UrlPolicy:
    """allow: "" (public addresses only), "loopback" (dev stack and tests) or "private" (also RFC 1918)."""

    def __init__(self, allow: str = "") -> None:
        if allow not in ("", "loopback", "private"):
            raise ValueError("allow_subscriber_networks must be '', 'loopback' or 'private'")
        self._allow = allow

    def check(self, url: str) -> None:
        """Raises InvalidArgument naming why the URL is refused; resolves the host (also at send time)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _refused("url must be an absolute http:// or https:// URL")
        if parts.username or parts.password:
            raise _refused("url must not carry credentials")
        if len(url) > 2048:
            raise _refused("url must be at most 2048 characters")
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError, ValueError):
            raise _refused(f"host {parts.hostname!r} does not resolve") from None
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if not self._allowed(address):
                raise _refused("url resolves to a loopback, private, link-local or reserved address")

    def _allowed(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if address.is_loopback:
            return self._allow in ("loopback", "private")
        if address.is_private or address.is_link_local:
            return self._allow == "private" and not address.is_link_local
        return not (address.is_multicast or address.is_reserved or address.is_unspecified)


def _refused(description: str) -> InvalidArgument:
    return InvalidArgument(FieldViolation("url", description))
