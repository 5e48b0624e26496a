"""Every bad bag is a named failure: copies of one episode, each damaged one way, in one run.

From one recorded episode the generator makes copies with a truncated MCAP file, flipped
bytes in its chunks, a damaged or missing ``metadata.yaml`` or ``episode.yaml``, an MCAP
file of zeros, an unrelated extra file. The folder of copies is converted once; every copy
is either converted (when nothing it needs is damaged) or listed in ``result.failed``
with a reason that names the copy's folder and is the project's own message, never a raw
Python exception.

BIT FLIPS NEED CHUNK CHECKSUMS. A flipped byte inside a chunk is only detectable when the
recorder stores the chunk's CRC (the MCAP writer of bag/episode_bag.py does; rosbags wrote
zeros). The ``flip_*`` cases are marked ``needs_crc``: with a bag without checksums they
are skipped, with one they must fail naming the chunk's topics and time range.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow.parquet as pq
import pytest
import yaml

from humanoid_data.bag.verify import verify_bag
from test.dataset.recording import DATASET, REPO, convert_with, record

pytest.importorskip('av')

EPISODE = 'episode_0001'
#: Texts of raw Python exceptions; none may reach a user in a reason.
RAW = ('Traceback', 'KeyError', 'ValueError', 'TypeError', 'OverflowError',
       'UnicodeDecodeError', 'AttributeError', 'IndexError', 'struct.error',
       'AssertionError', 'RuntimeError', 'OSError', 'EOFError', 'ZeroDivisionError',
       'RecursionError', 'MemoryError', 'NotImplementedError', 'Error:')


@dataclass(frozen=True)
class Damage:
    """One way to damage a copy of the episode, and what converting it must give."""

    name: str
    apply: Callable[[Path], None]     # gets the copy's episode folder
    converts: bool = False
    says: str = ''                    # a part of the failure's reason
    needs_crc: bool = False


def _mcap(folder: Path) -> Path:
    return next(folder.glob('*.mcap'))


def _replace(path: Path, data: bytes) -> None:
    """Write a new file (the copy's MCAP is a hard link to the original)."""
    path.unlink()
    path.write_bytes(data)


def _truncate(fraction: float | None = None, keep: int | None = None) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        mcap = _mcap(folder)
        data = mcap.read_bytes()
        size = keep if keep is not None else int(len(data) * fraction)
        _replace(mcap, data[:size] if size >= 0 else data[:len(data) + size])
    return apply


def chunk_spans(data: bytes) -> list[tuple[int, int]]:
    """(first, end) byte offsets of every chunk's message records in an MCAP file."""
    spans, offset = [], 8
    while offset + 9 <= len(data):
        opcode, length = struct.unpack_from('<BQ', data, offset)
        body = offset + 9
        if opcode == 0x06:        # chunk: times, sizes, crc, compression, records
            compression_len = struct.unpack_from('<I', data, body + 28)[0]
            records = body + 32 + compression_len + 8
            spans.append((records, body + length))
        if opcode == 0x0F:        # data end
            break
        offset = body + length
    return spans


def _flip(count: int) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        mcap = _mcap(folder)
        data = bytearray(mcap.read_bytes())
        spans = chunk_spans(bytes(data))
        assert spans, 'the recorded bag has no chunks'
        first, end = spans[0]
        for k in range(count):     # spread over the first chunk, away from its edges
            data[first + (end - first) * (k + 1) // (count + 2)] ^= 0x5A
        _replace(mcap, bytes(data))
    return apply


def _zeros(folder: Path) -> None:
    mcap = _mcap(folder)
    _replace(mcap, bytes(mcap.stat().st_size))


def _write(name: str, text: str | bytes | None) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / name
        if text is None:
            path.unlink()
        elif isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    return apply


def _edit(name: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / name
        data = yaml.safe_load(path.read_text())
        change(data['rosbag2_bagfile_information'] if name == 'metadata.yaml' else data)
        path.write_text(yaml.safe_dump(data))
    return apply


def _set(**values: object) -> Callable[[dict], None]:
    return lambda data: data.update(values)


def _drop(key: str) -> Callable[[dict], None]:
    return lambda data: data.pop(key)


def _extra(folder: Path) -> None:
    (folder / 'notes.txt').write_text('the cube was wet')
    (folder / 'camera_snapshot.bin').write_bytes(os.urandom(256))
    (folder / 'old_take.mcap').write_bytes(os.urandom(256))     # not in metadata.yaml


META, EPISODE_YAML = 'metadata.yaml', 'episode.yaml'
DAMAGES = [
    Damage('healthy', lambda folder: None, converts=True),
    Damage('extra_files', _extra, converts=True),
    Damage('truncated_to_header', _truncate(keep=20), says='.mcap'),
    Damage('truncated_10pct', _truncate(0.1), says='.mcap'),
    Damage('truncated_half', _truncate(0.5), says='.mcap'),
    Damage('truncated_footer', _truncate(keep=-10), says='.mcap'),
    Damage('flip_1_byte', _flip(1), says='checksum', needs_crc=True),
    Damage('flip_16_bytes', _flip(16), says='checksum', needs_crc=True),
    Damage('mcap_zeros', _zeros, says='.mcap'),
    Damage('metadata_deleted', _write(META, None), says='humanoid-data repair'),
    Damage('metadata_empty', _write(META, ''), says=META),
    Damage('metadata_not_yaml', _write(META, 'rosbag2: [unclosed\n  : {'), says=META),
    Damage('metadata_not_utf8', _write(META, b'\xff\xfe\x00bag'), says=META),
    Damage('metadata_list', _write(META, '- 1\n- 2\n'), says=META),
    Damage('metadata_no_version', _edit(META, _drop('version')), says='version'),
    Damage('metadata_version_text', _edit(META, _set(version='yesterday')), says='version'),
    Damage('metadata_count_text', _edit(META, _set(message_count='yesterday')),
           says='message_count'),
    Damage('metadata_huge_start', _edit(META, _set(
        starting_time={'nanoseconds_since_epoch': 2 ** 70})), says='starting_time'),
    Damage('metadata_negative_duration', _edit(META, _set(duration={'nanoseconds': -5})),
           says='duration'),
    Damage('metadata_topics_text', _edit(META, _set(topics_with_message_count='many')),
           says='topics_with_message_count'),
    Damage('metadata_files_wrong', _edit(META, _set(relative_file_paths=[17])),
           says='relative_file_paths'),
    Damage('metadata_files_missing', _edit(META, _set(relative_file_paths=['gone.mcap'])),
           says='gone.mcap'),
    Damage('episode_yaml_deleted', _write(EPISODE_YAML, None), converts=True),
    Damage('episode_yaml_not_utf8', _write(EPISODE_YAML, b'task: \xff\xfe pick\n'),
           says=EPISODE_YAML),
    Damage('episode_yaml_not_yaml', _write(EPISODE_YAML, 'task: [pick\n'), says=EPISODE_YAML),
    Damage('episode_yaml_list', _write(EPISODE_YAML, '- pick\n'), says=EPISODE_YAML),
    Damage('episode_yaml_task_list', _edit(EPISODE_YAML, _set(task=[1, 2])), says='task'),
    Damage('episode_yaml_date', _write(EPISODE_YAML, 'task: 2024-05-01\n'), says='task'),
    Damage('episode_yaml_impossible_date', _write(EPISODE_YAML, 'state: 2024-13-45\n'),
           says='month must be in 1..12'),
    Damage('episode_yaml_start_text', _edit(EPISODE_YAML, _set(start_ns='yesterday')),
           says='start_ns'),
    Damage('episode_yaml_huge_stamps', _edit(EPISODE_YAML, _set(
        start_ns=2 ** 70, stop_ns=2 ** 71)), says='start_ns'),
    Damage('episode_yaml_negative_stop', _edit(EPISODE_YAML, _set(stop_ns=-1)),
           says='stop_ns'),
    Damage('episode_yaml_stop_before_start', _edit(EPISODE_YAML, lambda d: d.update(
        stop_ns=d['start_ns'] - 1)), says='stop_ns'),
    Damage('episode_yaml_dropped_text', _edit(EPISODE_YAML, _set(dropped='yesterday')),
           says='dropped'),
    Damage('episode_yaml_outcome_bad', _edit(EPISODE_YAML, _set(outcome='great')),
           says='outcome'),
    Damage('episode_yaml_uuid_bad', _edit(EPISODE_YAML, _set(episode_uuid='not-a-uuid')),
           says='episode_uuid'),
]


def make_copies(episode: Path, root: Path, damages: list[Damage]) -> dict[str, Path]:
    """One session folder per damage under ``root``, holding a damaged copy of ``episode``.

    The MCAP file is hard-linked where the platform allows (damage writes a new file).
    """
    copies = {}
    for damage in damages:
        session = root / damage.name
        folder = session / EPISODE
        folder.mkdir(parents=True)
        shutil.copyfile(episode.parent / 'suite.yaml', session / 'suite.yaml')
        for path in episode.iterdir():
            if path.suffix == '.mcap':
                try:
                    os.link(path, folder / path.name)
                except OSError:
                    shutil.copyfile(path, folder / path.name)
            elif path.is_file():
                shutil.copyfile(path, folder / path.name)
        damage.apply(folder)
        copies[damage.name] = folder
    return copies


@pytest.fixture(scope='module')
def damaged(tmp_path_factory):
    """The copies, converted in one run; (result, copies, bag has checksums, output)."""
    root = tmp_path_factory.mktemp('bad_bags')
    session, _ = record(root, 'source', REPO / 'config' / 'humanoid.yaml')
    config = root / 'dataset.yaml'
    config.write_text(yaml.safe_dump(DATASET))
    episode = session / EPISODE
    crc = verify_bag(episode).checksummed > 0
    copies = make_copies(episode, root / 'copies', DAMAGES)
    out = root / 'out'
    result = convert_with(config, [root / 'copies'], out, 'lerobot', jobs=2)
    return result, copies, crc, out


def _outcome(result, name: str) -> tuple[str, str]:
    """('converted', '') or ('failed', reason) of the copy in session ``name``."""
    for key in result.converted:
        if key.split('/')[0] == name:
            return 'converted', ''
    for key, reason in result.failed.items():
        if key.split('/')[0] == name:
            return 'failed', reason
    for key, reasons in result.rejected.items():
        if key.split('/')[0] == name:
            return 'rejected', '; '.join(reasons)
    return 'missing', ''


def test_every_copy_is_converted_or_a_named_failure(damaged):
    result, copies, _, _ = damaged
    for name, folder in copies.items():
        kind, reason = _outcome(result, name)
        assert kind in ('converted', 'failed'), f'{name}: {kind} {reason}'
        if kind == 'failed':
            assert str(folder) in reason, f'{name}: the reason does not name the copy: {reason}'
            raw = [word for word in RAW if word in reason]
            assert not raw, f'{name}: a raw exception text in {reason!r}'
    total = len(result.converted) + len(result.failed) + len(result.rejected)
    assert total == len(copies)


@pytest.mark.parametrize('damage', DAMAGES, ids=[d.name for d in DAMAGES])
def test_each_damage_gives_its_outcome(damaged, damage):
    result, copies, crc, _ = damaged
    if damage.needs_crc and not crc:
        pytest.skip('the recorded bag carries no chunk checksums: a flipped byte cannot be '
                    'seen (runs once the recorder writes CRCs)')
    kind, reason = _outcome(result, damage.name)
    if damage.converts:
        assert kind == 'converted', reason
    else:
        assert kind == 'failed'
        assert damage.says in reason, reason


def test_flipped_bytes_name_the_chunk_topics_and_time(damaged):
    result, copies, crc, _ = damaged
    if not crc:
        pytest.skip('the recorded bag carries no chunk checksums (runs once the recorder '
                    'writes CRCs)')
    _, reason = _outcome(result, 'flip_1_byte')
    assert '/joint_states' in reason and 'UTC' in reason and 'at byte' in reason


def test_the_healthy_copies_make_a_valid_dataset(damaged):
    from humanoid_data.dataset.validate import validate
    result, _, _, out = damaged
    assert {key.split('/')[0] for key in result.converted} == {
        d.name for d in DAMAGES if d.converts}
    assert validate(out) == []


def _summary(out, session: str) -> dict:
    for sidecar in sorted((out / 'humanoid_data').glob('episode_*/episode.json')):
        summary = json.loads(sidecar.read_text())
        if summary['session'] == session:
            return summary
    raise AssertionError(f'{session}: not in the dataset')


def test_without_episode_yaml_or_events_nothing_is_made_up(damaged):
    """No episode.yaml and no episode events: all the data, flagged, no default task."""
    _, _, _, out = damaged
    bare, healthy = _summary(out, 'episode_yaml_deleted'), _summary(out, 'healthy')
    assert {'no_episode_yaml', 'no_task_label'} <= set(bare['flags'])
    assert bare['verdict'] == 'flagged'
    assert bare['task'] == bare['instruction'] == '' and healthy['task'] == 'pick_place'
    assert bare['frames'] > healthy['frames']         # the pre-roll is in, and said to be
    assert any('pre-roll' in note for note in bare['notes'])
    tasks = pq.read_table(out / 'meta' / 'tasks.parquet').to_pylist()
    assert '' in [t['task'] for t in tasks]


def test_rows_and_report_name_their_source(damaged):
    result, copies, crc, out = damaged
    rows = pq.read_table(out / 'meta' / 'episodes' / 'chunk-000' / 'file-000.parquet')
    by_path = {r['source_path']: r for r in rows.to_pylist()}
    assert set(by_path) == {f'{d.name}/{EPISODE}' for d in DAMAGES if d.converts}
    for name, source in result.sources.items():
        assert source.folder == copies[name.split('/')[0]]
        if name in result.converted:
            assert by_path[source.path]['source_id'] == source.source_id
            assert by_path[source.path]['source_verified'] == ('ok' if crc else 'no checksums')
    report = json.loads((out / 'humanoid_data' / 'report.json').read_text())
    assert {r['source_path'] for r in report} == {f'{name}/{EPISODE}' for name in copies}
    failures = {r['session']: r['reason'] for r in report if r['verdict'] == 'failed'}
    assert failures == {name.split('/')[0]: why for name, why in result.failed.items()}


def test_validate_names_a_file_whose_bytes_changed(damaged, tmp_path):
    from humanoid_data.dataset.validate import validate
    out = tmp_path / 'dataset'
    shutil.copytree(damaged[3], out, ignore=shutil.ignore_patterns('.staging'))
    manifest = json.loads((out / 'meta' / 'humanoid_data_checksums.json').read_text())
    assert 'data/chunk-000/file-000.parquet' in manifest['files']
    assert 'meta/info.json' in manifest['files'] and 'meta/stats.json' in manifest['files']
    sidecar = out / 'humanoid_data' / 'episode_000001' / 'labels.json'
    sidecar.write_text(sidecar.read_text().replace('"', "'", 1))      # one byte
    video = next((out / 'videos').rglob('*.mp4'))
    video.unlink()
    (out / 'data' / 'chunk-000' / 'file-001.parquet').write_bytes(b'PAR1')
    problems = validate(out)
    assert any(p.startswith('humanoid_data/episode_000001/labels.json: its bytes changed')
               for p in problems)
    assert any(p.startswith(f'{video.relative_to(out).as_posix()}: missing') for p in problems)
    assert any(p.startswith('data/chunk-000/file-001.parquet: not written by the converter')
               for p in problems)
