"""A guessed suite as text to edit, and a hand-written suite completed from a bag.

``suite_yaml`` writes a ``SuiteGuess`` as suite.yaml with each guess commented
(``humanoid-data suite-from-bag``); ``fill_suite`` reads a suite.yaml that leaves out
what the bag can tell (``convert --suite``) and takes it from the guess.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from humanoid_data.bag.any_bag import describe, episode_name
from humanoid_data.bag.suite_guess import SuiteGuess
from humanoid_data.core.config import SuiteConfig, parse_suite
from humanoid_data.core.yaml_file import read_yaml
from humanoid_data.errors import ConfigError


def yaml_value(value: Any) -> str:
    """A YAML flow value (JSON is YAML)."""
    if isinstance(value, str) and re.fullmatch(r'[A-Za-z_/][A-Za-z0-9_/.\-]*', value) \
            and value not in ('true', 'false', 'null', 'yes', 'no', 'on', 'off'):
        return value
    return json.dumps(value)


def suite_yaml(guess: SuiteGuess) -> str:
    """The guessed suite as suite.yaml text, each guess commented."""
    lines = [f'# Sensor suite guessed from {guess.bag.name} ({describe(guess.bag)}) by',
             f'# humanoid-data suite-from-bag, from its first {guess.seconds:.1f} s. Check',
             '# every commented guess; docs/config.md describes each key.',
             f'robot: {yaml_value(guess.robot)}' +
             ('' if guess.robot != 'robot' else '   # no /robot_description: name it'),
             'joints:' + ('' if guess.joints else ' []   # no joint state in the bag')]
    lines += [f'  - {yaml_value(j)}' for j in guess.joints]
    lines.append('streams:')
    for g in guess.guesses:
        first = True
        for key, value in g.entry.items():
            lead = '  - ' if first else '    '
            comment = f'   # {g.why}' if first else ''
            lines.append(f'{lead}{key}: {yaml_value(value)}{comment}')
            first = False
    if guess.skipped:
        lines.append('# Topics left out:')
        lines += [f'#   {topic} ({msgtype}): {why}' for topic, msgtype, why in guess.skipped]
    return '\n'.join(lines) + '\n'


#: Keys of a suite entry the bag can tell, filled in when a hand-written suite omits them.
MEASURED_KEYS = ('type', 'modality', 'rate_hz', 'width', 'height', 'encoding', 'points',
                 'latched')


def fill_suite(path: Path, guess: SuiteGuess) -> SuiteConfig:
    """The suite at ``path``, with what it leaves out taken from the bag.

    A stream may give just ``name`` and ``topic``; ``robot`` and ``joints`` may be left
    out. What the file gives wins over the bag.

    Raises:
        ConfigError: The file is not a valid suite once completed, or a stream's topic is
            not in the bag while it leaves out what only the bag could tell (named).

    """
    data = read_yaml(path, 'sensor suite')
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: expected a mapping with robot, joints and streams')
    measured = {g.entry['topic']: g.entry for g in guess.guesses}
    data = dict(data)
    data.setdefault('robot', guess.robot)
    data.setdefault('joints', list(guess.joints))
    streams = data.get('streams')
    if isinstance(streams, list):
        filled = []
        for number, entry in enumerate(streams):
            if isinstance(entry, dict) and isinstance(entry.get('topic'), str):
                known = measured.get(entry['topic'])
                lacking = [k for k in ('type', 'modality') if k not in entry]
                if known is None and lacking:
                    raise ConfigError(
                        f'{path}: streams[{number}] ({entry["topic"]}): no {lacking[0]} '
                        f'given and the topic is not one the bag {episode_name(guess.bag)} '
                        'has a stream for')
                if known is not None:
                    entry = {**{k: known[k] for k in MEASURED_KEYS if k in known
                                and not (k == 'rate_hz' and entry.get('latched'))},
                             **entry}
            filled.append(entry)
        data['streams'] = filled
    return parse_suite(data, f'{path} (completed from {guess.bag.name})')
