"""The CLI reports bad input as ``error: ...`` naming the culprit, without a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from humanoid_data.cli.main import main


def _write(tmp_path, suite_file, mutate):
    data = yaml.safe_load(suite_file.read_text())
    mutate(data)
    path = tmp_path / 'suite.yaml'
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(('mutate', 'expected'), [
    (lambda d: d['streams'][3].update(type='sensor_msgs/msg/Bogus'), 'sensor_msgs/msg/Bogus'),
    (lambda d: d.pop('joints'), "missing key 'joints'"),
])
def test_record_bad_config(tmp_path, suite_file, capsys, mutate, expected):
    path = _write(tmp_path, suite_file, mutate)
    assert main(['record', '--config', str(path), '--out', str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and str(path) in err and expected in err


def test_record_unwritable_output(tmp_path, suite_file, capsys):
    blocker = tmp_path / 'blocker'
    blocker.write_text('')
    out = blocker / 'sub'
    assert main(['record', '--config', str(suite_file), '--out', str(out)]) == 2
    err = capsys.readouterr().err
    assert 'not writable' in err and str(out) in err


def test_inspect_missing_bag(tmp_path, capsys):
    assert main(['inspect', str(tmp_path / 'nope')]) == 2
    assert 'nope' in capsys.readouterr().err


def test_no_traceback_from_the_installed_command(tmp_path):
    result = subprocess.run([sys.executable, '-m', 'humanoid_data', 'inspect',
                             str(tmp_path / 'missing_bag')], capture_output=True, text=True)
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr and 'missing_bag' in result.stderr
