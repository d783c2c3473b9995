"""Names shared by the edge's parts: filters, clusters, headers and metadata keys."""

LUA_FILTER = "envoy.filters.http.lua"
HEADER_MUTATION_FILTER = "envoy.filters.http.header_mutation"
CORS_FILTER = "envoy.filters.http.cors"
TRANSCODER_FILTER = "envoy.filters.http.grpc_json_transcoder"
JWT_AUTHN_FILTER = "envoy.filters.http.jwt_authn"
RBAC_FILTER = "envoy.filters.http.rbac"

REST_SINK_CLUSTER = "rest_sink"
JWKS_CLUSTER = "oauth_jwks"
JWT_PROVIDER = "oauth"
JWT_PAYLOAD_METADATA = "jwt_payload"
# Route metadata namespace: the admin scope a route needs, for the local reply that names it.
EDGE_METADATA = "farmlokal.edge"
# The verified token's subject, for the services' per-subject rate limits. Clients cannot send it:
# the header_mutation filter strips it from every request before jwt_authn may set it.
SUBJECT_HEADER = "x-auth-subject"
# A servicer's chosen REST status (farmlokal.api.v1.http_status_header); the Lua filter applies it.
HTTP_STATUS_HEADER = "x-http-status"
