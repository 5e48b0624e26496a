"""The converter keeps normal scheduling: no thread of it stays real-time.

SVT-AV1 raises its threads, and the one that opens it, to SCHED_FIFO 99 where it may (as
root). Where this test runs without that right, the encoder cannot do it and the video
test holds trivially; the helper test is skipped.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from humanoid_data.bag.decode import ImageArray
from humanoid_data.core.config import Modality
from humanoid_data.core.scheduling import drop_realtime_priority, realtime_threads
from humanoid_data.dataset.config import load_dataset_config
from humanoid_data.dataset.episode import FramePlan
from humanoid_data.resources import share_file

#: Guard against a hang only.
GUARD_S = 30.0


def test_a_real_time_thread_is_put_back_to_normal_scheduling():
    ready, release = threading.Event(), threading.Event()
    refused: list[OSError] = []

    def realtime() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        except OSError as err:
            refused.append(err)
        ready.set()
        release.wait(GUARD_S)

    thread = threading.Thread(target=realtime, daemon=True)
    thread.start()
    assert ready.wait(GUARD_S)
    try:
        if refused:
            pytest.skip(f'this process may not make a thread real-time: {refused[0]}')
        assert thread.native_id in realtime_threads()
        assert drop_realtime_priority() >= 1
        assert realtime_threads() == []
        assert os.sched_getscheduler(thread.native_id) == os.SCHED_OTHER
    finally:
        release.set()
        thread.join(GUARD_S)


def test_the_video_encoder_leaves_no_real_time_thread(tmp_path):
    av = pytest.importorskip('av')
    from humanoid_data.dataset.image_sinks import VideoSink
    config = load_dataset_config(share_file('config/dataset.yaml'))
    if config.video.codec not in av.codecs_available:
        pytest.skip(f'{config.video.codec} is not in this PyAV build')
    plan = FramePlan('head_rgb', '/camera/head/image_raw', 'observation.images.head',
                     Modality.RGB, np.arange(2), np.ones(2, bool), width=64, height=48)
    sink = VideoSink(plan, tmp_path / 'head.mp4', config)
    try:
        for frame in range(2):
            pixels = np.full((48, 64, 3), 40 * frame, np.uint8)
            sink.feed(frame, frame, ImageArray(0, 'head', 'rgb8', pixels))
            assert realtime_threads() == []
        sink.finish()
    finally:
        sink.close()
