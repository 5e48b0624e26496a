"""The CLI reports bad input as ``error: ...`` naming the culprit, without a traceback."""

from __future__ import annotations

import json
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


# --- convert and validate: honest exit codes, no episode skipped silently ---

def _dataset_config(tmp_path):
    from test.dataset.recording import DATASET
    path = tmp_path / 'dataset.yaml'
    path.write_text(yaml.safe_dump(DATASET))
    return path


def _convert(tmp_path, source, monkeypatch):
    monkeypatch.setenv('COLUMNS', '400')        # the summary table on one line per row
    return main(['convert', str(source), '--out', str(tmp_path / 'out'), '-j', '1',
                 '--config', str(_dataset_config(tmp_path))])


def test_convert_with_no_episode_is_an_error(tmp_path, capsys, monkeypatch):
    (tmp_path / 'src' / 'session' / 'discarded' / 'episode_0001').mkdir(parents=True)
    assert _convert(tmp_path, tmp_path / 'src', monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'no episode to convert' in err
    assert str(tmp_path / 'src') in err and 'Traceback' not in err


def test_convert_reports_an_episode_whose_recorder_died(tmp_path, capsys, monkeypatch):
    episode = tmp_path / 'src' / 'session' / 'episode_0001'
    episode.mkdir(parents=True)
    (episode / 'episode_0001.mcap').write_bytes(b'\x89MCAP0\r\n' + bytes(100))
    assert _convert(tmp_path, tmp_path / 'src', monkeypatch) == 1
    out, err = capsys.readouterr()
    assert f'humanoid-data repair {episode}' in out
    assert 'session/episode_0001' in out and '0 converted' in out and '1 failed' in out
    assert err.startswith('error: no episode made it into the dataset (1 failed, 0 rejected')
    assert 'Traceback' not in out + err
    assert not (tmp_path / 'out' / 'meta').exists()


def test_convert_names_each_rejection_gate_and_key(tmp_path, capsys, monkeypatch, suite_file):
    pytest.importorskip('av')
    from test.dataset.recording import record
    session, _ = record(tmp_path, 'aborted', suite_file, empty=True)
    assert _convert(tmp_path, session, monkeypatch) == 1
    out, err = capsys.readouterr()
    assert 'aborted/episode_0001' in out and 'rejected' in out
    assert 'rejected: duration_s 0.00: shorter than the minimum ' \
           '(quality.min_duration_s = 1)' in out
    assert 'error: no episode made it into the dataset (0 failed, 1 rejected' in err


def test_validate_fails_an_empty_dataset(tmp_path, capsys):
    meta = tmp_path / 'ds' / 'meta'
    meta.mkdir(parents=True)
    (meta / 'info.json').write_text(json.dumps({
        'codebase_version': 'v3.0', 'fps': 30, 'features': {}, 'data_path': 'x',
        'total_episodes': 0, 'total_frames': 0, 'chunks_size': 1000}))
    assert main(['validate', str(tmp_path / 'ds')]) == 1
    out = capsys.readouterr().out
    assert 'an empty dataset (0 episodes, 0 frames)' in out
    assert out.rstrip().endswith('problems') and ': valid' not in out


@pytest.mark.parametrize('info', [b'{"codebase_version": ', b'\xff\xfe', b'[1, 2]'])
def test_validate_a_damaged_dataset_without_a_traceback(tmp_path, capsys, info):
    meta = tmp_path / 'ds' / 'meta'
    meta.mkdir(parents=True)
    (meta / 'info.json').write_bytes(info)
    assert main(['validate', str(tmp_path / 'ds')]) == 1
    out = capsys.readouterr().out
    assert 'meta/info.json' in out and 'Traceback' not in out
    assert 'humanoid_data_checksums.json: missing' in out
