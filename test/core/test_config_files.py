"""Every config loader, alike: shipped files load, errors name file, line and key."""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from humanoid_data.core.config import load_suite, parse_suite
from humanoid_data.core.contact_config import load_contact_config, parse_contact_config
from humanoid_data.core.phases import load_taxonomy, parse_taxonomy
from humanoid_data.core.teleop import load_teleop_config, parse_teleop_config
from humanoid_data.core.yaml_file import MAX_CONFIG_BYTES
from humanoid_data.dataset.config import load_dataset_config, parse_dataset_config
from humanoid_data.errors import ConfigError
from humanoid_data.monitors.sync import load_sync_thresholds, parse_sync_thresholds
from humanoid_data.sim.faults import parse_faults

CONFIG = Path(__file__).resolve().parents[2] / 'config'

LOADERS = {
    'humanoid.yaml': load_suite,
    'phases.yaml': load_taxonomy,
    'contact.yaml': load_contact_config,
    'teleop.yaml': load_teleop_config,
    'sync.yaml': load_sync_thresholds,
    'dataset.yaml': load_dataset_config,
}

FAULT_STREAMS = {'imu', 'lidar'}


def _parse_faults(data: object, source: str) -> object:
    """``parse_faults`` takes text (a ROS parameter): feed it the document as YAML."""
    return parse_faults(yaml.safe_dump(data), FAULT_STREAMS)


PARSERS = {
    'humanoid.yaml': parse_suite,
    'phases.yaml': parse_taxonomy,
    'contact.yaml': parse_contact_config,
    'teleop.yaml': parse_teleop_config,
    'sync.yaml': parse_sync_thresholds,
    'dataset.yaml': parse_dataset_config,
    'faults': _parse_faults,
}


def shipped(name: str) -> object:
    """The parsed document of a shipped config file (or a sample fault mapping)."""
    if name == 'faults':
        return {'imu': {'latency_ms': 5, 'drop_rate': 0.1}, 'lidar': {'silent_after_s': 1}}
    return yaml.safe_load((CONFIG / name).read_text())


def write_changed(tmp_path: Path, name: str, at: tuple, key: object, value: object) -> Path:
    """Write the shipped ``name`` with ``key`` of the mapping at path ``at`` set to ``value``."""
    data = shipped(name)
    node = data
    for step in at:
        node = node[step]
    node[key] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_every_shipped_config_file_loads():
    assert set(LOADERS) == {p.name for p in CONFIG.glob('*.yaml')}
    for name, load in LOADERS.items():
        assert load(CONFIG / name).source == str(CONFIG / name)
    assert parse_faults('{imu: {latency_ms: 5}}', FAULT_STREAMS)['imu'].latency_ms == 5


@pytest.mark.parametrize('name', LOADERS)
def test_syntax_error_names_the_file_and_the_line(tmp_path, name):
    lines = (CONFIG / name).read_text().splitlines()
    lines.insert(2, 'broken: value: here')          # becomes line 3
    path = tmp_path / name
    path.write_text('\n'.join(lines) + '\n')
    with pytest.raises(ConfigError) as info:
        LOADERS[name](path)
    assert str(info.value).startswith(f'{path}: not valid YAML at line 3, column 14: ')
    assert 'mapping values are not allowed' in str(info.value)


@pytest.mark.parametrize('name', LOADERS)
def test_an_oversized_file_is_refused_before_it_is_read(tmp_path, name):
    path = tmp_path / name
    with path.open('wb') as sparse:     # 50 MiB that take no disk space and no time
        sparse.truncate(50 << 20)
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        LOADERS[name](path)
    assert time.monotonic() - started < 1.0
    assert str(info.value).startswith(f'{path}: ')
    assert f'{50 << 20} bytes' in str(info.value) and str(MAX_CONFIG_BYTES) in str(info.value)


# (file, path to a mapping, one of its allowed keys): every mapping level of every loader
LEVELS = [
    ('humanoid.yaml', (), 'streams'),
    ('humanoid.yaml', ('streams', 0), 'rate_hz'),
    ('humanoid.yaml', ('streams', 0, 'qos'), 'reliability'),
    ('phases.yaml', (), 'failure_modes'),
    ('phases.yaml', ('tasks', 'pick_place'), 'instruction'),
    ('phases.yaml', ('tasks', 'pick_place', 'phases', 1), 'subphases'),
    ('phases.yaml', ('failure_modes', 0), 'description'),
    ('contact.yaml', (), 'tare_s'),
    ('contact.yaml', ('wrench',), 'on_n'),
    ('contact.yaml', ('tactile',), 'on_kpa'),
    ('teleop.yaml', (), 'joy'),
    ('teleop.yaml', ('joy',), 'debounce_s'),
    ('sync.yaml', (), 'window_s'),
    ('dataset.yaml', (), 'fps'),
    ('dataset.yaml', ('streams', 'head_rgb'), 'tolerance_ms'),
    ('dataset.yaml', ('lidar',), 'voxel_m'),
    ('dataset.yaml', ('video',), 'codec'),
    ('dataset.yaml', ('lerobot',), 'chunks_size'),
    ('dataset.yaml', ('quality',), 'pause_s'),
]


@pytest.mark.parametrize(('name', 'at', 'allowed'), LEVELS)
def test_an_unknown_key_is_refused_with_the_allowed_ones(tmp_path, name, at, allowed):
    path = write_changed(tmp_path, name, at, 'bogus_key', 1)
    with pytest.raises(ConfigError) as info:
        LOADERS[name](path)
    message = str(info.value)
    assert message.startswith(f'{path}: ')
    assert "'bogus_key'" in message
    assert allowed in message.partition('allowed: ')[2]


def test_an_unknown_fault_key_is_refused_with_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"faults\.imu: unknown key 'speed'; allowed: .*"
                                          'drop_rate'):
        parse_faults('{imu: {speed: 1}}', FAULT_STREAMS)


@pytest.mark.parametrize(('text', 'match'), [
    ('{imu: {latency_ms: .nan}}', r'^faults\.imu\.latency_ms: expected a finite number, got nan'),
    ('{imu: {jitter_ms: -.inf}}', r'^faults\.imu\.jitter_ms: expected a finite number, got -inf'),
    ('{imu: {drop_rate: true}}', r'^faults\.imu\.drop_rate: expected a finite number, got True'),
    ('{imu: [1]}', r'^faults\.imu: expected a mapping, got \[1\]'),
    ('{imu: {drop_rate: 2}}', r'^faults\.imu: drop_rate must be within \[0, 1\]'),
    ('imu:\n  latency_ms: 1: 2\n', '^faults: not valid YAML at line 2, column 16'),
    ('imu: {}\nimu: {}\n', "^faults: not valid YAML at line 2, column 1: duplicate key 'imu'"),
])
def test_bad_faults_name_the_stream_and_key(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_faults(text, FAULT_STREAMS)


def test_faults_of_only_comments_are_none():
    assert parse_faults('# no faults today\n', FAULT_STREAMS) == {}


NAN, INF = math.nan, math.inf

# (file, path to a mapping, key, bad value, text the message must hold)
BAD_VALUES = [
    ('humanoid.yaml', ('streams', 0), 'rate_hz', NAN, 'rate_hz'),
    ('humanoid.yaml', ('streams', 0), 'rate_hz', INF, 'rate_hz'),
    ('humanoid.yaml', ('streams', 0), 'width', 'abc', 'width'),
    ('humanoid.yaml', ('streams', 0), 'height', 2.5, 'height'),
    ('humanoid.yaml', ('streams', 7), 'points', 1.5, 'points'),
    ('humanoid.yaml', ('streams', 0), 'required', 'yes', 'required'),
    ('humanoid.yaml', ('streams', 0), 'trigger', ['head'], 'trigger'),
    ('humanoid.yaml', ('streams', 0), 'encoding', 8, 'encoding'),
    ('humanoid.yaml', ('streams', 0), 'qos', ['reliable'], 'qos'),
    ('humanoid.yaml', ('streams', 0, 'qos'), 'depth', -1, 'qos.depth'),
    ('humanoid.yaml', ('streams', 0, 'qos'), 'depth', 2.0, 'qos.depth'),
    ('humanoid.yaml', (), 'streams', {'head': 1}, 'streams'),
    ('humanoid.yaml', (), 'joints', 'all', 'joints'),
    ('phases.yaml', ('tasks', 'pick_place'), 'instruction', ['x'], 'instruction'),
    ('phases.yaml', ('failure_modes', 0), 'description', 3, 'description'),
    ('phases.yaml', (), 'default_task', 1, 'default_task'),
    ('phases.yaml', (), 'tasks', ['pick_place'], 'tasks'),
    ('contact.yaml', (), 'tare_s', NAN, 'tare_s'),
    ('contact.yaml', ('wrench',), 'min_on_s', NAN, 'min_on_s'),
    ('contact.yaml', ('wrench',), 'on_n', INF, 'on_n'),
    ('contact.yaml', ('tactile',), 'min_taxels', 2.5, 'min_taxels'),
    ('contact.yaml', (), 'wrench', [1, 2], 'wrench'),
    ('teleop.yaml', ('joy',), 'debounce_s', NAN, 'debounce_s'),
    ('teleop.yaml', (), 'keys', ['s'], 'keys'),
    ('teleop.yaml', ('joy',), 'buttons', 'pedal', 'buttons'),
    ('sync.yaml', (), 'window_s', INF, 'window_s'),
    ('sync.yaml', (), 'latency_warn_ms', NAN, 'latency_warn_ms'),
    ('sync.yaml', (), 'gaps_warn', 1.5, 'gaps_warn'),
    ('dataset.yaml', (), 'fps', NAN, 'fps'),
    ('dataset.yaml', (), 'fps', INF, 'fps'),
    ('dataset.yaml', ('streams', 'head_rgb'), 'tolerance_ms', NAN, 'tolerance_ms'),
    ('dataset.yaml', ('streams', 'head_rgb'), 'required', 'yes', 'required'),
    ('dataset.yaml', ('lidar',), 'crop_min', 5, 'crop_min'),
    ('dataset.yaml', ('lidar',), 'crop_max', [1, 2, INF], 'crop_max'),
    ('dataset.yaml', ('quality',), 'pause_s', NAN, 'pause_s'),
    ('dataset.yaml', ('lerobot',), 'chunks_size', 0, 'chunks_size'),
    ('dataset.yaml', (), 'reference', ['head_rgb'], 'reference'),
]


@pytest.mark.parametrize(('name', 'at', 'key', 'value', 'named'), BAD_VALUES)
def test_a_bad_value_is_refused_naming_file_and_key(tmp_path, name, at, key, value, named):
    path = write_changed(tmp_path, name, at, key, value)
    with pytest.raises(ConfigError) as info:
        LOADERS[name](path)
    assert str(info.value).startswith(f'{path}: ')
    assert named in str(info.value)


@pytest.mark.parametrize('document', [None, 'just text', ['a', 'list'], 3.5])
@pytest.mark.parametrize('name', LOADERS)
def test_a_document_that_is_no_mapping_is_refused(tmp_path, name, document):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match=f'^{path}: expected a mapping'):
        LOADERS[name](path)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.integers(),
                    st.floats(), st.text(max_size=6), st.sampled_from(['reliable', 'rgb']))
known_keys = sorted({key for _, _, key in LEVELS} | {key for _, _, key, _, _ in BAD_VALUES}
                    | {'name', 'topic', 'type', 'modality', 'version', 'phases', 'buttons'})
keys = st.one_of(st.sampled_from(known_keys), st.text(max_size=4), st.integers(-1, 9))
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner,
                                                                         max_size=5),
    max_leaves=25)


@st.composite
def mutated(draw: st.DrawFn, name: str) -> object:
    """A shipped document with one value somewhere replaced by a random one."""
    data = shipped(name)
    parent, step, node = None, None, data
    while isinstance(node, (dict, list)) and node and draw(st.integers(0, 4)):
        step = draw(st.sampled_from(sorted(node, key=repr)) if isinstance(node, dict)
                    else st.integers(0, len(node) - 1))
        parent, node = node, node[step]
    if parent is None:
        return draw(documents)
    parent[step] = draw(documents)
    return data


@pytest.mark.parametrize('name', PARSERS)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_document_raises_only_config_error(name, data):
    document = data.draw(st.one_of(documents, mutated(name)))
    try:
        PARSERS[name](copy.deepcopy(document), 'random.yaml')
    except ConfigError:
        pass


def test_humanoid_urdf_has_the_joints_and_every_sensor_frame_of_the_simulator(suite):
    """config/humanoid.urdf: the suite's joints move it, every header frame_id is a link."""
    from humanoid_data.bag.typestore import typestore_for
    from humanoid_data.core.urdf import load_urdf
    from humanoid_data.resources import default_urdf
    from humanoid_data.sim.humanoid import SimulatedHumanoid

    robot = load_urdf(default_urdf())
    assert sorted(robot.movable) == sorted(suite.joints)
    sim = SimulatedHumanoid(suite, start_ns=10**12)
    store = typestore_for()
    frames = {}
    edges = set()
    for k in range(1, 120):
        for out in sim.step(sim.start_ns + k * 1_000_000):
            msgtype = suite.by_topic()[out.topic].msgtype
            msg = store.deserialize_cdr(out.data, msgtype)
            if msgtype == 'tf2_msgs/msg/TFMessage':
                edges |= {(t.header.frame_id, t.child_frame_id) for t in msg.transforms}
                msg = msg.transforms[0]
            frames[out.topic] = msg.header.frame_id
    assert set(frames) == {s.topic for s in suite.streamed}
    # /tf carries every moving joint of the URDF, parent to child, and nothing else.
    assert edges == {(j.parent, j.child) for j in robot.joints.values() if j.kind != 'fixed'}
    # Joint states and commands carry no frame_id; every other stream names a link.
    framed = {topic: frame for topic, frame in frames.items() if frame}
    assert set(frames) - set(framed) == {'/joint_states', '/teleop/joint_command'}
    missing = {topic: frame for topic, frame in framed.items() if frame not in robot.links}
    assert not missing, f'frame_ids that are not links of {default_urdf()}: {missing}'
