"""Wall time per conversion stage of one episode, kept in its staged summary.

Stages: ``verify`` (chunk checksums), ``read`` (pass 1 over the bag: stamps, events),
``decode`` (pass 1's small streams into arrays), ``align`` (frames, labels, quality),
``calibrate`` (transforms, extrinsics, checks), ``read_large`` (pass 2: the images and
scans the frames use, read and decoded), ``encode`` (video frames), ``write_images``
(HDF5 image datasets), ``lidar`` (crop, downsample, write the sidecar) and ``write``
(frames, stamps, labels). The sinks' stages (``encode``, ``write_images``, ``lidar``)
are timed in pass 2's sink thread and overlap ``read_large``.
``bench/convert_throughput.py`` sums them over a run, so the next bottleneck is visible.
Each converting process stages one episode at a time; the clock is reset at the start of
each.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterable, Iterator, TypeVar

T = TypeVar('T')


class StageClock:
    """Seconds accumulated per stage name; a stage timed inside another is its own.

    Nested ``timed`` blocks count self time: the outer stage gets its wall time minus
    what the inner ones took.
    """

    def __init__(self) -> None:
        """Start with no stage timed."""
        self.seconds: dict[str, float] = {}
        self._inner: list[float] = []     # per open block: time taken by inner stages

    def reset(self) -> None:
        """Forget every stage (a new episode)."""
        self.seconds = {}
        self._inner = []

    def add(self, stage: str, seconds: float) -> None:
        """Count ``seconds`` to ``stage``."""
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Count the wall time of the ``with`` body (less inner stages) to ``stage``."""
        start = time.perf_counter()
        self._inner.append(0.0)
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.add(stage, elapsed - self._inner.pop())
            if self._inner:
                self._inner[-1] += elapsed

    def producing(self, stage: str, items: Iterable[T]) -> Iterator[T]:
        """``items``, counting the time spent producing each one to ``stage``."""
        source = iter(items)
        while True:
            with self.timed(stage):
                item = next(source, _END)
            if item is _END:
                return
            yield item  # type: ignore[misc]

    def result(self) -> dict[str, float]:
        """Seconds per stage, rounded to milliseconds."""
        return {stage: round(seconds, 3) for stage, seconds in self.seconds.items()}


_END = object()

#: The clock of this process's episode being staged.
CLOCK = StageClock()
