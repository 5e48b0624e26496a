"""Sensor-suite config parsing: the default suite and every kind of bad file."""

from __future__ import annotations

import time

import pytest
import yaml

from humanoid_data.core.config import Modality, load_suite, parse_suite
from humanoid_data.core.yaml_file import (
    MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, MAX_CONFIG_NODES, parse_yaml_text)
from humanoid_data.errors import ConfigError


def test_default_suite_covers_every_modality(suite):
    assert {s.modality for s in suite.streams} == set(Modality)
    assert len(suite.joints) >= 38
    head = [s for s in suite.streams if s.trigger == 'head']
    assert {s.modality for s in head} == {Modality.RGB, Modality.DEPTH, Modality.CAMERA_INFO}
    assert suite.stream('wrist_left_ft').rate_hz == 1000
    assert sum(s.modality == Modality.TACTILE for s in suite.streams) == 10


def test_scaled_multiplies_rates(suite):
    doubled = suite.scaled(2.0)
    assert [s.rate_hz for s in doubled.streams] == [2 * s.rate_hz for s in suite.streams]


def _base(suite_file):
    return yaml.safe_load(suite_file.read_text())


@pytest.mark.parametrize(('mutate', 'expected'), [
    (lambda d: d.pop('robot'), "missing key 'robot'"),
    (lambda d: d['streams'][0].pop('topic'), "missing key 'topic'"),
    (lambda d: d['streams'][0].update(rate_hz='fast'), 'rate_hz: expected int or float'),
    (lambda d: d['streams'][0].update(modality='sonar'), "'sonar' is not one of: rgb"),
    (lambda d: d['streams'][0].update(type='sensor_msgs/msg/Foo'),
     "type 'sensor_msgs/msg/Foo' is not supported for modality 'rgb'"),
    (lambda d: d['streams'][0].update(qos={'reliability': 'maybe'}), 'qos.reliability'),
    (lambda d: d['streams'][0].update(qos={'depth': 0}), 'qos.depth'),
    (lambda d: d['streams'][0].update(colour='red'), "unknown key 'colour'"),
    (lambda d: d['streams'][1].update(name=d['streams'][0]['name']), 'duplicate stream name'),
    (lambda d: d['streams'][0].update(encoding='yuv'), "encoding 'yuv'"),
    (lambda d: d['streams'][0].update(topic='camera'), 'must be absolute'),
])
def test_bad_suite_names_file_key_and_expectation(tmp_path, suite_file, mutate, expected):
    data = _base(suite_file)
    mutate(data)
    path = tmp_path / 'bad.yaml'
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_malformed_yaml_names_file(tmp_path):
    path = tmp_path / 'broken.yaml'
    path.write_text('robot: [unclosed\n')
    with pytest.raises(ConfigError, match='broken.yaml: not valid YAML'):
        load_suite(path)


def test_missing_file_names_file(tmp_path):
    with pytest.raises(ConfigError, match='nothere.yaml: cannot read'):
        load_suite(tmp_path / 'nothere.yaml')


def test_digest_changes_with_content(suite_file):
    data = _base(suite_file)
    first = parse_suite(data, 'a').digest
    data['streams'][0]['rate_hz'] = 15
    assert parse_suite(data, 'a').digest != first


def test_syntax_error_names_file_line_and_column(tmp_path, suite_file):
    lines = suite_file.read_text().splitlines()
    assert lines[7] == 'robot: sim_humanoid'
    lines[7] = 'robot: sim: humanoid'
    path = tmp_path / 'humanoid.yaml'
    path.write_text('\n'.join(lines))
    with pytest.raises(ConfigError, match=f'^{path}: not valid YAML at line 8, column 11: '
                                          'mapping values are not allowed'):
        load_suite(path)


@pytest.mark.parametrize(('text', 'line', 'problem'), [
    ('robot: a\njoints: []\nrobot: b\n', 3, "duplicate key 'robot'"),
    ('robot: a\nwhen: 2026-13-45\n', 2, 'month must be in 1..12'),
    ('robot: a\nbig: ' + '9' * 5000 + '\n', 2, 'integer string conversion'),
    ('robot: a\nself: &s [1, *s]\n', 2, 'alias \\*s is inside the node it names'),
    ('robot: a\nchar: "\x01"\n', 2, 'unacceptable character #x0001'),
    ('robot: a\n---\nrobot: b\n', 2, 'single document'),
])
def test_yaml_the_loader_refuses_names_the_line(tmp_path, text, line, problem):
    path = tmp_path / 'suite.yaml'
    path.write_text(text)
    with pytest.raises(ConfigError, match=f'^{path}: not valid YAML at line {line}, column '
                                          rf'\d+: .*{problem}'):
        load_suite(path)


def test_a_file_that_is_not_utf8_is_refused_with_the_line(tmp_path):
    path = tmp_path / 'latin1.yaml'
    path.write_bytes('robot: a\njoints: [caf\xe9]\n'.encode('latin-1'))
    with pytest.raises(ConfigError, match=f'^{path}: sensor-suite config is not UTF-8 text '
                                          r'\(byte 0xe9 at line 2\)'):
        load_suite(path)


def test_an_endless_file_is_read_no_further_than_the_limit():
    # /dev/zero reports size 0: the limit holds on what is read, not only on the size.
    with pytest.raises(ConfigError, match=f'/dev/zero: .* is over {MAX_CONFIG_BYTES} bytes'):
        load_suite('/dev/zero')


def test_alias_expansion_and_nesting_are_bounded(tmp_path):
    lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]']
    lines += [f'a{i}: &a{i} [' + ', '.join([f'*a{i - 1}'] * 10) + ']' for i in range(1, 9)]
    path = tmp_path / 'laughs.yaml'
    path.write_text('\n'.join(lines) + '\n')    # 10**9 strings once expanded, 500 bytes
    started = time.monotonic()
    with pytest.raises(ConfigError, match=f'at line 6, .*more than {MAX_CONFIG_NODES} values'):
        load_suite(path)
    assert time.monotonic() - started < 1.0
    path.write_text('[' * 100 + ']' * 100)
    with pytest.raises(ConfigError, match=f'nested deeper than {MAX_CONFIG_DEPTH} levels'):
        load_suite(path)
    path.write_text(''.join(f'{"  " * i}k:\n' for i in range(200)))
    with pytest.raises(ConfigError, match=f'nested deeper than {MAX_CONFIG_DEPTH} levels'):
        load_suite(path)


def test_aliases_within_bounds_still_load(suite_file):
    text = suite_file.read_text().replace('qos: {reliability: reliable, depth: 30}',
                                          'qos: &q30 {reliability: reliable, depth: 30}', 1)
    text = text.replace('qos: {reliability: reliable, depth: 30}', 'qos: *q30')
    aliased = parse_suite(parse_yaml_text(text, 'x.yaml'), 'x.yaml')
    assert aliased == parse_suite(_base(suite_file), 'x.yaml')    # the digest too


def test_unknown_top_level_key_is_refused(suite_file):
    data = _base(suite_file)
    data['robots'] = 'typo'
    with pytest.raises(ConfigError, match="^s.yaml: unknown key 'robots'; allowed: "
                                          'compression, joints, robot, streams$'):
        parse_suite(data, 's.yaml')


def _description(**extra):
    entry = {'name': 'robot_description', 'topic': '/robot_description',
             'type': 'std_msgs/msg/String', 'modality': 'description', 'latched': True}
    entry.update(extra)
    return entry


def test_latched_defaults_to_false_and_is_read(suite_file):
    data = _base(suite_file)
    data['streams'] = [s for s in data['streams'] if not s.get('latched')] + [_description()]
    suite = parse_suite(data, 'a')
    assert not any(s.latched for s in suite.streams[:-1])
    described = suite.stream('robot_description')
    assert described.latched and described.rate_hz == 0 and described.period_ns == 0
    assert not described.has_header and suite.stream('imu').has_header
    assert described not in suite.streamed and len(suite.streamed) == len(suite.streams) - 1


@pytest.mark.parametrize(('entry', 'expected'), [
    (_description(latched='yes'), 'streams[0] (robot_description).latched: expected bool'),
    (_description(latched=False, rate_hz=1),
     "modality 'description' is published once: the stream needs latched: true"),
    (_description(rate_hz=1), '(robot_description).rate_hz: a latched stream takes no rate_hz'),
    (_description(qos={'depth': 5}), '(robot_description).qos: a latched stream takes no qos'),
    (_description(type='sensor_msgs/msg/Imu'), "not supported for modality 'description'"),
])
def test_bad_latched_stream_names_file_stream_and_key(tmp_path, suite_file, entry, expected):
    data = _base(suite_file)
    data['streams'] = [entry]
    path = tmp_path / 'bad.yaml'
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    assert str(path) in str(info.value) and expected in str(info.value)
