"""A reference CatalogService that answers ListProducts with one prebuilt 20-product response.

It is the ceiling B1 compares the real service against: the same Envoy configuration in front, the
same number of processes sharing the port, and no work per request beyond gRPC itself. Run it as
`python -m bench.reference_server --port 50061 [--workers 2] [--response-file page.bin]`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

PAGE_SIZE = 20
SERVICE = "farmlokal.catalog.v1.CatalogService"


def prebuilt_response_bytes(response_file: Path | None = None) -> bytes:
    """The serialized ListProductsResponse: a captured real page if given, else a synthetic one."""
    from farmlokal.catalog.v1 import catalog_pb2 as pb

    if response_file is not None:
        data = response_file.read_bytes()
        pb.ListProductsResponse.FromString(data)  # fail at start, not per request, if it is not one
        return data
    rng = random.Random(20)
    created = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    products = []
    for index in range(PAGE_SIZE):
        product = pb.Product(
            id=1_000_000 - index,
            name=f"Organic Alphonso Mango {index + 1} kg",
            description=" ".join(
                rng.choice(
                    ("Fresh", "hand-picked", "from", "Ratnagiri", "farms", "sweet", "ripe", "seasonal")
                )
                for _ in range(rng.randint(10, 40))
            )
            + ".",
            category="Fruits",
            price=f"{rng.randint(49, 999)}.00",
            stock=rng.randint(0, 500),
        )
        product.created_at.FromDatetime(created - dt.timedelta(minutes=index))
        product.updated_at.FromDatetime(created - dt.timedelta(minutes=index))
        products.append(product)
    return pb.ListProductsResponse(
        products=products, next_cursor="reference-cursor", has_more=True
    ).SerializeToString()


def create_server(
    address: str,
    response: bytes,
    reuse_port: bool = False,
    threads: int = 32,
    also_listen: tuple[str, ...] = (),
) -> tuple[object, int]:
    """Starts the server on address (port 0 picks one); returns (server, port)."""
    import grpc
    from farmlokal.catalog.v1 import catalog_pb2 as pb
    from farmlokal.catalog.v1 import catalog_pb2_grpc as pb_grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection

    from catalog_service.transport.prebuilt import Prebuilt, PrebuiltResponseInterceptor
    from farmlokal_common import rest_json

    # Both answers as the catalog keeps them: the message's wire form, and for the REST edge its
    # JSON in an HttpBody (farmlokal_common/rest_json.py).
    typed = Prebuilt(response)
    json_body = Prebuilt(rest_json.http_body(pb.ListProductsResponse.FromString(response)))

    class ReferenceCatalog(pb_grpc.CatalogServiceServicer):
        def ListProducts(self, request: object, context: grpc.ServicerContext) -> object:
            return json_body if rest_json.wants_json_body(context.invocation_metadata()) else typed

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads),
        interceptors=[PrebuiltResponseInterceptor()],
        options=[("grpc.so_reuseport", 1 if reuse_port else 0)],
    )
    pb_grpc.add_CatalogServiceServicer_to_server(ReferenceCatalog(), server)
    health_servicer = health.HealthServicer()
    for name in ("", SERVICE):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    for extra in also_listen:
        if server.add_insecure_port(extra) == 0:
            raise OSError(f"cannot listen on {extra}")
    server.start()
    return server, port


def _serve_one(address: str, response: bytes, reuse_port: bool, also_listen: tuple[str, ...] = ()) -> None:
    server, _ = create_server(address, response, reuse_port, also_listen=also_listen)
    stopped = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stopped.wait()
    server.stop(1).wait()  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reference_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)")
    parser.add_argument("--response-file", type=Path, help="a serialized ListProductsResponse to serve")
    parser.add_argument(
        "--worker-port-base",
        type=int,
        default=0,
        help="worker i also listens on this + i (as the services do)",
    )
    args = parser.parse_args(argv)
    response = prebuilt_response_bytes(args.response_file)
    address = f"{args.host}:{args.port}"
    if args.workers <= 1:
        _serve_one(address, response, reuse_port=False)
        return 0
    # Fork before any gRPC object exists, as grpcio requires.
    children = []
    for index in range(args.workers):
        own = (f"{args.host}:{args.worker_port_base + index}",) if args.worker_port_base else ()
        pid = os.fork()
        if pid == 0:
            try:
                _serve_one(address, response, reuse_port=True, also_listen=own)
            finally:
                os._exit(0)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        os.waitpid(child, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
