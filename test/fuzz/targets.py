"""Fuzz targets: each feeds bytes to one real entry point and names the errors it may raise.

A target has valid seed inputs (built here from the project's own encoders, config files
and episode bags), format tokens for the mutator, and ``run(data)``, which raises
whatever the entry point raises. Anything outside ``allowed`` is a finding. The pytest
suite (``test_fuzz.py``) and ``bench/fuzz.py`` share these.

    event_json        core.events.decode_event
    yaml.<file>       the loader of each config file (suite, dataset, taxonomy, contact,
                      teleop, sync) through its file, and the faults parameter text
    cdr.<Type>        bag.decode.decode for the type, every bag.fastcdr fast path, and
                      bag.stamps (header_stamp_ns, string_payload, with_header_stamp)
    mcap.<reader>     a mutated .mcap in an otherwise valid episode folder
    metadata.<reader> a mutated metadata.yaml beside a valid .mcap
    episode.<reader>  a mutated episode.yaml beside a valid bag
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from humanoid_data.errors import (
    BagError, ConfigError, DecodeError, EventError, HumanoidDataError)

REPO = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000 * 10 ** 9
MS = 1_000_000


class Target(NamedTuple):
    """One entry point under fuzzing."""

    name: str
    run: Callable[[bytes], object]
    seeds: Callable[[], list[bytes]]
    allowed: tuple[type[BaseException], ...]
    tokens: tuple[bytes, ...] = ()


def text_of(data: bytes) -> str:
    """Bytes as text the way a hostile caller could hand it over (bad bytes kept)."""
    return data.decode('utf-8', 'surrogateescape')


# --- scratch folder: one per process, reused by every input -------------------------------

_scratch: dict[int, Path] = {}


def scratch() -> Path:
    """A temporary folder of this process (a forked worker gets its own), removed at exit."""
    pid = os.getpid()
    if pid not in _scratch:
        _scratch[pid] = Path(tempfile.mkdtemp(prefix='humanoid_data_fuzz_'))
        atexit.register(shutil.rmtree, _scratch[pid], ignore_errors=True)
    return _scratch[pid]


# --- event JSON --------------------------------------------------------------------------

JSON_TOKENS = (b'[', b'{', b']', b'}', b'"', b'\\"', b'\\u0000', b'\\ud800', b',', b':',
               b'1e999', b'-1e400', b'NaN', b'Infinity', b'null', b'true', b'9' * 40,
               b'"stamp_ns":', b'"kind":"note"', b'\xff', b'\xc3')


def _event_seeds() -> list[bytes]:
    from humanoid_data.core import events as ev
    return [ev.encode_event(e).encode() for e in (
        ev.EpisodeStart(T0, ev.Source.OPERATOR, 'v1', task='pick', instruction='pick it',
                        operator='ann', tags=('a', 'b')),
        ev.EpisodeEnd(T0 + 1, ev.Source.OPERATOR, outcome=ev.Outcome.FAILURE,
                      failure_mode='slip', note='n'),
        ev.EpisodeOutcome(T0 + 2, ev.Source.OPERATOR, failure_mode='drop'),
        ev.Discard(T0 + 3, ev.Source.AUTO, reason='bad'),
        ev.Phase(T0 + 4, ev.Source.SIM_TRUTH, name='grasp', boundary=ev.Boundary.END),
        ev.Contact(T0 + 5, ev.Source.CONTACT_MONITOR, channel='left', peak=3.5,
                   transition=ev.Transition.SLIP),
        ev.Note(T0 + 6, ev.Source.OPERATOR, text='hello [{"x"}]'))]


def run_event(data: bytes) -> object:
    """Decode one event from the events topic."""
    from humanoid_data.core.events import decode_event
    return decode_event(text_of(data))


# --- config YAML -------------------------------------------------------------------------

YAML_TOKENS = (b'[', b'{', b'- ', b'? ', b': ', b'&a ', b'*a', b'<<: *a\n', b'!!python/none ',
               b'!!binary ', b'!!timestamp ', b'!!int ', b'!!float ', b'!!set ', b'!!omap ',
               b'\t', b'\n  ', b'"\\x', b'"\\U0010ffff"', b"'", b'%YAML 1.1\n', b'---\n',
               b'...\n', b'.nan', b'.inf', b'-.inf', b'1e999', b'9' * 60, b'0x', b'2024-13-45',
               b'~', b'null', b'yes', b'#', b'|\n', b'>-\n', b'\xef\xbb\xbf', b'\x00',
               b'\xff', b'\x85', b'\xe2\x80\xa8')
FAULTS = ('imu: {silent_after_s: 2.0, silent_for_s: 0.5}\n'
          'wrist_left_ft: {drop_rate: 0.01, latency_ms: 3, jitter_ms: 1.5}\n'
          'joint_states:\n  clock_offset_ms: -2.5\n')


def _config_loader(kind: str) -> Callable[[Path], object]:
    from humanoid_data.core.config import load_suite
    from humanoid_data.core.contact_config import load_contact_config
    from humanoid_data.core.phases import load_taxonomy
    from humanoid_data.core.teleop import load_teleop_config
    from humanoid_data.dataset.config import load_dataset_config
    from humanoid_data.monitors.sync import load_sync_thresholds
    return {'suite': load_suite, 'dataset': load_dataset_config, 'taxonomy': load_taxonomy,
            'contact': load_contact_config, 'teleop': load_teleop_config,
            'sync': load_sync_thresholds}[kind]


CONFIG_FILES = {'suite': 'humanoid.yaml', 'dataset': 'dataset.yaml', 'taxonomy': 'phases.yaml',
                'contact': 'contact.yaml', 'teleop': 'teleop.yaml', 'sync': 'sync.yaml'}


def _config_target(kind: str) -> Target:
    def run(data: bytes) -> object:
        path = scratch() / CONFIG_FILES[kind]
        path.write_bytes(data)
        return _config_loader(kind)(path)

    def seeds() -> list[bytes]:
        return [(REPO / 'config' / CONFIG_FILES[kind]).read_bytes()]

    return Target(f'yaml.{kind}', run, seeds, (ConfigError,), YAML_TOKENS)


@lru_cache(maxsize=None)
def _suite_streams() -> frozenset[str]:
    from humanoid_data.core.config import load_suite
    return frozenset(s.name for s in load_suite(REPO / 'config' / 'humanoid.yaml').streams)


def run_faults(data: bytes) -> object:
    """Parse the simulator's fault parameter."""
    from humanoid_data.sim.faults import parse_faults
    return parse_faults(text_of(data), set(_suite_streams()))


# --- CDR payloads ------------------------------------------------------------------------

CDR_TOKENS = (b'\x00\x01\x00\x00', b'\x00\x00\x00\x00', b'\xff\xff\xff\xff',
              b'\x00\x00\x00\x80', b'rgb8\x00', b'32FC1\x00')


def _cdr_seeds(msgtype: str) -> list[bytes]:
    from humanoid_data.bag import encode
    from humanoid_data.bag.typestore import typestore_for
    store = typestore_for()
    types = store.types
    short = msgtype.rsplit('/', 1)[1]
    rng = np.random.default_rng(7)
    if short == 'Image':
        seeds = [encode.image(T0, 'cam', (rng.random((3, 4, 3)) * 255).astype(np.uint8), 'rgb8'),
                 encode.image(T0, 'pad', rng.random((2, 3)).astype(np.float32), '32FC1'),
                 encode.image(T0, 'd', np.arange(6, dtype=np.uint16).reshape(2, 3), '16UC1'),
                 encode.image(T0, '', np.zeros((1, 1), np.uint8), 'mono8')]
        big = store.deserialize_cdr(seeds[2], msgtype)
        big.is_bigendian = 1
        seeds.append(store.serialize_cdr(big, msgtype, little_endian=False).tobytes())
        return seeds
    if short == 'CompressedImage':
        import cv2
        msg_t = types[msgtype]
        out = []
        for ext, pixels in (('.png', np.zeros((3, 4, 3), np.uint8)),
                            ('.jpg', np.full((4, 4), 128, np.uint8))):
            ok, blob = cv2.imencode(ext, pixels)
            assert ok
            msg = msg_t(encode.header(T0, 'cam'), ext[1:], blob.reshape(-1))
            out.append(store.serialize_cdr(msg, msgtype).tobytes())
        return out
    if short == 'JointState':
        names = ('hip', 'knee', 'ankle')
        return [encode.joint_state(T0, names, np.arange(3.0), np.ones(3), np.zeros(3)),
                encode.joint_state(T0, names, np.arange(3.0)),
                encode.joint_state(T0, (), np.zeros(0))]
    if short == 'WrenchStamped':
        return [encode.wrench(T0, 'ft', [1, 2, 3], [4, 5, 6]),
                encode.wrench(T0, 'a_longer_frame', [0, 0, 0], [0, 0, 0])]
    if short == 'Imu':
        return [encode.imu(T0, 'imu', [0, 0, 0, 1], [1, 2, 3], [0, 0, 9.81]),
                encode.imu(T0, 'i', [0, 0, 0, 1], [0, 0, 0], [0, 0, 0])]
    if short == 'PointCloud2':
        return [encode.point_cloud(T0, 'lidar', np.arange(16, dtype=np.float32).reshape(4, 4)),
                encode.point_cloud(T0, 'l', np.zeros((0, 4), np.float32))]
    if short == 'CameraInfo':
        return [encode.camera_info(T0, 'cam', 640, 480, 500.0, 500.0)]
    if short == 'PoseStamped':
        pose = types[msgtype](encode.header(T0, 'base'), types['geometry_msgs/msg/Pose'](
            types['geometry_msgs/msg/Point'](1.0, 2.0, 3.0),
            types['geometry_msgs/msg/Quaternion'](0.0, 0.0, 0.0, 1.0)))
        little = store.serialize_cdr(pose, msgtype).tobytes()
        return [little, store.serialize_cdr(pose, msgtype, little_endian=False).tobytes()]
    if short == 'String':
        return [encode.string('{"kind": "note"}'), encode.string(''), encode.string('héllo')]
    raise AssertionError(f'no seeds for {msgtype}')


def _cdr_target(msgtype: str) -> Target:
    def run(raw: bytes) -> object:
        from humanoid_data.bag import fastcdr, stamps
        from humanoid_data.bag.decode import decode
        # The fast paths return None for what they do not expect and must never raise.
        for fast in (fastcdr.wrench_arrays, fastcdr.image_array, fastcdr.joint_arrays,
                     fastcdr.imu_arrays):
            fast(raw)
        for peek in (stamps.header_stamp_ns, stamps.string_payload,
                     lambda data: stamps.with_header_stamp(data, T0)):
            try:      # a String has no header: these may refuse what decode accepts
                peek(raw)
            except DecodeError:
                pass
        return decode(raw, msgtype)

    return Target(f'cdr.{msgtype.rsplit("/", 1)[1]}', run, lambda: _cdr_seeds(msgtype),
                  (DecodeError,), CDR_TOKENS)


# --- episode folders ---------------------------------------------------------------------

SMALL_SUITE = """\
robot: fuzz
joints: [hip, knee, ankle]
streams:
  - {name: head_rgb, topic: /head/rgb, type: sensor_msgs/msg/Image, modality: rgb,
     rate_hz: 30, width: 4, height: 3, encoding: rgb8, trigger: head}
  - {name: joint_states, topic: /joint_states, type: sensor_msgs/msg/JointState,
     modality: joint_state, rate_hz: 100}
  - {name: wrist_ft, topic: /wrist/ft, type: geometry_msgs/msg/WrenchStamped,
     modality: wrench, rate_hz: 1000}
  - {name: tactile, topic: /tactile, type: sensor_msgs/msg/Image, modality: tactile,
     rate_hz: 100, width: 2, height: 2, encoding: 32FC1}
  - {name: imu, topic: /imu, type: sensor_msgs/msg/Imu, modality: imu, rate_hz: 200}
"""
EPISODE_YAML = f"""\
state: complete
episode_id: episode_0001
episode_uuid: 6f1c2a9e-3b7d-4c55-9d0e-2a4b8c1d7e3f
task: pick_place
instruction: pick the cup and place it on the tray
operator: ana
tags: [fuzz, short]
taxonomy: v1
start_ns: {T0}
preroll_ns: 0
recorder_version: 0.1.0
outcome: failure
failure_mode: slip_drop
note: ''
stop_ns: {T0 + 40 * MS}
duration_s: 0.04
bag: {{storage: mcap, bytes: 12345}}
messages: 180
dropped: 0
missing_by_stamps: 0
silent_streams: []
flags: []
error: null
discarded: null
topics:
  /wrist/ft: {{stream: wrist_ft, received: 40, written: 40}}
"""
EPISODE = 'episode_0001'


def _messages(msgtype: str, k: int, stamp: int) -> bytes:
    from humanoid_data.bag import encode
    if msgtype == 'sensor_msgs/msg/JointState':
        return encode.joint_state(stamp, ('hip', 'knee', 'ankle'), np.full(3, k * 0.1),
                                  np.ones(3), np.zeros(3))
    if msgtype == 'geometry_msgs/msg/WrenchStamped':
        return encode.wrench(stamp, 'ft', [k, 0.0, 1.0], [0.0, 0.5, 0.0])
    if msgtype == 'sensor_msgs/msg/Imu':
        return encode.imu(stamp, 'imu', [0, 0, 0, 1], [0.1, 0, 0], [0, 0, 9.81])
    raise AssertionError(msgtype)


def _write_episode(folder: Path, compression: str) -> None:
    from humanoid_data.bag import encode
    from humanoid_data.bag.episode_bag import Compression, EpisodeBag
    from humanoid_data.core.config import parse_suite
    from humanoid_data.core.events import (
        EpisodeEnd, EpisodeStart, Outcome, Phase, Source, encode_event)
    from humanoid_data.core.topics import topics_for
    from humanoid_data.core.yaml_file import parse_yaml_text
    suite = parse_suite(parse_yaml_text(SMALL_SUITE, 'suite.yaml'), 'suite.yaml')
    topics = topics_for(suite)
    bag = EpisodeBag(folder, topics, compression=Compression(compression))
    events = [EpisodeStart(T0, Source.OPERATOR, task='pick_place', instruction='pick it'),
              Phase(T0 + 10 * MS, Source.OPERATOR, name='grasp'),
              EpisodeEnd(T0 + 40 * MS, Source.OPERATOR, outcome=Outcome.FAILURE)]
    for k in range(40):
        stamp = T0 + k * MS
        for index, spec in enumerate(topics):
            if spec.msgtype == 'std_msgs/msg/String':
                if k % 15 == 0:
                    bag.write(index, stamp, encode.string(encode_event(events[k // 15])))
                continue
            stream = suite.stream(spec.stream)
            if stream.msgtype == 'sensor_msgs/msg/Image':
                shape = (stream.height, stream.width) + ((3,) if stream.encoding == 'rgb8'
                                                         else ())
                dtype = np.float32 if stream.encoding == '32FC1' else np.uint8
                data = encode.image(stamp, 'cam', np.full(shape, k % 200, dtype),
                                    stream.encoding)
            elif k % 4 and stream.rate_hz < 100:
                continue
            else:
                data = _messages(stream.msgtype, k, stamp)
            bag.write(index, stamp + 5, data)
        if k % 10 == 9:
            bag.flush()
    bag.close()


class Episode(NamedTuple):
    """The files of a valid episode folder, to be written back with one of them mutated."""

    mcap: bytes
    metadata: bytes
    episode: bytes


@lru_cache(maxsize=None)
def episodes() -> tuple[Episode, ...]:
    """Valid episodes (no compression, zstd, lz4) with the same messages."""
    out = []
    for compression in ('none', 'zstd', 'lz4'):
        folder = scratch() / 'seeds' / compression / EPISODE
        _write_episode(folder, compression)
        mcap = (folder / f'{EPISODE}.mcap').read_bytes()
        out.append(Episode(mcap, (folder / 'metadata.yaml').read_bytes(),
                           EPISODE_YAML.encode()))
    return tuple(out)


_on_disk: dict[str, bytes] = {}


def episode_folder(mcap: bytes | None = None, metadata: bytes | None = None,
                   episode: bytes | None = None) -> Path:
    """The scratch episode folder holding the given files (a valid one for the others)."""
    valid = episodes()[0]
    session = scratch() / 'session'
    folder = session / EPISODE
    if not folder.is_dir():
        folder.mkdir(parents=True)
        (session / 'suite.yaml').write_text(SMALL_SUITE)
    for name, data, default in ((f'{EPISODE}.mcap', mcap, valid.mcap),
                                ('metadata.yaml', metadata, valid.metadata),
                                ('episode.yaml', episode, valid.episode)):
        data = default if data is None else data
        if _on_disk.get(name) is not data:     # the readers never write: skip a rewrite
            (folder / name).write_bytes(data)
            _on_disk[name] = data
    return folder


def _verify(folder: Path) -> object:
    from humanoid_data.bag.verify import verify_bag
    return verify_bag(folder)


def _salvage(folder: Path) -> object:
    from humanoid_data.bag.salvage import SalvageReader
    reader = SalvageReader(folder / f'{EPISODE}.mcap')
    reader.topics()
    return sum(1 for _ in reader.messages())


def _inspect(folder: Path) -> object:
    from humanoid_data.bag.inspect import inspect_bag
    return inspect_bag(folder)


def _scan(folder: Path) -> object:
    from humanoid_data.bag.episode_reader import EpisodeReader
    reader = EpisodeReader(folder, scratch=scratch())
    try:
        return len(reader.scan())
    finally:
        reader.close_samples()


def _state(folder: Path) -> object:
    from humanoid_data.bag.episode_state import episode_state
    return episode_state(folder)


READERS: dict[str, Callable[[Path], object]] = {
    'verify': _verify, 'salvage': _salvage, 'inspect': _inspect, 'scan': _scan,
    'state': _state}
MCAP_TOKENS = (b'\x89MCAP0\r\n', b'\x06', b'\x0f', b'\x02', b'\x01', b'\x05',
               b'\xff' * 8, b'\x00' * 8, b'zstd', b'lz4', b'cdr', b'ros2msg')


def _folder_target(part: str, reader: str) -> Target:
    def run(data: bytes) -> object:
        return READERS[reader](episode_folder(**{part: data}))

    def seeds() -> list[bytes]:
        return list(dict.fromkeys(getattr(e, part) for e in episodes()))

    allowed: tuple[type[BaseException], ...] = (HumanoidDataError,)
    if reader == 'state':
        allowed = ()                       # episode_state never raises
    elif reader in ('verify', 'salvage', 'inspect'):
        allowed = (BagError,)
    return Target(f'{part}.{reader}', run, seeds, allowed,
                  MCAP_TOKENS if part == 'mcap' else YAML_TOKENS)


# --- the list ----------------------------------------------------------------------------

def _all_targets() -> dict[str, Target]:
    from humanoid_data.bag.decode import SUPPORTED_TYPES
    targets = [Target('event_json', run_event, _event_seeds, (EventError,), JSON_TOKENS)]
    targets += [_config_target(kind) for kind in CONFIG_FILES]
    targets.append(Target('yaml.faults', run_faults, lambda: [FAULTS.encode()],
                          (ConfigError,), YAML_TOKENS))
    targets += [_cdr_target(msgtype) for msgtype in SUPPORTED_TYPES]
    targets += [_folder_target('mcap', r) for r in READERS if r != 'state']
    targets += [_folder_target(part, r) for part in ('metadata', 'episode') for r in READERS]
    return {t.name: t for t in targets}


TARGETS = _all_targets()
