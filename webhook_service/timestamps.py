"""Naive UTC datetimes from MySQL as protobuf Timestamps."""

from __future__ import annotations

import datetime as dt

from google.protobuf import timestamp_pb2


def timestamp(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value.replace(tzinfo=dt.UTC))
    return ts
