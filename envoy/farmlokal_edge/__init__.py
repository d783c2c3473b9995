"""The Envoy edge: its configuration, rendered from the protos' descriptor set and a few settings.

`render_edge_config(EdgeConfig(...))` gives the bootstrap Envoy runs (`make up`, the test fixtures,
compose's edge-config job and the Helm chart all render it here); `python -m farmlokal_edge` writes it.
Which services are public, which need an admin token and how long each call may take is read from
the protos (farmlokal/api/v1/edge.proto options), never listed here.
"""

from farmlokal_edge.config import EdgeConfig
from farmlokal_edge.render import (
    EdgeConfigError,
    envoy_binary,
    render_edge_config,
    validate_edge_config,
    write_edge_config,
)

__all__ = [
    "EdgeConfig",
    "EdgeConfigError",
    "envoy_binary",
    "render_edge_config",
    "validate_edge_config",
    "write_edge_config",
]
