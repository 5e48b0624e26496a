"""Phase taxonomy: structure of the default file, errors naming file and key."""

from __future__ import annotations

import pytest

from humanoid_data.core.phases import load_taxonomy, parse_taxonomy
from humanoid_data.errors import ConfigError
from humanoid_data.sim.scenario import PHASES


def test_default_taxonomy_matches_the_simulated_task(taxonomy):
    task = taxonomy.task()
    assert task.phase_names == tuple(p.name for p in PHASES)
    assert 'grasp/close' in task.label_names()
    assert taxonomy.version and 'slip_drop' in taxonomy.failure_names
    assert taxonomy.check_failure_mode('') == ''


@pytest.mark.parametrize('data, match', [
    ({'tasks': {'t': {'phases': ['a']}}, 'failure_modes': ['x']}, 'version'),
    ({'version': 'v', 'tasks': {'t': {'phases': []}}, 'failure_modes': ['x']},
     r'tasks\.t\.phases'),
    ({'version': 'v', 'tasks': {'t': {'phases': ['a', 'a']}}, 'failure_modes': ['x']},
     'unique'),
    ({'version': 'v', 'tasks': {'t': {'phases': [{'name': 'a', 'sub': []}]}},
      'failure_modes': ['x']}, "unknown key 'sub'"),
    ({'version': 'v', 'tasks': {'t': {'phases': ['a']}}, 'failure_modes': ['x'],
      'default_task': 'u'}, "unknown task 'u'"),
])
def test_bad_taxonomy_is_refused_with_the_key(data, match):
    with pytest.raises(ConfigError, match=match):
        parse_taxonomy(data, 'phases.yaml')


def test_unknown_failure_mode_lists_the_known_ones(taxonomy, tmp_path):
    with pytest.raises(ConfigError, match='known: missed_grasp'):
        taxonomy.check_failure_mode('gremlins')
    path = tmp_path / 'phases.yaml'
    path.write_text('version: [')
    with pytest.raises(ConfigError, match='phases.yaml: not valid YAML'):
        load_taxonomy(path)
