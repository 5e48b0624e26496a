"""Video encoder settings for LeRobot videos: speed and quality on recorded frames.

Frames of one camera of an episode are encoded with each setting (PyAV), decoded back
and compared with the source frames. For each setting the script prints the encoder's
CPU time per frame, its wall time per frame, the bytes per frame and the PSNR (OpenCV's
``cv2.PSNR``; mean and worst frame), each with its ratio to lerobot's own defaults
(libsvtav1, yuv420p, crf 30, g 2, preset 12) measured in the same run.

    python bench/encoder_quality.py EPISODE_DIR [--topic /camera/head/image_raw]
                                    [--frames 120]

Without EPISODE_DIR, a one-episode demo session is recorded first.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from humanoid_data.bag.episode_reader import EpisodeReader
from humanoid_data.core.config import Modality
from humanoid_data.dataset.config import VideoOptions
from humanoid_data.dataset.image_sinks import rgb_frame

LEROBOT = VideoOptions()            # lerobot's defaults (preset '' means its 12 for AV1)
SETTINGS = {
    'lerobot default (svtav1 p12 crf30)': LEROBOT,
    'svtav1 preset 10 crf30': VideoOptions(preset='10'),
    'svtav1 preset 8 crf30': VideoOptions(preset='8'),
    'svtav1 preset 13 crf30': VideoOptions(preset='13'),
    'x264 veryfast crf23': VideoOptions(codec='libx264', crf=23, preset='veryfast'),
    'x264 ultrafast crf23': VideoOptions(codec='libx264', crf=23, preset='ultrafast'),
}


def source_frames(episode: Path, topic: str, count: int) -> list[np.ndarray]:
    """The first ``count`` images of ``topic`` as RGB arrays."""
    reader = EpisodeReader(episode)
    try:
        if not topic:
            topic = next(s.topic for s in reader.suite.streams if s.modality == Modality.RGB)
        frames = []
        for _, value in reader.read(topic, set(range(count))):
            frames.append(np.ascontiguousarray(rgb_frame(value)))
        return frames
    finally:
        reader.close()


def encode(frames: list[np.ndarray], options: VideoOptions, fps: int = 30
           ) -> tuple[bytes, float, float]:
    """(the MP4 bytes, encoder CPU seconds, wall seconds) of ``frames``."""
    buffer = io.BytesIO()
    height, width = frames[0].shape[:2]
    cpu, wall = time.process_time(), time.perf_counter()
    with av.open(buffer, 'w', format='mp4') as container:
        stream = container.add_stream(options.codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, options.pix_fmt
        stream.options = options.encoder_options
        for k, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format='rgb24')
            frame.pts = k
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue(), time.process_time() - cpu, time.perf_counter() - wall


def psnr(frames: list[np.ndarray], video: bytes) -> list[float]:
    """PSNR (dB) of every decoded frame against its source."""
    with av.open(io.BytesIO(video)) as container:
        decoded = [f.to_ndarray(format='rgb24') for f in container.decode(video=0)]
    if len(decoded) != len(frames):
        raise SystemExit(f'decoded {len(decoded)} frames of {len(frames)}')
    return [float(cv2.PSNR(a, b)) for a, b in zip(frames, decoded)]


def main() -> None:
    """Encode with every setting and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('episode', nargs='?', default='')
    parser.add_argument('--topic', default='')
    parser.add_argument('--frames', type=int, default=120)
    args = parser.parse_args()
    episode = Path(args.episode) if args.episode else None
    work = None
    if episode is None:
        work = tempfile.TemporaryDirectory(prefix='humanoid_data_encoder_')
        subprocess.run([sys.executable, '-m', 'humanoid_data', 'demo', '--out', work.name,
                        '--session', 'bench', '--episodes', '1', '--no-convert'],
                       check=True, stdout=subprocess.DEVNULL)
        episode = Path(work.name) / 'bench' / 'episode_0001'
    frames = source_frames(episode, args.topic, args.frames)
    height, width = frames[0].shape[:2]
    print(f'{len(frames)} frames of {width}x{height} from {episode}')
    for options in SETTINGS.values():        # warm-up: the first encode of a codec loads it
        encode(frames[:4], options)
    rows = {}
    for name, options in SETTINGS.items():
        video, cpu, wall = encode(frames, options)
        quality = psnr(frames, video)
        rows[name] = (cpu / len(frames) * 1e3, wall / len(frames) * 1e3,
                      len(video) / len(frames), float(np.mean(quality)), min(quality))
    base = rows['lerobot default (svtav1 p12 crf30)']
    print(f'{"setting":<36}{"cpu ms/frame":>13}{"wall ms/frame":>14}{"bytes/frame":>12}'
          f'{"PSNR dB":>9}{"worst":>7}   ratios to lerobot (cpu, bytes, PSNR)')
    for name, (cpu, wall, size, mean, worst) in rows.items():
        print(f'{name:<36}{cpu:>13.2f}{wall:>14.2f}{size:>12.0f}{mean:>9.2f}{worst:>7.2f}'
              f'   {cpu / base[0]:.2f}, {size / base[2]:.2f}, {mean / base[3]:.3f}')
    if work is not None:
        work.cleanup()


if __name__ == '__main__':
    main()
