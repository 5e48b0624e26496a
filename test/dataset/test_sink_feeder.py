"""Pass 2's sink thread: every sink fed in order, a sink's failure raised in the reader."""

from __future__ import annotations

import threading

import pytest

from humanoid_data.dataset.sink_feeder import SinkFeeder


class _Sink:
    def __init__(self, stage: str, fail_at: int | None = None) -> None:
        self.stage, self.fail_at = stage, fail_at
        self.fed: list[tuple[int, int, str]] = []
        self.threads: set[str] = set()

    def feed(self, frame: int, index: int, value: str) -> None:
        if frame == self.fail_at:
            raise ValueError(f'{self.stage}: frame {frame} does not encode')
        self.fed.append((frame, index, value))
        self.threads.add(threading.current_thread().name)


def test_each_sink_gets_its_frames_in_order_on_the_feeder_thread():
    video, images = _Sink('encode'), _Sink('write_images')
    feeder = SinkFeeder(depth=2)         # a small queue: puts wait for the thread
    for frame in range(50):
        feeder.put(video, frame, 10 + frame, f'v{frame}')
        if frame % 2 == 0:
            feeder.put(images, frame // 2, frame, f'i{frame}')
    feeder.close()
    assert video.fed == [(f, 10 + f, f'v{f}') for f in range(50)]
    assert images.fed == [(f, 2 * f, f'i{2 * f}') for f in range(25)]
    assert video.threads == images.threads == {'sink_feeder'}
    assert set(feeder.seconds) == {'encode', 'write_images'}


def test_a_sink_failure_is_raised_by_a_later_put_or_by_close():
    sink = _Sink('encode', fail_at=3)
    feeder = SinkFeeder(depth=1)
    with pytest.raises(ValueError, match='frame 3 does not encode'):
        for frame in range(1000):        # the failure stops the reader well before
            feeder.put(sink, frame, frame, 'x')
        feeder.close()
    assert [f for f, _, _ in sink.fed] == [0, 1, 2]
    with pytest.raises(ValueError, match='frame 3'):
        feeder.close()


def test_cancel_ends_the_thread_after_a_prefix_of_what_was_put():
    sink = _Sink('encode')
    feeder = SinkFeeder(depth=64)
    for frame in range(50):
        feeder.put(sink, frame, frame, 'x')
    feeder.cancel()                      # returns: the thread has ended
    fed = [f for f, _, _ in sink.fed]
    assert fed == list(range(len(fed)))  # in order, none skipped before the cut
