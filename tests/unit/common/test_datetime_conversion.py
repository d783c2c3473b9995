"""The engines' DATETIME converter must read every text MySQL/MariaDB sends as mysqlclient's own does."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from MySQLdb.constants import FIELD_TYPE
from MySQLdb.times import DateTime_or_None

from farmlokal_common.db import CONVERSIONS, parse_datetime


def as_mysql_sends(value: dt.datetime, digits: int) -> str:
    """The column's text: DATETIME(digits) prints that many fractional digits, none for 0."""
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{value.microsecond:06d}"[: len(text) + 1 + digits] if digits else text


@given(st.datetimes(min_value=dt.datetime(1000, 1, 1)), st.integers(min_value=0, max_value=6))
def test_equals_mysqlclients_converter(value: dt.datetime, digits: int) -> None:
    text = as_mysql_sends(value, digits)
    assert parse_datetime(text) == DateTime_or_None(text)


@pytest.mark.parametrize("text", ["0000-00-00 00:00:00", "2024-00-10 00:00:00", "2024-02-30 10:00:00"])
def test_impossible_dates_are_none_as_before(text: str) -> None:
    assert parse_datetime(text) is None
    assert DateTime_or_None(text) is None


def test_the_engines_use_it_for_both_column_types() -> None:
    assert CONVERSIONS[FIELD_TYPE.DATETIME] is parse_datetime
    assert CONVERSIONS[FIELD_TYPE.TIMESTAMP] is parse_datetime
