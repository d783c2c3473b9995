"""Auth servicers. The token broker arrives with its own issue; until then these answer UNIMPLEMENTED."""

from __future__ import annotations

from farmlokal.auth.v1 import auth_pb2 as pb
from farmlokal.auth.v1 import auth_pb2_grpc as pb_grpc
from grpc import ServicerContext

from farmlokal_common.errors import Unimplemented


class TokenInfoServicer(pb_grpc.TokenInfoServiceServicer):
    def GetTokenInfo(
        self, request: pb.GetTokenInfoRequest, context: ServicerContext
    ) -> pb.GetTokenInfoResponse:
        raise Unimplemented("token info is not available yet")


class TokenBrokerServicer(pb_grpc.TokenBrokerServiceServicer):
    def GetAccessToken(
        self, request: pb.GetAccessTokenRequest, context: ServicerContext
    ) -> pb.GetAccessTokenResponse:
        raise Unimplemented("the token broker is not available yet")

    def InvalidateToken(
        self, request: pb.InvalidateTokenRequest, context: ServicerContext
    ) -> pb.InvalidateTokenResponse:
        raise Unimplemented("the token broker is not available yet")
