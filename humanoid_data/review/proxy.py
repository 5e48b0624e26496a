"""Browser-playable proxy videos of an episode's cameras, made once and cached.

A browser cannot play a bag's images, so the review page gets one proxy video per RGB
camera: H.264 in MP4 (yuv420p tagged BT.709, a keyframe every ``GOP`` frames for quick
seeks, the index at the front so playback starts before the file has arrived) at the
camera's nominal rate. Frame k of the proxy is the camera's k-th image in the bag (log order) with
presentation time k / fps, so a player seeking to (k + 0.5) / fps shows image k;
``Proxy.stamps_ns[k]`` is that image's capture stamp.

Proxies live in a cache folder, never in the episode folder::

    <episode>-<camera>-<place>-<key>.mp4    the video
    <episode>-<camera>-<place>-<key>.json   sidecar: rate, size, stamps, key
    <episode>-<camera>-<place>.lock         held while one is built

``place`` is a digest of the episode folder's path (two sessions may both have an
``episode_0001``); ``key`` a digest of the bag's files (names, sizes, modification times)
and the encoder settings, so a changed bag or new settings make a new proxy and the old
one is removed. A build holds an exclusive lock, so concurrent requests build a proxy
once; the video goes to a temporary file renamed into place and the sidecar is written
last, so nobody ever sees half a proxy.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from humanoid_data.bag.decode import ImageArray
from humanoid_data.bag.episode_reader import EpisodeReader
from humanoid_data.bag.metadata import BAG_METADATA, check_bag_metadata, load_yaml_file
from humanoid_data.core.config import Modality, StreamConfig, SuiteConfig, load_suite
from humanoid_data.errors import BagError, ConfigError, HumanoidDataError

__all__ = ['ENCODER', 'GOP', 'MIME', 'CameraStream', 'Proxy', 'camera_streams', 'make_proxy']

SUITE_FILE = 'suite.yaml'       # the suite a session was recorded with, in its folder
ENCODER = 'libx264'
PIX_FMT = 'yuv420p'
GOP = 10                        # frames between keyframes: a seek decodes at most this many
CRF = 20
PRESET = 'superfast'            # 1.8 times as fast as veryfast, 1.4 times the bytes
MIME = 'video/mp4'
LAYOUT = 1                      # of the proxy and its sidecar: a change rebuilds every proxy
#: Camera RGB becomes BT.709 limited-range YUV, and the stream says so: untagged, a
#: browser guesses BT.601 for small videos and BT.709 for HD ones.
COLORSPACE = 'ITU709'
COLOR_RANGE = 'MPEG'
_BT709 = 1                      # colour primaries, transfer and matrix code of BT.709
#: Everything that changes the proxy's bytes; part of the cache key.
SETTINGS = {'layout': LAYOUT, 'encoder': ENCODER, 'pix_fmt': PIX_FMT, 'gop': GOP,
            'crf': CRF, 'preset': PRESET, 'bframes': 0, 'container': 'mp4+faststart',
            'colour': f'{COLORSPACE}/{COLOR_RANGE}'}
_X264_PARAMS = f'keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0'


@dataclass(frozen=True)
class CameraStream:
    """An RGB camera of an episode: its stream name in the suite, topic and nominal rate."""

    name: str
    topic: str
    rate_hz: float


@dataclass(frozen=True)
class Proxy:
    """A camera's proxy video and the capture stamp of each of its frames."""

    path: Path
    fps: float
    stamps_ns: tuple[int, ...]      # absolute capture stamps of frame k
    width: int
    height: int
    mime: str

    @property
    def frames(self) -> int:
        """Frames of the video (the camera's images in the bag)."""
        return len(self.stamps_ns)


class _EveryIndex(set[int]):
    """Every bag-order index: ``EpisodeReader.read`` then decodes each message in turn."""

    def __contains__(self, item: object) -> bool:
        return True


def _suite_file(episode_dir: Path) -> Path:
    """The suite file the episode was recorded with: ``suite.yaml`` of its session folder.

    Looked for where ``EpisodeReader`` looks (the session folder, then the one above).

    Raises:
        ConfigError: There is none.

    """
    for folder in (episode_dir.parent, episode_dir.parent.parent):
        if (folder / SUITE_FILE).is_file():
            return folder / SUITE_FILE
    raise ConfigError(f'{episode_dir}: no {SUITE_FILE} in its session folder')


def _suite(episode_dir: Path) -> SuiteConfig:
    """The suite the episode was recorded with (``_suite_file``), checked.

    Raises:
        ConfigError: There is none, or it is not a valid suite.

    """
    return load_suite(_suite_file(episode_dir))


def _topic_counts(episode_dir: Path) -> dict[str, int]:
    """Messages per topic from the bag's ``metadata.yaml`` (checked before)."""
    data: Any = load_yaml_file(episode_dir / BAG_METADATA)
    entries = data['rosbag2_bagfile_information'].get('topics_with_message_count') or []
    return {e['topic_metadata']['name']: int(e['message_count']) for e in entries}


def _rgb_streams(suite: SuiteConfig) -> list[StreamConfig]:
    return [s for s in suite.streams if s.modality == Modality.RGB]


def camera_streams(episode_dir: Path) -> list[CameraStream]:
    """The suite's RGB cameras with at least one image in the episode's bag, in suite order.

    Raises:
        BagError: The folder is not an episode bag, or its ``metadata.yaml`` is damaged.
        ConfigError: The session folder has no valid ``suite.yaml``.

    """
    episode_dir = Path(episode_dir)
    check_bag_metadata(episode_dir)
    counts = _topic_counts(episode_dir)
    return [CameraStream(s.name, s.topic, s.rate_hz) for s in _rgb_streams(_suite(episode_dir))
            if counts.get(s.topic, 0) > 0]


def _camera(episode_dir: Path, camera: str) -> StreamConfig:
    """The RGB stream called ``camera``, with images in the bag.

    Raises:
        BagError: No such RGB stream in the suite, or it has no images in this bag.

    """
    streams = _rgb_streams(_suite(episode_dir))
    for stream in streams:
        if stream.name == camera:
            if _topic_counts(episode_dir).get(stream.topic, 0) <= 0:
                raise BagError(f'{episode_dir}: camera {camera!r} ({stream.topic}) has no '
                               'images in this bag')
            return stream
    known = ', '.join(s.name for s in streams) or 'none'
    raise BagError(f'{episode_dir}: no camera {camera!r} in this episode '
                   f'(RGB streams of its suite: {known})')


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _bag_files(episode_dir: Path) -> list[Path]:
    return [episode_dir / BAG_METADATA] + sorted(episode_dir.glob('*.mcap'))


def _cache_key(episode_dir: Path, camera: str) -> str:
    """Digest of the encoder settings, the camera and the files it is made of as they are.

    The files (the bag's and the suite's) by name, size and modification time: a stat
    each, so a cache hit reads no file but the sidecar.

    Raises:
        BagError: The folder is not a readable episode bag.
        ConfigError: No suite for it.

    """
    parts = [json.dumps(SETTINGS, sort_keys=True), camera]
    for path in _bag_files(episode_dir) + [_suite_file(episode_dir)]:
        try:
            stat = path.stat()
        except OSError as err:
            check_bag_metadata(episode_dir)       # names what is wrong with the bag
            raise BagError(f'{path}: cannot read: {err.strerror or err}') from err
        parts.append(f'{path}:{stat.st_size}:{stat.st_mtime_ns}')
    return _digest('\n'.join(parts))[:16]


def _rate(rate_hz: float) -> Fraction:
    """The video's frame rate as a fraction (29.97 stays 2997/100)."""
    return Fraction(rate_hz).limit_denominator(1001)


def _load(video: Path, sidecar: Path, key: str) -> Proxy | None:
    """The cached proxy when its sidecar is there, matches ``key`` and fits the video."""
    try:
        data = json.loads(sidecar.read_text())
        if data.get('key') != key or video.stat().st_size != data['bytes']:
            return None
        return Proxy(video, float(data['fps']), tuple(int(s) for s in data['stamps_ns']),
                     int(data['width']), int(data['height']), str(data['mime']))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None     # absent or damaged: built again


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created) for the block."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise HumanoidDataError(f'{path}: cannot create the proxy lock: '
                                f'{err.strerror or err}') from err
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)        # closing releases the lock


def _check_cache_dir(episode_dir: Path, cache_dir: Path) -> None:
    """Refuse a cache inside the episode folder; create it.

    Raises:
        ConfigError: ``cache_dir`` is the episode folder or inside it.
        HumanoidDataError: It cannot be created.

    """
    inside = episode_dir.resolve()
    target = cache_dir.resolve()
    if target == inside or inside in target.parents:
        raise ConfigError(f'{cache_dir}: the proxy cache must not be inside the episode '
                          f'folder {episode_dir}')
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HumanoidDataError(f'{cache_dir}: cannot create the proxy cache: '
                                f'{err.strerror or err}') from err


def make_proxy(episode_dir: Path, camera: str, cache_dir: Path) -> Proxy:
    """The proxy video of ``camera``: the cached one when it is up to date, else built now.

    Args:
        episode_dir: The episode folder (its bag is only read).
        camera: The RGB stream's name in the session's suite.
        cache_dir: Where proxies are kept (created; not inside the episode folder).

    Raises:
        BagError: Unknown camera, a camera without images, or a bag that cannot be read
            (naming the episode, the camera and the file).
        ConfigError: No valid suite for the episode, or a cache inside the episode folder.
        HumanoidDataError: The cache folder cannot take the video (a full disk).

    """
    episode_dir, cache_dir = Path(episode_dir), Path(cache_dir)
    if not camera.replace('_', '').isalnum():      # no stream's name; never in a path
        _camera(episode_dir, camera)
    base = f'{episode_dir.name}-{camera}-{_digest(str(episode_dir.resolve()))[:8]}'
    key = _cache_key(episode_dir, camera)
    video, sidecar = (cache_dir / f'{base}-{key}.mp4', cache_dir / f'{base}-{key}.json')
    cached = _load(video, sidecar, key)
    if cached is not None:
        return cached
    check_bag_metadata(episode_dir)
    stream = _camera(episode_dir, camera)
    _check_cache_dir(episode_dir, cache_dir)
    with _locked(cache_dir / f'{base}.lock'):
        cached = _load(video, sidecar, key)      # built while this one waited
        if cached is not None:
            return cached
        _remove(cache_dir, base, keep=None)      # what a killed build left
        proxy = _build(episode_dir, stream, video)
        _write_sidecar(sidecar, proxy, key)
        _remove(cache_dir, base, keep=f'{base}-{key}.')
        return proxy


def _remove(cache_dir: Path, base: str, keep: str | None) -> None:
    """Delete this camera's cached files except those starting with ``keep``.

    With ``keep`` None only leftover temporary files go; else older proxies and sidecars.
    """
    pattern = f'.{glob.escape(base)}-*.part' if keep is None else f'{glob.escape(base)}-*'
    for path in cache_dir.glob(pattern):
        if keep is None or (not path.name.startswith(keep) and
                            path.suffix in ('.mp4', '.json')):
            path.unlink(missing_ok=True)


def _temporary(target: Path) -> Path:
    base = target.name.rsplit('-', 1)[0]
    fd, name = tempfile.mkstemp(prefix=f'.{base}-', suffix='.part', dir=target.parent)
    os.close(fd)
    return Path(name)


def _write_sidecar(sidecar: Path, proxy: Proxy, key: str) -> None:
    data = {'key': key, 'settings': SETTINGS, 'fps': proxy.fps, 'width': proxy.width,
            'height': proxy.height, 'mime': proxy.mime, 'frames': proxy.frames,
            'bytes': proxy.path.stat().st_size, 'stamps_ns': list(proxy.stamps_ns)}
    part = _temporary(sidecar)
    try:
        part.write_text(json.dumps(data))
        os.replace(part, sidecar)
    except OSError as err:
        part.unlink(missing_ok=True)
        raise HumanoidDataError(f'{sidecar}: cannot write the proxy sidecar: '
                                f'{err.strerror or err}') from err


def _rgb(image: ImageArray) -> np.ndarray:
    """An image as (H, W, 3) uint8 RGB; 16-bit and float images scaled to 8 bits."""
    pixels = image.pixels
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    elif pixels.dtype.kind == 'f':
        pixels = (np.clip(np.nan_to_num(pixels), 0.0, 1.0) * 255.0).astype(np.uint8)
    if pixels.ndim == 2:
        return np.repeat(pixels[..., None], 3, axis=2)
    if image.encoding == 'bgr8':
        return pixels[..., ::-1]
    return pixels


def _even(pixels: np.ndarray) -> np.ndarray:
    """Pad an odd width or height by repeating the last column or row (yuv420p needs even)."""
    height, width = pixels.shape[:2]
    if height % 2 or width % 2:
        return np.pad(pixels, ((0, height % 2), (0, width % 2), (0, 0)), mode='edge')
    return pixels


def _build(episode_dir: Path, stream: StreamConfig, video: Path) -> Proxy:
    """Encode the camera's images into ``video`` (through a temporary file).

    Raises:
        BagError: The bag cannot be read, or the camera has no images.
        HumanoidDataError: The video cannot be written.

    """
    part = _temporary(video)
    try:
        stamps, width, height = _encode(episode_dir, stream, part)
        os.replace(part, video)
    except OSError as err:
        raise HumanoidDataError(f'{video}: cannot write the proxy of {stream.topic}: '
                                f'{err.strerror or err}') from err
    finally:
        part.unlink(missing_ok=True)
    return Proxy(video, float(_rate(stream.rate_hz)), tuple(stamps), width, height, MIME)


def _open_video(part: Path, rate: Fraction, width: int, height: int) -> tuple[Any, Any]:
    import av
    container = av.open(str(part), mode='w', format='mp4',
                        options={'movflags': '+faststart'})
    video: Any = container.add_stream(ENCODER, rate=rate)
    video.width, video.height, video.pix_fmt = width, height, PIX_FMT
    context = video.codec_context
    context.time_base = 1 / rate
    context.color_range = 1                 # MPEG (limited)
    context.colorspace = context.color_primaries = context.color_trc = _BT709
    video.options = {'crf': str(CRF), 'preset': PRESET, 'x264-params': _X264_PARAMS}
    return container, video


def _encode(episode_dir: Path, stream: StreamConfig, part: Path) -> tuple[list[int], int, int]:
    """Write the camera's images, in log order, as frames 0, 1, ... of an MP4 at ``part``.

    Returns each frame's capture stamp and the video's size. An image of another size
    than the first is scaled to it.
    """
    import av
    rate = _rate(stream.rate_hz)
    mcaps = sorted(episode_dir.glob('*.mcap'))
    where = str(mcaps[0]) if len(mcaps) == 1 else \
        f'{episode_dir} ({", ".join(p.name for p in mcaps) or "no MCAP file"})'
    container: Any = None
    video: Any = None
    stamps: list[int] = []
    width = height = packets = 0
    try:
        reader = EpisodeReader(episode_dir)
        for _, image in reader.read(stream.topic, _EveryIndex()):
            if not isinstance(image, ImageArray):
                raise BagError(f'{episode_dir}: topic {stream.topic} holds no images')
            pixels = _even(_rgb(image))
            if container is None:
                height, width = pixels.shape[:2]
                container, video = _open_video(part, rate, width, height)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format='rgb24')
            frame = frame.reformat(width=width, height=height, format=PIX_FMT,
                                   dst_colorspace=COLORSPACE, dst_color_range=COLOR_RANGE)
            frame.pts = len(stamps)
            stamps.append(int(image.header_ns))
            for packet in video.encode(frame):
                container.mux(packet)
                packets += 1
        if container is None:
            raise BagError(f'{episode_dir}: camera {stream.name} ({stream.topic}) has no '
                           'images in this bag')
        for packet in video.encode():
            container.mux(packet)
            packets += 1
    except BagError as err:
        raise BagError(f'{where}: camera {stream.name}: cannot make its proxy: '
                       f'{_without(err, episode_dir)}') from err
    except av.FFmpegError as err:
        raise HumanoidDataError(f'{part}: encoding the proxy of {stream.topic} failed: '
                                f'{err}') from err
    finally:
        if container is not None:
            container.close()
    if packets != len(stamps):
        raise HumanoidDataError(f'{part}: {packets} frames encoded for {len(stamps)} '
                                f'images of {stream.topic}')
    return stamps, width, height


def _without(err: Exception, episode_dir: Path) -> str:
    """An error's text without the episode folder it starts with (said once already)."""
    text = str(err)
    prefix = f'{episode_dir}: '
    return text[len(prefix):] if text.startswith(prefix) else text
