"""Sensor-suite config parsing: the default suite and every kind of bad file."""

from __future__ import annotations

import pytest
import yaml

from humanoid_data.core.config import Modality, load_suite, parse_suite
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
