"""Timestamps by arithmetic must equal protobuf's own conversion."""

from __future__ import annotations

import datetime as dt

from google.protobuf import timestamp_pb2
from hypothesis import given
from hypothesis import strategies as st

from farmlokal_common.timestamps import timestamp

ZONES = st.sampled_from(
    [None, dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(-dt.timedelta(hours=8))]
)


def reference(value: dt.datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
    return ts


@given(
    st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    ZONES,
)
def test_timestamp_equals_protobufs_conversion(value: dt.datetime, zone: dt.tzinfo | None) -> None:
    value = value.replace(tzinfo=zone)
    assert timestamp(value) == reference(value)


def test_a_naive_value_is_utc() -> None:
    ts = timestamp(dt.datetime(2026, 11, 22, 5, 40, 1, 250_000))
    assert (ts.seconds, ts.nanos) == (1_795_326_001, 250_000_000)
