"""Pass 2's sinks: each camera's frames into a LeRobot video or an HDF5 image dataset.

``feed_sinks`` reads every large stream the frames use in one pass over the bag and hands
each sink its frames in order, from a thread of its own (``SinkFeeder``); the LiDAR
sidecar (``lidar_scans.LidarSink``) is fed the same way. A video's frame times are read
back from its packets (``packet_times``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from humanoid_data.bag.decode import ImageArray
from humanoid_data.core.config import Modality
from humanoid_data.core.scheduling import drop_realtime_priority
from humanoid_data.dataset.config import DatasetConfig
from humanoid_data.dataset.episode import EpisodeData, FramePlan
from humanoid_data.dataset.sink_feeder import SinkFeeder
from humanoid_data.dataset.timing import CLOCK


def _video_writer(path: Path, plan: FramePlan, config: DatasetConfig) -> Any:
    import av  # only needed when writing LeRobot videos
    os.environ.setdefault('SVT_LOG', '1')   # errors only from the AV1 encoder
    container = av.open(str(path), 'w')
    rate = int(round(config.fps))
    stream: Any = container.add_stream(config.video.codec, rate=rate)   # a video stream
    stream.width, stream.height = plan.width, plan.height
    stream.pix_fmt = config.video.pix_fmt
    stream.options = config.video.encoder_options
    return container, stream


def rgb_frame(image: ImageArray) -> np.ndarray:
    """An image as (H, W, 3) RGB: BGR reversed, grey repeated."""
    pixels = image.pixels
    if image.encoding == 'bgr8':
        return pixels[..., ::-1]
    if pixels.ndim == 2:
        return np.repeat(pixels[..., None], 3, axis=2)
    return pixels


class PixelStats:
    """Per-channel min, max, mean and std (0..1) of every ``every``-th frame.

    Kept as running sums, so memory does not grow with the episode (LeRobot's image
    statistics in meta/stats.json).
    """

    def __init__(self, every: int = 10) -> None:
        """Sample one frame in ``every``."""
        self.every = every
        self.seen = 0
        self.frames = 0
        self.pixels = 0
        self.low = np.full(3, np.inf)
        self.high = np.full(3, -np.inf)
        self.total = np.zeros(3)
        self.squares = np.zeros(3)

    def add(self, rgb: np.ndarray) -> None:
        """Offer one (H, W, 3) uint8 frame."""
        self.seen += 1
        if (self.seen - 1) % self.every:
            return
        values = rgb.reshape(-1, 3).astype(np.float64) / 255.0
        self.frames += 1
        self.pixels += len(values)
        self.low = np.minimum(self.low, values.min(0))
        self.high = np.maximum(self.high, values.max(0))
        self.total += values.sum(0)
        self.squares += np.square(values).sum(0)

    def result(self) -> dict[str, list]:
        """min, max, mean, std as (3, 1, 1) lists and the sampled frame count."""
        mean = self.total / max(self.pixels, 1)
        std = np.sqrt(np.maximum(self.squares / max(self.pixels, 1) - mean ** 2, 0.0))

        def shaped(v: np.ndarray) -> list:
            return v.reshape(3, 1, 1).tolist()
        return {'min': shaped(self.low), 'max': shaped(self.high), 'mean': shaped(mean),
                'std': shaped(std), 'count': [self.frames]}


class VideoSink:
    """One camera's LeRobot video, fed frames in order."""

    stage = 'encode'

    def __init__(self, plan: FramePlan, path: Path, config: DatasetConfig) -> None:
        """Open the video file and its encoder settings (the encoder opens at frame 0)."""
        self.plan, self.path = plan, path
        self.container, self.stream = _video_writer(path, plan, config)
        self.stats = PixelStats()
        self.opened = False

    def feed(self, frame: int, index: int, image: ImageArray) -> None:
        """Encode frame ``frame`` (message ``index`` of the stream)."""
        import av
        rgb = rgb_frame(image)
        self.stats.add(rgb)
        video_frame = av.VideoFrame.from_ndarray(rgb, format='rgb24')
        video_frame.pts = frame
        for packet in self.stream.encode(video_frame):
            self.container.mux(packet)
        if not self.opened:
            # The encoder opened at this first frame; SVT-AV1 made its threads real-time.
            self.opened = True
            drop_realtime_priority()

    def finish(self) -> tuple[list[float], dict[str, list]]:
        """Flush the encoder; the encoded frames' times (s) and the pixel statistics."""
        try:
            for packet in self.stream.encode():
                self.container.mux(packet)
        finally:
            self.container.close()
        return packet_times(self.path), self.stats.result()

    def close(self) -> None:
        """Close the file after a failure."""
        self.container.close()


class ImageSink:
    """One camera's frames in the HDF5 images file, one frame per chunk, as they come."""

    stage = 'write_images'

    def __init__(self, plan: FramePlan, h5: Any, frames: int) -> None:
        """Write into ``h5``; the dataset is made at the first frame, from its shape."""
        self.plan, self.h5, self.frames = plan, h5, frames
        self.dataset: Any = None

    def feed(self, frame: int, index: int, image: ImageArray) -> None:
        """Store frame ``frame`` (message ``index`` of the stream)."""
        pixels = image.pixels if self.plan.modality == Modality.DEPTH else rgb_frame(image)
        if self.dataset is None:
            self.dataset = self.h5.create_dataset(
                self.plan.key, shape=(self.frames,) + pixels.shape, dtype=pixels.dtype,
                chunks=(1,) + pixels.shape, compression='gzip', compression_opts=4)
        self.dataset[frame] = pixels


def feed_sinks(data: EpisodeData, sinks: list[Any]) -> None:
    """Feed every sink the messages its frames use, in frame order, from one bag pass.

    Cameras, depth and LiDAR share the chunks that pass decompresses. The sinks are fed
    from a thread of their own (``SinkFeeder``), so encoding and writing overlap the
    reading; their stage times are measured in that thread and overlap ``read_large``.
    """
    positions: list[dict[int, list[int]]] = []
    wanted: dict[str, set[int]] = {}
    for sink in sinks:
        where: dict[int, list[int]] = {}
        for frame, index in enumerate(sink.plan.index):
            where.setdefault(int(index), []).append(frame)
        positions.append(where)
        wanted.setdefault(sink.plan.topic, set()).update(where)
    pending: list[dict[int, tuple[int, Any]]] = [{} for _ in sinks]
    next_frame = [0] * len(sinks)
    feeder = SinkFeeder()
    try:
        for topic, index, value in CLOCK.producing('read_large',
                                                   data.reader.read_topics(wanted)):
            for k, sink in enumerate(sinks):
                if sink.plan.topic != topic or index not in positions[k]:
                    continue
                for frame in positions[k][index]:
                    pending[k][frame] = (index, value)
                while next_frame[k] in pending[k]:
                    feeder.put(sink, next_frame[k], *pending[k].pop(next_frame[k]))
                    next_frame[k] += 1
    except BaseException:
        feeder.cancel()
        raise
    feeder.close()
    for stage, seconds in feeder.seconds.items():
        CLOCK.add(stage, seconds)


def packet_times(path: Path) -> list[float]:
    """Presentation times (s) of a video file's frames, sorted, read from its packets.

    One packet is one frame in these files (AV1 temporal units, H.264 access units), so
    nothing needs decoding; ``validate`` decodes to check.
    """
    import av
    with av.open(str(path)) as video:
        base = video.streams.video[0].time_base
        return sorted(float(p.pts * base) for p in video.demux(video=0) if p.pts is not None)
