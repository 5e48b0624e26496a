"""Dataset plan file: every section strict, numbers finite and in range, errors name the key."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml

from humanoid_data.core.sync import Policy
from humanoid_data.dataset.config import (
    MAX_FPS, CalibrationOptions, LidarOptions, load_dataset_config, parse_dataset_config)
from humanoid_data.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[2] / 'config' / 'dataset.yaml'


@pytest.fixture(scope='module')
def shipped():
    return yaml.safe_load(SHIPPED.read_text())


def test_the_shipped_plan_loads():
    config = load_dataset_config(SHIPPED)
    assert config.fps == 30 and config.reference == 'head_rgb'
    assert config.plan('joint_command').align.policy == Policy.HOLD
    assert config.plan('joint_command').align.as_of
    assert config.lidar == LidarOptions()
    assert config.calibration == CalibrationOptions('base_link', False, False)


def test_the_calibration_section_is_optional_and_in_the_digest(shipped):
    data = copy.deepcopy(shipped)
    del data['calibration']
    assert parse_dataset_config(data).calibration == CalibrationOptions()
    changed = _changed(shipped, 'calibration', 'base_frame', 'torso_link')
    assert parse_dataset_config(changed).calibration.base_frame == 'torso_link'
    assert parse_dataset_config(changed).digest != parse_dataset_config(shipped).digest


def _changed(data, section, key, value):
    data = copy.deepcopy(data)
    (data if section is None else data[section] if section != 'head_rgb'
     else data['streams']['head_rgb'])[key] = value
    return data


@pytest.mark.parametrize(('section', 'key', 'value', 'match'), [
    (None, 'fps', math.nan, 'fps: expected a finite number > 0 and <= 10000, got nan'),
    (None, 'fps', math.inf, 'fps: expected a finite number'),
    (None, 'fps', MAX_FPS * 3, 'fps: expected a finite number > 0 and <= 10000'),
    (None, 'fps', '30', "fps: expected a finite number > 0 and <= 10000, got '30'"),
    (None, 'reference', ['head_rgb'], r"reference: \['head_rgb'\] is not one of the streams"),
    (None, 'reference', 'nose_rgb', "reference: 'nose_rgb' is not one of the streams"),
    (None, 'streams', ['head_rgb'], 'streams: expected a mapping of stream name to plan'),
    (None, 'extra', 1, "unknown key 'extra'; allowed: calibration, fps, lerobot, lidar"),
    ('head_rgb', 'tolerance_ms', math.nan,
     r'streams\.head_rgb\.tolerance_ms: expected a finite number > 0'),
    ('head_rgb', 'tolerance_ms', 1e300, r'streams\.head_rgb\.tolerance_ms: .* <= 8.64e\+07'),
    ('head_rgb', 'required', 'yes', r"streams\.head_rgb\.required: expected true or false"),
    ('head_rgb', 'as_of', 1, r'streams\.head_rgb\.as_of: expected true or false, got 1'),
    ('head_rgb', 'policy', ['nearest'], r"streams\.head_rgb\.policy: \['nearest'\] is not"),
    ('head_rgb', 'stamps', {'a': 1}, r'streams\.head_rgb\.stamps: expected header or receive'),
    ('head_rgb', 'align', 'x', r"streams\.head_rgb: unknown key 'align'; allowed: as_of"),
    ('lidar', 'crop_min', 5, r'lidar\.crop_min: expected \[x, y, z\] in m, got 5'),
    ('lidar', 'crop_min', [1, 2], r'lidar\.crop_min: expected \[x, y, z\] in m'),
    ('lidar', 'crop_max', [1, 'a', 2], r"lidar\.crop_max\[1\]: expected a finite number"),
    ('lidar', 'crop_max', [2, 1.5, -2.0], 'lidar: crop_min .* must be below crop_max'),
    ('lidar', 'voxel_m', 0, r'lidar\.voxel_m: expected a finite number > 0, got 0'),
    ('lidar', 'voxel', 1, "lidar: unknown key 'voxel'; allowed: crop_max, crop_min, voxel_m"),
    ('video', 'crf', -1, 'video: crf must be >= 0 and gop >= 1'),
    ('video', 'crf', 30.5, "video: parameter 'crf' expects int"),
    ('video', 'codec', '', 'video: codec and pix_fmt must not be empty'),
    ('video', 'bitrate', 1, "video: unknown parameter 'bitrate'; allowed: codec, crf, gop"),
    ('lerobot', 'chunks_size', 0, 'lerobot: chunks_size must be >= 1, got 0'),
    ('quality', 'pause_s', math.nan, 'quality: pause_s: expected a finite number, got nan'),
    ('quality', 'max_dropped', 0.5, "quality: parameter 'max_dropped' expects int"),
    ('calibration', 'frame', 'x',
     "calibration: unknown parameter 'frame'; allowed: base_frame, checks, lidar_in_base"),
    ('calibration', 'lidar_in_base', 1, "calibration: parameter 'lidar_in_base' expects bool"),
    ('calibration', 'wrench_in_base', 'yes', "calibration: parameter 'wrench_in_base' expects"),
    ('calibration', 'base_frame', '/base_link', 'calibration: base_frame must be a frame name'),
    ('calibration', 'base_frame', '', 'calibration: base_frame must be a frame name'),
    ('calibration', 'base_frame', 5, "calibration: parameter 'base_frame' expects str"),
])
def test_a_bad_plan_names_the_file_and_the_key(shipped, section, key, value, match):
    with pytest.raises(ConfigError, match=f'^d.yaml: {match}'):
        parse_dataset_config(_changed(shipped, section, key, value), 'd.yaml')


@pytest.mark.parametrize('section', ['lidar', 'video', 'lerobot', 'quality', 'calibration'])
def test_a_section_that_is_no_mapping_is_refused(shipped, section):
    with pytest.raises(ConfigError, match=f'^d.yaml: {section}: expected a mapping'):
        parse_dataset_config(_changed(shipped, None, section, [1]), 'd.yaml')


def test_a_tiny_tolerance_stays_positive(shipped):
    config = parse_dataset_config(_changed(shipped, 'head_rgb', 'tolerance_ms', 1e-9), 'd')
    assert config.plan('head_rgb').align.tolerance_ns == 1


def test_the_digest_ignores_the_file_name(shipped):
    assert parse_dataset_config(shipped, 'a').digest == parse_dataset_config(shipped, 'b').digest
