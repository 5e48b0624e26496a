"""A queue bounded by bytes between the executor thread and the writer thread.

The executor thread must never wait on disk. It offers each received message; when the
bytes waiting exceed the budget the message is refused and the caller counts a drop.
Control items (episode commands, drop notes) are never refused: they are tiny and their
order relative to the data is what makes episode boundaries exact.

The consumer is woken in batches, not per message: a data item wakes it only when it
makes ``batch_items`` waiting (a control item at once), and otherwise it takes what came
when its wait times out. Waking the writer for every message made the two threads trade
the interpreter lock thousands of times a second, and the writer ran its whole loop (hold,
live sync, flush check) per message.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar('T')


class ByteBoundedQueue(Generic[T]):
    """FIFO of items with a byte budget for data items; safe across threads."""

    def __init__(self, budget_bytes: int, batch_items: int = 256) -> None:
        """Create an empty queue that holds at most ``budget_bytes`` of data items.

        ``batch_items`` waiting data items wake a waiting consumer.
        """
        if budget_bytes <= 0:
            raise ValueError('budget_bytes must be positive')
        if batch_items <= 0:
            raise ValueError('batch_items must be positive')
        self.budget_bytes = budget_bytes
        self.batch_items = batch_items
        self._urgent = False
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._peak_bytes = 0
        self._cond = threading.Condition(threading.Lock())

    def offer(self, item: T, nbytes: int) -> bool:
        """Append a data item unless it would exceed the budget; return whether it was taken."""
        with self._cond:
            if self._bytes + nbytes > self.budget_bytes:
                return False
            self._items.append((item, nbytes))
            self._bytes += nbytes
            if self._bytes > self._peak_bytes:
                self._peak_bytes = self._bytes
            if len(self._items) == self.batch_items:
                self._cond.notify()   # a batch is ready; smaller ones wait for the timeout
            return True

    def put_control(self, item: T) -> None:
        """Append an item that bypasses the budget."""
        with self._cond:
            self._items.append((item, 0))
            self._urgent = True
            self._cond.notify()

    def drain(self, timeout: float | None = None, limit: int = 1000) -> list[T]:
        """Remove and return up to ``limit`` oldest items (maybe none).

        Waits up to ``timeout`` for a batch: ``batch_items`` data items or a control item;
        at the timeout, takes whatever is waiting.
        """
        with self._cond:
            if not self._urgent and len(self._items) < self.batch_items:
                self._cond.wait_for(
                    lambda: self._urgent or len(self._items) >= self.batch_items, timeout)
            batch = []
            freed = 0
            items = self._items
            for _ in range(min(limit, len(items))):
                item, nbytes = items.popleft()
                freed += nbytes
                batch.append(item)
            self._bytes -= freed
            self._urgent = bool(items)    # what is left is a backlog (or a command)
            return batch

    @property
    def queued_bytes(self) -> int:
        """Bytes of data items waiting now."""
        return self._bytes

    @property
    def peak_bytes(self) -> int:
        """Largest ``queued_bytes`` seen since creation."""
        return self._peak_bytes

    def __len__(self) -> int:
        """Return the number of waiting items."""
        return len(self._items)
