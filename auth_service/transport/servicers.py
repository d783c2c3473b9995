"""Thin auth servicers over the token broker."""

from __future__ import annotations

import datetime as dt
import time

from farmlokal.auth.v1 import auth_internal_pb2 as ipb
from farmlokal.auth.v1 import auth_internal_pb2_grpc as ipb_grpc
from farmlokal.auth.v1 import auth_pb2 as pb
from farmlokal.auth.v1 import auth_pb2_grpc as pb_grpc
from google.protobuf import timestamp_pb2
from grpc import ServicerContext

from auth_service.broker import Lease, TokenBroker
from auth_service.provider import ProviderRejected
from farmlokal_common.errors import FieldViolation, InvalidArgument, Unavailable
from farmlokal_common.timestamps import timestamp


def _expires_at(lease: Lease) -> timestamp_pb2.Timestamp:
    return timestamp(dt.datetime.fromtimestamp(lease.token.expires_at, dt.UTC))


class TokenInfoServicer(pb_grpc.TokenInfoServiceServicer):
    """Public metadata of the supplier token; the token itself never leaves the internal network."""

    def __init__(self, broker: TokenBroker, audience: str, scope: str) -> None:
        self._broker = broker
        self._audience = audience
        self._scope = scope

    def GetTokenInfo(
        self, request: pb.GetTokenInfoRequest, context: ServicerContext
    ) -> pb.GetTokenInfoResponse:
        try:
            lease = self._broker.get(self._audience, self._scope)
        except ProviderRejected as refused:
            # The deployment's credentials, not the caller's request: 503 (FAILED_PRECONDITION is a
            # 400 at the edge), the provider's reason kept.
            raise Unavailable(refused.message) from None
        return pb.GetTokenInfoResponse(
            token_type=lease.token.token_type,
            expires_at=_expires_at(lease),
            expires_in=max(0, int(lease.token.expires_at - time.time())),
            source=lease.source,
            fingerprint=lease.token.fingerprint,
        )


class TokenBrokerServicer(ipb_grpc.TokenBrokerServiceServicer):
    """Internal: hands tokens to the other services (not routed by the public edge)."""

    def __init__(self, broker: TokenBroker, audience: str, scope: str) -> None:
        self._broker = broker
        self._audience = audience
        self._scope = scope

    def GetAccessToken(
        self, request: ipb.GetAccessTokenRequest, context: ServicerContext
    ) -> ipb.GetAccessTokenResponse:
        lease = self._broker.get(request.audience or self._audience, request.scope or self._scope)
        return ipb.GetAccessTokenResponse(
            access_token=lease.token.access_token,
            token_type=lease.token.token_type,
            expires_at=_expires_at(lease),
            fingerprint=lease.token.fingerprint,
            source=lease.source,
        )

    def InvalidateToken(
        self, request: ipb.InvalidateTokenRequest, context: ServicerContext
    ) -> ipb.InvalidateTokenResponse:
        if not request.fingerprint.startswith("sha256:"):
            raise InvalidArgument(FieldViolation("fingerprint", "fingerprint must look like sha256:<12 hex>"))
        invalidated = self._broker.invalidate(
            request.fingerprint, request.audience or self._audience, request.scope or self._scope
        )
        return ipb.InvalidateTokenResponse(invalidated=invalidated)
