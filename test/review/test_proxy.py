"""Proxy videos of the review workbench: frame k of the proxy is the bag's image k, cached.

A session recorded without DDS (test/dataset/recording.py) gives the recorder's own bags;
its simulated camera repeats frames while the scene is still, so frame exactness is
checked on a synthetic bag (the project's bag writer) whose every image differs: raw
``Image`` of odd size in RGB and BGR order, and PNG ``CompressedImage``.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from humanoid_data.bag import encode
from humanoid_data.bag.episode_bag import EpisodeBag
from humanoid_data.bag.episode_reader import EpisodeReader
from humanoid_data.bag.typestore import typestore_for
from humanoid_data.core.config import load_suite
from humanoid_data.core.topics import topics_for
from humanoid_data.errors import BagError, ConfigError
from humanoid_data.review import proxy as proxy_module
from humanoid_data.review.proxy import (
    COLOR_RANGE, COLORSPACE, GOP, camera_streams, make_proxy)
from test.dataset.recording import REPO, record

av = pytest.importorskip('av')

FRAMES = 40
RATE_HZ = 30.0
T0 = 10 ** 15
SYNTHETIC_SUITE = {
    'robot': 'synthetic', 'joints': ['j0'], 'streams': [
        {'name': 'cam_raw', 'topic': '/cam/raw', 'type': 'sensor_msgs/msg/Image',
         'modality': 'rgb', 'rate_hz': RATE_HZ, 'width': 161, 'height': 121,
         'encoding': 'rgb8'},
        {'name': 'cam_bgr', 'topic': '/cam/bgr', 'type': 'sensor_msgs/msg/Image',
         'modality': 'rgb', 'rate_hz': RATE_HZ, 'width': 161, 'height': 121,
         'encoding': 'bgr8'},
        {'name': 'cam_png', 'topic': '/cam/png', 'type': 'sensor_msgs/msg/CompressedImage',
         'modality': 'rgb', 'rate_hz': RATE_HZ},
        {'name': 'cam_absent', 'topic': '/cam/absent', 'type': 'sensor_msgs/msg/Image',
         'modality': 'rgb', 'rate_hz': RATE_HZ, 'width': 64, 'height': 48,
         'encoding': 'rgb8'},
        {'name': 'depth', 'topic': '/cam/depth', 'type': 'sensor_msgs/msg/Image',
         'modality': 'depth', 'rate_hz': RATE_HZ, 'width': 32, 'height': 24,
         'encoding': '16UC1'},
    ]}


def _blocks(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """An RGB image of random 8x8 blocks: every image differs from every other."""
    blocks = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)[:height, :width]


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    """A session of one episode whose images all differ; returns (episode, stamps)."""
    session = tmp_path_factory.mktemp('synthetic') / 'session'
    session.mkdir()
    (session / 'suite.yaml').write_text(yaml.safe_dump(SYNTHETIC_SUITE))
    suite = load_suite(session / 'suite.yaml')
    index = {t.topic: i for i, t in enumerate(topics_for(suite))}
    store = typestore_for()
    compressed = store.types['sensor_msgs/msg/CompressedImage']
    rng = np.random.default_rng(7)
    bag = EpisodeBag(session / 'episode_0001', topics_for(suite))
    stamps = []
    for k in range(FRAMES):
        stamp = T0 + round(k * 1e9 / RATE_HZ) + int(rng.integers(0, 3_000_000))
        stamps.append(stamp)
        raw = _blocks(rng, 121, 161)
        png = _blocks(rng, 96, 128)
        log = stamp + 4_000_000
        bag.write(index['/cam/raw'], log, encode.image(stamp, 'raw', raw, 'rgb8'))
        bag.write(index['/cam/bgr'], log, encode.image(stamp, 'bgr', raw[..., ::-1], 'bgr8'))
        data = cv2.imencode('.png', png[..., ::-1])[1].reshape(-1)
        message = compressed(encode.header(stamp, 'png'), 'png', data)
        bag.write(index['/cam/png'], log, store.serialize_cdr(
            message, 'sensor_msgs/msg/CompressedImage').tobytes())
        bag.write(index['/cam/depth'], log,
                  encode.image(stamp, 'depth', np.full((24, 32), k, np.uint16), '16UC1'))
    bag.close()
    return session / 'episode_0001', stamps


@pytest.fixture(scope='module')
def recorded(tmp_path_factory):
    """An episode as the recorder writes it (the simulated humanoid, no DDS)."""
    root = tmp_path_factory.mktemp('recorded')
    session, _ = record(root, 'good', REPO / 'config' / 'humanoid.yaml', episodes=1)
    return session / 'episode_0001'


def _bag_images(episode: Path, topic: str) -> tuple[list[np.ndarray], list[int]]:
    """The topic's images as RGB and their header stamps, in bag order."""
    reader = EpisodeReader(episode)
    reader.scan()
    count = len(reader.samples[topic].header_ns)
    images, stamps = [], []
    for _, image in reader.read(topic, set(range(count))):
        pixels = image.pixels[..., ::-1] if image.encoding == 'bgr8' else image.pixels
        images.append(pixels)
        stamps.append(image.header_ns)
    return images, stamps


def _through_yuv(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``rgb`` padded to the video's size as the encoder sees it: via yuv420p and back."""
    pad = ((0, height - rgb.shape[0]), (0, width - rgb.shape[1]), (0, 0))
    frame = av.VideoFrame.from_ndarray(np.pad(rgb, pad, mode='edge'), format='rgb24')
    yuv = frame.reformat(format='yuv420p', dst_colorspace=COLORSPACE,
                         dst_color_range=COLOR_RANGE)
    return yuv.reformat(format='rgb24', src_colorspace=COLORSPACE,
                        src_color_range=COLOR_RANGE).to_ndarray()


def _decoded(path: Path) -> tuple[list[np.ndarray], list[float], list[bool]]:
    """Every frame of the video as RGB, each one's time (s) and whether it is a keyframe.

    The stream is tagged BT.709 limited range, so a player converts it as it was made.
    """
    with av.open(str(path)) as video:
        context = video.streams.video[0].codec_context
        assert (context.colorspace, context.color_range, context.color_primaries,
                context.color_trc) == (1, 1, 1, 1)
        frames = list(video.decode(video=0))
    return ([f.reformat(format='rgb24', src_colorspace=COLORSPACE,
                        src_color_range=COLOR_RANGE).to_ndarray() for f in frames],
            [float(f.time) for f in frames],
            [bool(f.key_frame) for f in frames])


@pytest.mark.parametrize('camera, topic', [('cam_raw', '/cam/raw'), ('cam_bgr', '/cam/raw'),
                                           ('cam_png', '/cam/png')])
def test_frame_k_of_the_proxy_is_image_k_of_the_bag(synthetic, tmp_path, camera, topic):
    episode, sent_stamps = synthetic
    proxy = make_proxy(episode, camera, tmp_path / 'cache')
    images, stamps = _bag_images(episode, topic)
    frames, times, keys = _decoded(proxy.path)
    assert len(frames) == len(images) == proxy.frames == FRAMES
    assert list(proxy.stamps_ns) == stamps == sent_stamps
    assert proxy.fps == RATE_HZ and proxy.mime == 'video/mp4'
    assert proxy.width % 2 == 0 and proxy.height % 2 == 0
    assert (proxy.height, proxy.width) == frames[0].shape[:2]
    assert proxy.width - images[0].shape[1] in (0, 1)
    assert proxy.height - images[0].shape[0] in (0, 1)
    expected = [_through_yuv(i, proxy.width, proxy.height).astype(np.int16) for i in images]
    rng = np.random.default_rng(0)
    for k in sorted({0, 1, FRAMES // 2, FRAMES - 1, *rng.integers(0, FRAMES, 5).tolist()}):
        near = range(max(0, k - 2), min(FRAMES, k + 3))
        error = {j: float(np.abs(frames[k].astype(np.int16) - expected[j]).mean())
                 for j in near}
        assert min(error, key=error.__getitem__) == k, (k, error)
        assert error[k] < 10, (k, error)
        # frame k is shown over [k/fps, (k+1)/fps): a seek to (k + 0.5) / fps lands in it
        assert times[k] == pytest.approx(k / RATE_HZ, abs=1e-6)
    assert [k for k, key in enumerate(keys) if key] == list(range(0, FRAMES, GOP))


def test_the_recorded_camera_has_every_image_and_its_stamps(recorded, tmp_path):
    assert [c.name for c in camera_streams(recorded)] == ['wrist_right_rgb']
    camera = camera_streams(recorded)[0]
    proxy = make_proxy(recorded, camera.name, tmp_path / 'cache')
    images, stamps = _bag_images(recorded, camera.topic)
    frames, times, _ = _decoded(proxy.path)
    assert len(frames) == len(images) == proxy.frames
    assert list(proxy.stamps_ns) == stamps
    assert proxy.fps == camera.rate_hz
    assert times == pytest.approx([k / proxy.fps for k in range(len(frames))], abs=1e-6)
    for k in (0, len(images) // 2, len(images) - 1):
        expected = _through_yuv(images[k], proxy.width, proxy.height).astype(np.int16)
        assert float(np.abs(frames[k].astype(np.int16) - expected).mean()) < 3


def test_camera_streams_are_the_rgb_streams_with_images(synthetic):
    episode, _ = synthetic
    cameras = camera_streams(episode)
    assert [(c.name, c.topic, c.rate_hz) for c in cameras] == [
        ('cam_raw', '/cam/raw', RATE_HZ), ('cam_bgr', '/cam/bgr', RATE_HZ),
        ('cam_png', '/cam/png', RATE_HZ)]


@pytest.fixture
def counted(monkeypatch):
    """Count the encodes ``make_proxy`` runs."""
    calls = []
    original = proxy_module._encode

    def encode_counted(*args):
        calls.append(args[1].name)
        return original(*args)
    monkeypatch.setattr(proxy_module, '_encode', encode_counted)
    return calls


def test_a_proxy_is_made_once_and_again_when_the_bag_changes(synthetic, tmp_path, counted):
    episode = tmp_path / 'session' / 'episode_0001'
    shutil.copytree(synthetic[0].parent, episode.parent)
    cache = tmp_path / 'cache'
    first = make_proxy(episode, 'cam_raw', cache)
    before = first.path.stat()
    second = make_proxy(episode, 'cam_raw', cache)
    assert second == first and counted == ['cam_raw']
    after = second.path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    mcap = next(episode.glob('*.mcap'))
    stat = mcap.stat()
    os.utime(mcap, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 ** 9))
    third = make_proxy(episode, 'cam_raw', cache)
    assert counted == ['cam_raw', 'cam_raw']
    assert third.path != first.path and third.stamps_ns == first.stamps_ns
    assert not first.path.exists()          # the stale proxy is gone
    assert sorted(p.suffix for p in cache.iterdir()) == ['.json', '.lock', '.mp4']


def test_a_damaged_sidecar_is_built_again(synthetic, tmp_path, counted):
    first = make_proxy(synthetic[0], 'cam_png', tmp_path)
    first.path.with_suffix('.json').write_text('{"key": ')
    again = make_proxy(synthetic[0], 'cam_png', tmp_path)
    assert again == first and counted == ['cam_png', 'cam_png']


def test_concurrent_requests_build_once(synthetic, tmp_path, counted):
    start = threading.Barrier(4)
    results = []

    def request():
        start.wait()
        results.append(make_proxy(synthetic[0], 'cam_bgr', tmp_path / 'cache'))
    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counted == ['cam_bgr']
    assert len(results) == 4 and all(r == results[0] for r in results)


@pytest.mark.parametrize('camera', ['head_rgb', 'depth', 'nope', 'cam_absent', '../cam_raw',
                                    'cam_raw/../cam_raw', ''])
def test_an_unknown_camera_is_refused_naming_it(synthetic, tmp_path, camera):
    with pytest.raises(BagError, match=re.escape(repr(camera))) as info:
        make_proxy(synthetic[0], camera, tmp_path / 'cache')
    assert str(synthetic[0]) in str(info.value)
    assert not (tmp_path / 'cache').exists()


def test_a_damaged_bag_is_refused_naming_the_file(synthetic, tmp_path):
    episode = tmp_path / 'session' / 'episode_0001'
    shutil.copytree(synthetic[0].parent, episode.parent)
    mcap = next(episode.glob('*.mcap'))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    with pytest.raises(BagError, match=mcap.name) as info:
        make_proxy(episode, 'cam_raw', tmp_path / 'cache')
    assert 'cam_raw' in str(info.value)
    assert not list((tmp_path / 'cache').glob('*.mp4'))
    assert not list((tmp_path / 'cache').glob('.*'))     # no temporary file left


def test_a_cache_inside_the_episode_folder_is_refused(synthetic):
    with pytest.raises(ConfigError, match='inside the episode'):
        make_proxy(synthetic[0], 'cam_raw', synthetic[0] / 'cache')
    assert not (synthetic[0] / 'cache').exists()


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob('*'))}


def test_the_episode_folder_is_left_as_it_was(recorded, tmp_path):
    before = _listing(recorded)
    proxy = make_proxy(recorded, 'wrist_right_rgb', tmp_path / 'cache')
    assert _listing(recorded) == before
    assert proxy.path.parent == tmp_path / 'cache'
