"""Thin gRPC servicers: parse the request, call the service layer, present the result."""

from __future__ import annotations

from typing import Any

from farmlokal.catalog.v1 import catalog_internal_pb2 as ipb
from farmlokal.catalog.v1 import catalog_internal_pb2_grpc as ipb_grpc
from farmlokal.catalog.v1 import catalog_pb2 as pb
from farmlokal.catalog.v1 import catalog_pb2_grpc as pb_grpc
from grpc import ServicerContext

from catalog_service.catalog import Catalog
from catalog_service.health_report import DOWN, HealthReporter
from catalog_service.listing.cursor import CursorCodec
from catalog_service.product_input import product_changes, product_fields
from catalog_service.supplier.sync import SupplierSync
from catalog_service.transport import presenters
from catalog_service.transport.prebuilt import Prebuilt
from catalog_service.transport.requests import parse_list_request, parse_product_id, parse_selector
from catalog_service.writes import ProductWriter
from farmlokal_common import response_headers
from farmlokal_common.admission import Admissions
from farmlokal_common.errors import Unavailable
from farmlokal_common.rest_json import wants_json_body
from farmlokal_common.timestamps import timestamp


class CatalogServicer(pb_grpc.CatalogServiceServicer):
    """The read routes take their call's admission (its rate-limit check, opened by the rate-limit
    interceptor) and hand it to the catalog, which answers it in its own Redis round trip (the
    cache's lookup, or the generation's floor)."""

    def __init__(self, catalog: Catalog, cursors: CursorCodec, admissions: Admissions) -> None:
        self._catalog = catalog
        self._cursors = cursors
        self._admissions = admissions

    def ListProducts(
        self, request: pb.ListProductsRequest, context: ServicerContext
    ) -> Prebuilt:  # a serialized ListProductsResponse; for the REST edge, its JSON in an HttpBody
        query = parse_list_request(request, self._cursors)
        rest_json = wants_json_body(context.invocation_metadata())
        return Prebuilt(self._catalog.list_products(query, self._admissions.of(context), rest_json))

    def GetProduct(self, request: pb.GetProductRequest, context: ServicerContext) -> pb.Product:
        product_id = parse_product_id(request.id)
        return presenters.product(self._catalog.get_product(product_id, self._admissions.of(context)))

    def ListCategories(
        self, request: pb.ListCategoriesRequest, context: ServicerContext
    ) -> Prebuilt:  # a serialized ListCategoriesResponse; for the REST edge, its JSON in an HttpBody
        rest_json = wants_json_body(context.invocation_metadata())
        return Prebuilt(self._catalog.list_categories(self._admissions.of(context), rest_json))


class SupplierServicer(pb_grpc.SupplierServiceServicer):
    """Admin routes of the supplier integration: run a sync now, report the breaker and the last run."""

    def __init__(self, sync: SupplierSync) -> None:
        self._sync = sync

    def SyncSupplier(self, request: pb.SyncSupplierRequest, context: ServicerContext) -> pb.SyncSummary:
        run = self._sync.run(trigger="manual", full=request.full)
        if run.error and run.summary.fetched == 0:
            # The supplier or the credentials failed (the deployment's fault, not the caller's): an
            # error status, whatever the cause's own code (a refused token is FAILED_PRECONDITION, a 400).
            raise Unavailable(f"the supplier sync failed and nothing was fetched: {run.error}")
        return presenters.sync_summary(run)

    def GetSupplierStatus(
        self, request: pb.GetSupplierStatusRequest, context: ServicerContext
    ) -> pb.GetSupplierStatusResponse:
        breaker_state, last = self._sync.status()
        if last is None:
            return pb.GetSupplierStatusResponse(breaker_state=breaker_state)
        return pb.GetSupplierStatusResponse(
            breaker_state=breaker_state,
            last_sync=presenters.sync_summary(last),
            last_sync_at=timestamp(last.finished_at),
            last_error=last.error,
        )


class SystemHealthServicer(pb_grpc.SystemHealthServiceServicer):
    def __init__(self, reporter: HealthReporter) -> None:
        self._reporter = reporter

    def GetHealth(self, request: pb.GetHealthRequest, context: ServicerContext) -> pb.GetHealthResponse:
        report = self._reporter.report()
        if report.status == DOWN:  # declared (farmlokal.api.v1.http_status_header) on the method
            response_headers.set_http_status(503)
        return presenters.health(report)

    def GetLiveness(self, request: pb.GetLivenessRequest, context: ServicerContext) -> pb.GetLivenessResponse:
        return pb.GetLivenessResponse(status="ok")

    def GetReadiness(
        self, request: pb.GetReadinessRequest, context: ServicerContext
    ) -> pb.GetReadinessResponse:
        if self._reporter.ready():
            return pb.GetReadinessResponse(status="ready")
        response_headers.set_http_status(503)
        return pb.GetReadinessResponse(status="not_ready")


CHANGEABLE_FIELDS = ("name", "description", "category", "price", "stock")


class ProductWriteServicer(ipb_grpc.ProductWriteServiceServicer):
    """Internal write path (not routed by the public edge)."""

    def __init__(self, writer: ProductWriter) -> None:
        self._writer = writer

    def UpsertProducts(
        self, request: ipb.UpsertProductsRequest, context: ServicerContext
    ) -> ipb.UpsertProductsResponse:
        fields = [
            product_fields(
                p.external_id, p.name, p.description, p.category, p.price, p.stock, f"products[{i}]."
            )
            for i, p in enumerate(request.products)
        ]
        result = self._writer.upsert(fields)
        return ipb.UpsertProductsResponse(
            created=result.created, updated=result.updated, unchanged=result.unchanged
        )

    def UpdateProduct(
        self, request: ipb.UpdateProductRequest, context: ServicerContext
    ) -> ipb.UpdateProductResponse:
        def given(field: str) -> Any:
            return getattr(request, field) if request.HasField(field) else None

        changes = product_changes(**{field: given(field) for field in CHANGEABLE_FIELDS})
        record = self._writer.update(parse_selector(request), changes)
        return ipb.UpdateProductResponse(product=presenters.product(record))

    def DeleteProduct(
        self, request: ipb.DeleteProductRequest, context: ServicerContext
    ) -> ipb.DeleteProductResponse:
        return ipb.DeleteProductResponse(deleted=self._writer.delete(parse_selector(request)))

    def AdjustStock(
        self, request: ipb.AdjustStockRequest, context: ServicerContext
    ) -> ipb.AdjustStockResponse:
        record = self._writer.adjust_stock(parse_selector(request), request.delta)
        return ipb.AdjustStockResponse(product=presenters.product(record))
