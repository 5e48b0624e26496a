"""A queue bounded by bytes between the executor thread and the writer thread.

The executor thread must never wait on disk. It offers each received message; when the
bytes waiting exceed the budget the message is refused and the caller counts a drop.
Control items (episode commands, drop notes) are never refused: they are tiny and their
order relative to the data is what makes episode boundaries exact.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar('T')


class ByteBoundedQueue(Generic[T]):
    """FIFO of items with a byte budget for data items; safe across threads."""

    def __init__(self, budget_bytes: int) -> None:
        """Create an empty queue that holds at most ``budget_bytes`` of data items."""
        if budget_bytes <= 0:
            raise ValueError('budget_bytes must be positive')
        self.budget_bytes = budget_bytes
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
            if len(self._items) == 1:
                self._cond.notify()   # the consumer may be waiting on an empty queue
            return True

    def put_control(self, item: T) -> None:
        """Append an item that bypasses the budget."""
        with self._cond:
            self._items.append((item, 0))
            self._cond.notify()

    def drain(self, timeout: float | None = None, limit: int = 1000) -> list[T]:
        """Remove and return up to ``limit`` oldest items, waiting ``timeout`` for one.

        Taking items in batches keeps the two threads from handing the lock (and the
        interpreter lock) back and forth for every message.
        """
        with self._cond:
            if not self._items and not self._cond.wait_for(lambda: bool(self._items), timeout):
                return []
            batch = []
            freed = 0
            items = self._items
            for _ in range(min(limit, len(items))):
                item, nbytes = items.popleft()
                freed += nbytes
                batch.append(item)
            self._bytes -= freed
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
