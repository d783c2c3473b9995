"""The REST page written from the records is the transcoder's printing of the typed page, byte for byte.

CachedResponses.page_json skips building the ListProductsResponse; rest_json.http_body of that
message is what the edge would print (tests/edge/test_rest_json_body.py holds that one to Envoy's
own output), so the two must agree on every page, whatever the records hold.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from farmlokal.catalog.v1 import catalog_pb2 as pb
from google.api import httpbody_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog_service.domain import ProductRecord
from catalog_service.listing.cursor import CursorCodec
from catalog_service.listing.query import SORTS, ListQuery
from catalog_service.listing.reader import Page
from catalog_service.transport.presenters import CachedResponses, product
from farmlokal_common import rest_json

RESPONSES = CachedResponses(CursorCodec(b"presenters"))
# Text as users and suppliers send it: HTML's brackets, quotes, controls, C1 and invisible
# characters (which the transcoder escapes), non-BMP characters, plain ASCII.
TEXT = st.one_of(
    st.text(alphabet=st.sampled_from('ab <>&"\\\x00\x1f\x7f\x85\xad\u200b\u2028é🥭'), max_size=12),
    st.text(max_size=12),
)
INSTANT = st.datetimes(
    min_value=dt.datetime(1970, 1, 1),
    max_value=dt.datetime(9999, 12, 31),
    timezones=st.just(dt.UTC),
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000) if d.microsecond % 3 else d)
RECORD = st.builds(
    ProductRecord,
    id=st.integers(1, 2**63 - 1),
    external_id=st.none() | st.text(max_size=5),
    name=TEXT,
    description=TEXT,
    category=TEXT,
    price=st.decimals(Decimal("0.00"), Decimal("99999999.99"), places=2),
    stock=st.integers(-(2**31), 2**31 - 1),
    created_at=INSTANT,
    updated_at=INSTANT,
)


@settings(max_examples=300, deadline=None)
@given(records=st.lists(RECORD, max_size=4), has_more=st.booleans(), sort=st.sampled_from(SORTS))
def test_the_page_json_is_the_printing_of_the_typed_page(
    records: list[ProductRecord], has_more: bool, sort: str
) -> None:
    query = ListQuery(sort=sort)
    page = Page(records, has_more and bool(records))
    typed = pb.ListProductsResponse.FromString(RESPONSES.page(query, page))
    assert RESPONSES.page_json(query, page) == rest_json.http_body(typed)


def test_a_page_with_a_next_cursor_carries_the_same_cursor_in_both_forms() -> None:
    moment = dt.datetime(2024, 5, 6, 7, 8, 9, 120_000, tzinfo=dt.UTC)
    record = ProductRecord(7, None, "Mango", "ripe", "fruit", Decimal("12.50"), 3, moment, moment)
    query = ListQuery(sort="price")
    typed = pb.ListProductsResponse.FromString(RESPONSES.page(query, Page([record], True)))
    body = httpbody_pb2.HttpBody.FromString(RESPONSES.page_json(query, Page([record], True)))
    assert typed.next_cursor
    assert body.content_type == "application/json"
    assert body.data == (
        b'{"products":[{"id":"7","name":"Mango","description":"ripe","category":"fruit",'
        b'"price":"12.50","stock":3,"created_at":"2024-05-06T07:08:09.120Z",'
        b'"updated_at":"2024-05-06T07:08:09.120Z"}],"next_cursor":"'
        + typed.next_cursor.encode()
        + b'","has_more":true}'
    )


@settings(max_examples=500, deadline=None)
@given(moment=INSTANT)
def test_datetime_text_is_the_printing_of_the_timestamp(moment: dt.datetime) -> None:
    record = ProductRecord(1, None, "", "", "", Decimal("1.00"), 0, moment, moment)
    assert rest_json.datetime_text(moment) == product(record).created_at.ToJsonString()
    assert rest_json.datetime_text(moment.replace(tzinfo=None)) == rest_json.datetime_text(moment)
    sao_paulo = dt.timezone(dt.timedelta(hours=-3))  # the same instant in another zone (west: no year 10000)
    assert rest_json.datetime_text(moment.astimezone(sao_paulo)) == rest_json.datetime_text(moment)
