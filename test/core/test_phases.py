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


def _minimal(**changes):
    data = {'version': 'v', 'tasks': {'t': {'phases': ['a']}}, 'failure_modes': ['x']}
    data.update(changes)
    return data


@pytest.mark.parametrize('data, match', [
    (_minimal(failure_modes=[{'name': 'x', 'why': 'y'}]),
     r"failure_modes\[0\] \(x\): unknown key 'why'; allowed: description, name"),
    (_minimal(tasks={'t': {'phases': ['a'], 'steps': []}}),
     r"tasks\.t: unknown key 'steps'; allowed: instruction, phases"),
    (_minimal(tasks={'t': {'phases': [{'name': 'a', 'sub': []}]}}),
     r"phases\[0\] \(a\): unknown key 'sub'; allowed: description, name, subphases"),
    (_minimal(labels=[]), "unknown key 'labels'; allowed: default_task, failure_modes"),
    (_minimal(tasks={1: {'phases': ['a']}}), 'task names are text, got 1'),
    (_minimal(tasks={'t': {'phases': ['a'], 'instruction': ['pick']}}),
     r'tasks\.t\.instruction: expected text'),
    (_minimal(failure_modes=[{'name': 'x', 'description': 3}]),
     r'failure_modes\[0\] \(x\)\.description: expected text, got 3'),
    (_minimal(tasks={'t': {'phases': [{'name': 'a', 'subphases': 'b'}]}}),
     r'phases\[0\] \(a\)\.subphases: expected a list of names'),
    (_minimal(default_task=['t']), 'default_task: expected a task name'),
    (_minimal(tasks=['t']), 'tasks: expected a mapping of task name to task'),
    ('version: v', 'expected a mapping'),
])
def test_every_level_of_the_taxonomy_is_strict(data, match):
    with pytest.raises(ConfigError, match=f'^phases.yaml: .*{match}'):
        parse_taxonomy(data, 'phases.yaml')
