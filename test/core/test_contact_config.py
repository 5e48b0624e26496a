"""Contact thresholds file: every level strict, numbers finite, errors name file and key."""

from __future__ import annotations

import math

import pytest

from humanoid_data.core.contact_config import (
    ContactConfig, TactileThresholds, WrenchThresholds, load_contact_config,
    parse_contact_config)
from humanoid_data.errors import ConfigError


def test_the_shipped_thresholds_load(contact_config):
    assert isinstance(contact_config, ContactConfig)
    assert contact_config.wrench.on_n > contact_config.wrench.off_n
    assert contact_config.tactile.min_taxels == 2


def test_stamping_keys_are_read_and_kept_when_scaled():
    config = parse_contact_config({'wrench': {'band_sigma': 4, 'backtrack_s': 0.25},
                                   'tactile': {'settle_s': 0.5}}, 'c.yaml')
    assert (config.wrench.band_sigma, config.wrench.backtrack_s) == (4.0, 0.25)
    assert config.tactile.settle_s == 0.5
    doubled = config.scaled(2.0)
    assert doubled.wrench.on_n == 2 * config.wrench.on_n
    assert (doubled.wrench.band_sigma, doubled.wrench.backtrack_s) == (4.0, 0.25)
    assert doubled.tactile.settle_s == 0.5 and doubled.source == 'c.yaml'


def test_missing_sections_take_the_defaults():
    config = parse_contact_config({'tare_s': 1}, 'c.yaml')
    assert (config.tare_s, config.wrench, config.tactile) == (
        1.0, WrenchThresholds(), TactileThresholds())


@pytest.mark.parametrize(('data', 'match'), [
    ({'wrist': {}}, "unknown key 'wrist'; allowed: tactile, tare_s, wrench"),
    ({'wrench': {'on': 1}}, "wrench: unknown parameter 'on'; allowed: backtrack_s, "
                            'band_sigma, min_off_s, min_on_s'),
    ({'tactile': {'onn': 3}}, "tactile: unknown parameter 'onn'; allowed: backtrack_s"),
    ({'tare_s': math.nan}, 'tare_s: expected a finite number > 0, got nan'),
    ({'tare_s': math.inf}, 'tare_s: expected a finite number > 0, got inf'),
    ({'tare_s': True}, 'tare_s: expected a finite number > 0, got True'),
    ({'tare_s': 0}, 'tare_s: expected a finite number > 0, got 0'),
    ({'wrench': {'min_on_s': math.nan}}, 'wrench: min_on_s: expected a finite number'),
    ({'wrench': {'slip_window_s': -math.inf}}, 'wrench: slip_window_s: expected a finite'),
    ({'wrench': {'on_n': '1 N'}}, "wrench: parameter 'on_n' expects float"),
    ({'tactile': {'min_taxels': 2.5}}, "tactile: parameter 'min_taxels' expects int"),
    ({'tactile': {'min_taxels': 0}}, 'tactile: tactile.min_taxels must be >= 1'),
    ({'wrench': {'band_sigma': 0}}, 'wrench: wrench.band_sigma must be > 0'),
    ({'tactile': {'band_sigma': -1.5}}, 'tactile: tactile.band_sigma must be > 0'),
    ({'wrench': {'band_sigma': math.nan}}, 'wrench: band_sigma: expected a finite number'),
    ({'wrench': {'backtrack_s': -0.1}}, r'wrench: wrench.backtrack_s must be >= 0'),
    ({'tactile': {'settle_s': -1}}, r'tactile: tactile.settle_s must be >= 0'),
    ({'tactile': {'settle_s': math.inf}}, 'tactile: settle_s: expected a finite number'),
    ({'tactile': {'backtrack_s': '0.1'}}, "tactile: parameter 'backtrack_s' expects float"),
    ({'wrench': [0.5, 0.3]}, r'wrench: expected a mapping, got \[0.5, 0.3\]'),
    ({'tactile': None}, 'tactile: expected a mapping, got None'),
    ('tare_s', "expected a mapping, got 'tare_s'"),
])
def test_bad_contact_config_names_the_key(data, match):
    with pytest.raises(ConfigError, match=f'^c.yaml: {match}'):
        parse_contact_config(data, 'c.yaml')


def test_bad_file_names_the_file_and_the_line(tmp_path):
    path = tmp_path / 'contact.yaml'
    path.write_text('tare_s: 0.2\nwrench:\n  on_n: 0.5\n  on_n: 0.6\n')
    with pytest.raises(ConfigError, match=f"^{path}: not valid YAML at line 4, column 3: "
                                          "duplicate key 'on_n'"):
        load_contact_config(path)
    path.write_text('')
    with pytest.raises(ConfigError, match=f'^{path}: expected a mapping, got None'):
        load_contact_config(path)
