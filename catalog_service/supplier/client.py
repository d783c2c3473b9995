"""The supplier API client: product pages over the resilient HTTP client, with tokens from the auth service.

Tokens come from the auth service's TokenBrokerService (internal gRPC), which shares one token per
expiry window across every replica. A 401 from the supplier means that token is no good any more
(RFC 6750): the client asks the broker to drop exactly that token (by fingerprint), takes a fresh
one and retries once. A second 401 is an error, never a loop.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from farmlokal.auth.v1 import auth_internal_pb2 as apb
from farmlokal.auth.v1 import auth_internal_pb2_grpc as apb_grpc

from farmlokal_common.errors import FailedPrecondition, Unavailable
from farmlokal_common.http_client import ResilientClient
from farmlokal_common.json_body import load_json
from farmlokal_common.retry import Deadline

log = logging.getLogger("farmlokal.catalog.supplier")


@dataclass(frozen=True)
class AccessToken:
    value: str
    fingerprint: str

    def __repr__(self) -> str:  # never print the token itself
        return f"AccessToken({self.fingerprint})"


class TokenSource(Protocol):
    def get(self) -> AccessToken: ...

    def invalidate(self, fingerprint: str) -> None: ...


class BrokerTokens:
    """The auth service's token broker over gRPC."""

    def __init__(
        self, channel: grpc.Channel, audience: str = "", scope: str = "", timeout: float = 12.0
    ) -> None:
        self._stub = apb_grpc.TokenBrokerServiceStub(channel)
        self._audience = audience  # empty: the auth service's configured supplier audience/scope
        self._scope = scope
        self._timeout = timeout

    def get(self) -> AccessToken:
        try:
            reply = self._stub.GetAccessToken(
                apb.GetAccessTokenRequest(audience=self._audience, scope=self._scope), timeout=self._timeout
            )
        except grpc.RpcError as error:
            raise _auth_error(error, "no access token for the supplier API") from None
        return AccessToken(reply.access_token, reply.fingerprint)

    def invalidate(self, fingerprint: str) -> None:
        try:
            self._stub.InvalidateToken(
                apb.InvalidateTokenRequest(
                    fingerprint=fingerprint, audience=self._audience, scope=self._scope
                ),
                timeout=self._timeout,
            )
        except grpc.RpcError as error:
            raise _auth_error(error, "could not drop the rejected supplier token") from None


def _auth_error(error: grpc.RpcError, what: str) -> Unavailable:
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else ""
    return Unavailable(f"auth service: {what} ({code.name if code else 'error'}: {details})")


class SupplierRejectedToken(FailedPrecondition):
    """The supplier refused a freshly issued token too: credentials or audience are misconfigured."""


class SupplierProtocolError(Unavailable):
    """The supplier answered with something that is not a product page."""


@dataclass(frozen=True)
class SupplierItem:
    """One product as the supplier sent it; validated later, one by one."""

    external_id: str
    name: str
    description: str
    category: str
    price: str
    stock: int
    updated_at: dt.datetime


@dataclass(frozen=True)
class SupplierPage:
    items: list[SupplierItem]
    rejected: list[tuple[str, str]]  # (external_id or "?", why) for entries that could not be read
    has_more: bool


class SupplierClient:
    def __init__(self, http: ResilientClient, tokens: TokenSource, base_url: str) -> None:
        self._http = http
        self._tokens = tokens
        self._url = base_url.rstrip("/") + "/supplier/v1/products"

    @property
    def breaker_state(self) -> str:
        return self._http.breaker.state if self._http.breaker else "closed"

    def fetch_page(
        self, page: int, page_size: int, updated_since: dt.datetime | None, deadline: Deadline | None = None
    ) -> SupplierPage:
        if self._http.breaker is not None:
            self._http.breaker.ensure_callable()  # open: fail fast, before even asking for a token
        params: dict[str, str | int] = {"page": page, "page_size": page_size}
        if updated_since is not None:
            params["updated_since"] = updated_since.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        token = self._tokens.get()
        response = self._http.get(self._url, params=params, headers=_bearer(token), deadline=deadline)
        if response.status_code == 401:
            log.info("supplier refused the token; refreshing once", extra={"fingerprint": token.fingerprint})
            self._tokens.invalidate(token.fingerprint)
            token = self._tokens.get()
            response = self._http.get(self._url, params=params, headers=_bearer(token), deadline=deadline)
            if response.status_code == 401:
                raise SupplierRejectedToken("the supplier API rejected a freshly issued access token")
        if response.status_code != 200:
            raise SupplierProtocolError(f"the supplier API answered HTTP {response.status_code}")
        return _parse(response.content)


def _bearer(token: AccessToken) -> dict[str, str]:
    return {"authorization": f"Bearer {token.value}"}


def _parse(content: bytes) -> SupplierPage:
    try:
        body = load_json(content)  # JsonBodyError is a ValueError
        raw_items = body["products"]
        has_more = bool(body["has_more"])
    except (ValueError, KeyError, TypeError):
        raise SupplierProtocolError(
            "the supplier API answered with something that is not a product page"
        ) from None
    items, rejected = [], []
    for raw in raw_items:
        try:
            items.append(_item(raw))
        except (KeyError, TypeError, ValueError) as error:
            ext = str(raw.get("external_id", "?")) if isinstance(raw, dict) else "?"
            rejected.append((ext, f"unreadable entry: {type(error).__name__}"))
    return SupplierPage(items, rejected, has_more)


def _item(raw: Any) -> SupplierItem:
    updated_at = dt.datetime.fromisoformat(str(raw["updated_at"]).replace("Z", "+00:00"))
    if updated_at.tzinfo is None:
        raise ValueError("updated_at without a time zone")
    stock = raw["stock"]
    if not isinstance(stock, int) or isinstance(stock, bool):
        raise TypeError("stock is not an integer")
    return SupplierItem(
        external_id=str(raw["external_id"]),
        name=str(raw["name"]),
        description=str(raw.get("description") or ""),
        category=str(raw["category"]),
        price=str(raw["price"]),
        stock=stock,
        updated_at=updated_at.astimezone(dt.UTC),
    )
