"""Transactions run again after deadlocks and lock wait timeouts, and only then."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from farmlokal_common.db import retry_transaction


class Flaky:
    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "committed"


def db_error(kind: type, code: int) -> Exception:
    return kind("INSERT ...", {}, Exception(code, "server says no"))


def test_deadlocks_and_lock_waits_are_retried() -> None:
    work = Flaky([db_error(OperationalError, 1213), db_error(OperationalError, 1205)])
    assert retry_transaction(work) == "committed" and work.calls == 3


def test_other_errors_are_not_retried() -> None:
    work = Flaky([db_error(IntegrityError, 1062)])
    with pytest.raises(IntegrityError):
        retry_transaction(work)
    assert work.calls == 1


def test_callers_may_add_codes_they_know_are_safe() -> None:
    work = Flaky([db_error(IntegrityError, 1062)])
    assert retry_transaction(work, also=(1062,)) == "committed" and work.calls == 2


def test_gives_up_after_the_last_attempt() -> None:
    work = Flaky([db_error(OperationalError, 1213) for _ in range(3)])
    with pytest.raises(OperationalError):
        retry_transaction(work, attempts=3)
    assert work.calls == 3
