"""The queue between the executor and the writer: byte budget, and waking in batches."""

from __future__ import annotations

import threading

import pytest

from humanoid_data.recording.queue import ByteBoundedQueue

#: Guard against a hang only: every wait below ends by an item, never by this.
GUARD_S = 30.0


def _drain_in_thread(queue: ByteBoundedQueue[str], **kwargs) -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(queue.drain(**kwargs)), daemon=True)
    thread.start()
    return thread, out


def _wait(thread: threading.Thread) -> None:
    thread.join(GUARD_S)
    assert not thread.is_alive(), 'the consumer was never woken'


def test_the_budget_refuses_data_but_never_control():
    queue: ByteBoundedQueue[str] = ByteBoundedQueue(10)
    assert queue.offer('a', 6) and not queue.offer('b', 6) and queue.offer('c', 4)
    queue.put_control('stop')
    assert queue.queued_bytes == 10 and queue.peak_bytes == 10 and len(queue) == 3
    assert queue.drain(timeout=0) == ['a', 'c', 'stop']
    assert queue.queued_bytes == 0


def test_a_full_batch_of_data_wakes_the_consumer():
    queue: ByteBoundedQueue[int] = ByteBoundedQueue(1 << 20, batch_items=4)
    for i in range(3):
        queue.offer(i, 1)
    thread, out = _drain_in_thread(queue, timeout=None)   # waits: 3 is not a batch
    queue.offer(3, 1)
    _wait(thread)
    assert out == [[0, 1, 2, 3]]


def test_a_control_item_wakes_the_consumer_at_once():
    queue: ByteBoundedQueue[object] = ByteBoundedQueue(1 << 20, batch_items=1000)
    queue.offer('data', 1)
    thread, out = _drain_in_thread(queue, timeout=None)
    queue.put_control('start')
    _wait(thread)
    assert out == [['data', 'start']]


def test_the_timeout_takes_a_partial_batch_and_a_backlog_is_taken_without_waiting():
    queue: ByteBoundedQueue[int] = ByteBoundedQueue(1 << 20, batch_items=100)
    for i in range(5):
        queue.offer(i, 1)
    assert queue.drain(timeout=0, limit=2) == [0, 1]
    # Three left behind a limit are a backlog: no wait for a batch (None would hang).
    thread, out = _drain_in_thread(queue, timeout=None)
    _wait(thread)
    assert out == [[2, 3, 4]]


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match='budget_bytes'):
        ByteBoundedQueue(0)
    with pytest.raises(ValueError, match='batch_items'):
        ByteBoundedQueue(10, batch_items=0)
