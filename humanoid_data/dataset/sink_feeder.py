"""Pass 2's sinks fed from a thread of their own, so writing overlaps reading.

Pass 2 reads the bag (decompressing chunks, decoding images) and feeds each frame to its
sinks (video encoders, HDF5 image datasets, the LiDAR sidecar). One episode converted
alone used 1.05-1.25 of this machine's 2 cores with both on one thread; with the sinks on a
second thread, decompression, the encoder and HDF5's compression run at the same time
where the libraries release the interpreter lock. Every sink is still fed by one thread,
in frame order, so the output is the same.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

#: Frames waiting for the sinks: enough to ride over an encoder's bursts, few enough that
#: memory stays small (a 640x480 RGB frame is 0.9 MB).
DEPTH = 16


class SinkFeeder:
    """A thread that calls ``sink.feed(frame, index, value)`` for each item put, in order.

    ``seconds`` holds the feeding time per sink stage (``sink.stage``), measured in the
    thread. A sink's exception stops the feeding and is raised by the next ``put`` or by
    ``close``.
    """

    def __init__(self, depth: int = DEPTH) -> None:
        """Start the thread."""
        self.seconds: dict[str, float] = {}
        self._queue: queue.Queue[tuple[Any, int, int, Any] | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._cancelled = False
        self._thread = threading.Thread(target=self._run, name='sink_feeder', daemon=True)
        self._thread.start()

    def put(self, sink: Any, frame: int, index: int, value: Any) -> None:
        """Queue one frame for ``sink`` (waits while the queue is full)."""
        self._raise()
        self._queue.put((sink, frame, index, value))

    def close(self) -> None:
        """Wait until everything put is fed; raise a sink's exception."""
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def cancel(self) -> None:
        """Drop what is still queued and end the thread (after a failure elsewhere)."""
        self._cancelled = True
        self._queue.put(None)
        self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None or self._cancelled:
                continue                  # drain, so a waiting put returns
            sink, frame, index, value = item
            start = time.perf_counter()
            try:
                sink.feed(frame, index, value)
            except BaseException as err:  # handed to the reading thread
                self._error = err
            self.seconds[sink.stage] = (self.seconds.get(sink.stage, 0.0)
                                        + time.perf_counter() - start)
