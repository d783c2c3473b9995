"""Workers back off while idle and are woken at once when work arrives; shared chores run once."""

from __future__ import annotations

import threading
import time

from webhook_service.pacing import Pacing


def _timed_idle(pacing: Pacing, empty_polls: int) -> float:
    started = time.monotonic()
    pacing.idle(empty_polls)
    return time.monotonic() - started


def test_the_wait_doubles_up_to_the_max() -> None:
    pacing = Pacing(0.02, 0.08)
    assert 0.015 < _timed_idle(pacing, 1) < 0.06
    assert 0.035 < _timed_idle(pacing, 2) < 0.1
    assert 0.07 < _timed_idle(pacing, 10) < 0.2


def test_a_worker_idle_for_any_number_of_polls_still_waits_the_max() -> None:
    """A delivery worker woken by every inbound event counted past 1,024 empty polls in a bench run,
    and 2 ** 1024 overflowed a float: the worker thread died and deliveries stopped."""
    pacing = Pacing(0.02, 0.05)
    for empty_polls in (1_025, 10**6):
        assert 0.04 < _timed_idle(pacing, empty_polls) < 0.2


def test_work_wakes_a_waiting_worker_at_once() -> None:
    pacing = Pacing(5.0, 5.0)
    threading.Timer(0.05, pacing.wake).start()
    assert _timed_idle(pacing, 1) < 1.0


def test_stopping_wakes_every_worker() -> None:
    pacing, stopping = Pacing(5.0, 5.0), threading.Event()
    threading.Thread(target=pacing.watch, args=(stopping,), daemon=True).start()
    threading.Timer(0.05, stopping.set).start()
    assert _timed_idle(pacing, 1) < 1.0


def test_a_chore_is_due_once_per_interval_for_the_process() -> None:
    pacing = Pacing(0.1, 1.0)
    assert pacing.due("reap", 10.0)
    assert not pacing.due("reap", 10.0)
    assert pacing.due("backlog", 10.0)
