"""LeRobot videos: each camera's per-episode videos joined into files without re-encoding.

Episodes are encoded one by one in the workers; packing copies their packets, in
episode order, into files of up to ``lerobot.video_files_size_in_mb``, shifting each
episode's times to follow the previous one, so packing is cheap and the output does not
depend on the worker count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from humanoid_data.dataset.config import DatasetConfig
from humanoid_data.dataset.image_sinks import packet_times
from humanoid_data.errors import HumanoidDataError

VIDEO_PATH = 'videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4'
BYTES_PER_MB = 1_000_000      # the unit of lerobot.video_files_size_in_mb


def write_videos(out: Path, key: str, episodes: list[tuple[dict[str, Any], Path, int]],
                 config: DatasetConfig) -> None:
    """Join one camera's episode videos into files of up to the configured size.

    Episodes stay in order; each episode row gets its file and its time range in it.
    """
    limit = config.lerobot.video_files_size_in_mb * BYTES_PER_MB
    groups: list[list[tuple[dict[str, Any], Path, int]]] = []
    size = 0
    for episode in episodes:
        grow = episode[1].stat().st_size
        if not groups or size + grow > limit:
            groups.append([])
            size = 0
        groups[-1].append(episode)
        size += grow
    chunk_size = config.lerobot.chunks_size
    for number, group in enumerate(groups):
        chunk, file = number // chunk_size, number % chunk_size
        target = out / VIDEO_PATH.format(video_key=key, chunk_index=chunk, file_index=file)
        target.parent.mkdir(parents=True, exist_ok=True)
        times = join_videos([path for _, path, _ in group], [n for _, _, n in group],
                            config.fps, target)
        for (row, _, _), episode_times in zip(group, times):
            row.update({f'videos/{key}/chunk_index': chunk, f'videos/{key}/file_index': file,
                        f'videos/{key}/from_timestamp': episode_times[0],
                        f'videos/{key}/to_timestamp': episode_times[-1] + 1 / config.fps})


def join_videos(sources: list[Path], frames: list[int], fps: float,
                target: Path) -> list[list[float]]:
    """Copy the videos one after another into ``target`` without re-encoding.

    Each one starts ``frames / fps`` after the previous one. Returns every source's frame
    times in ``target`` (s), read back from the written file's packets.

    Raises:
        HumanoidDataError: A source's frame count differs from ``frames``.

    """
    import av
    offset_s = 0.0
    with av.open(str(target), 'w') as output:
        stream = None
        for source, count in zip(sources, frames):
            with av.open(str(source)) as video:
                origin = video.streams.video[0]
                if stream is None:
                    stream = output.add_stream_from_template(origin, opaque=True)
                shift = int(round(offset_s / origin.time_base))
                for packet in video.demux(origin):
                    if packet.dts is None:      # the demuxer's end-of-stream marker
                        continue
                    packet.pts += shift
                    packet.dts += shift
                    packet.stream = stream
                    output.mux(packet)
            offset_s += count / fps
    times = packet_times(target)
    if len(times) != sum(frames):
        raise HumanoidDataError(f'{target}: {len(times)} frames after joining '
                                f'{len(sources)} videos of {sum(frames)}')
    split = np.cumsum([0] + list(frames))
    return [times[a:b] for a, b in zip(split[:-1], split[1:])]
