r"""``repair``: turn an unfinished (or damaged) episode into a readable bag, losing nothing more.

Data flow::

    <episode>/<name>.mcap  (no index: the recorder was killed; or chunks that fail their CRC)
      --SalvageReader--> messages of every intact chunk, in file order
      --OpenEpisode (the recorder's own figures)--> <episode>/.repair/<name>/  a new bag
      --verify: chunk CRCs, and every message read back with rosbags--> swap:
          the original file  -> <episode>/.original/<name>.mcap  (kept unless asked not to)
          the new file       -> <episode>/<name>.mcap, with metadata.yaml
          episode.yaml       -> state: recovered, and what was recovered and lost

Nothing in the episode folder changes until the copy has verified. A repair stopped
half-way is simply run again: it finds the original under ``.original/``.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import yaml

from humanoid_data.bag.episode_bag import Compression, EpisodeBag
from humanoid_data.bag.episode_state import (
    LOCK_FILE, EpisodeState, UnfinishedEpisodeError, episode_state)
from humanoid_data.bag.salvage import SalvageReader
from humanoid_data.bag.verify import verify_bag
from humanoid_data.errors import BagError
from humanoid_data.recording.episode import EpisodeEndInfo, EpisodeInfo, OpenEpisode
from humanoid_data.recording.replay import Replay, plan_replay
from humanoid_data.recording.session import write_yaml

REPAIR_DIR = '.repair'
ORIGINAL_DIR = '.original'
#: A recovered episode counts a stream silent after this gap, as the recorder does.
SILENCE_NS = 1_000_000_000
CHUNK_BYTES = 4 << 20


class RepairReport(NamedTuple):
    """What ``repair_episode`` did to one folder."""

    folder: str
    action: str                 # repaired | already readable
    messages: int
    seconds_lost: float | None  # received by the recorder but not recovered (lower bound)
    problems: list[str]         # chunks left out, the torn end
    original: str | None        # where the original file was kept


def episodes_to_repair(target: Path) -> list[Path]:
    """The episode folders a repair of ``target`` (an episode or a session) looks at.

    A session yields its interrupted episodes; an episode folder yields itself.
    """
    if (target / 'metadata.yaml').is_file() or any(target.glob('*.mcap')) \
            or (target / ORIGINAL_DIR).is_dir():
        return [target]
    found = []
    for folder in sorted(p for p in target.iterdir() if p.is_dir()):
        if folder.name.startswith('.') or folder.name == 'discarded':
            continue
        if episode_state(folder) == EpisodeState.INTERRUPTED \
                or (folder / ORIGINAL_DIR).is_dir() and not any(folder.glob('*.mcap')):
            found.append(folder)
    return found


def _source_file(folder: Path) -> Path:
    files = sorted(folder.glob('*.mcap')) or sorted((folder / ORIGINAL_DIR).glob('*.mcap'))
    if not files:
        raise BagError(f'{folder}: no MCAP file to repair')
    if len(files) > 1:
        raise BagError(f'{folder}: {len(files)} MCAP files; repair handles one-file episodes')
    return files[0]


def _read_meta(folder: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load((folder / 'episode.yaml').read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def repair_episode(folder: str | Path, *, keep_original: bool = True) -> RepairReport:
    """Make one episode folder readable (see the module's data flow).

    A finished bag whose checksums all hold is left alone ("already readable").

    Raises:
        UnfinishedEpisodeError: A live recorder is writing the episode now.
        BagError: Nothing can be salvaged, or the copy does not verify (the original
            is then untouched).

    """
    folder = Path(folder)
    state = episode_state(folder)
    if state == EpisodeState.RECORDING:
        raise UnfinishedEpisodeError(f'{folder}: a live recorder is writing this episode; '
                                     'nothing to repair')
    source = _source_file(folder)
    if state != EpisodeState.INTERRUPTED and source.parent == folder \
            and verify_bag(folder).ok:
        return RepairReport(str(folder), 'already readable', 0, None, [], None)
    meta = _read_meta(folder)
    reader = SalvageReader(source)
    plan = plan_replay(folder, reader, meta)
    if not plan.count and reader.problems:
        raise BagError(f'{source}: no intact message to recover'
                       + ''.join(f'; {p.describe()}' for p in reader.problems[:3]))
    work = folder / REPAIR_DIR
    shutil.rmtree(work, ignore_errors=True)
    copy = work / folder.name
    data = _write_copy(copy, reader, plan, meta)
    _verify_copy(copy, data['messages'] + len(data['repeated_latched']))
    original = _swap(folder, source, copy, keep_original)
    problems = [p.describe() for p in reader.problems]
    if plan.orphans:
        problems.append(f'{plan.orphans} messages left out: their channel was defined in a '
                        'damaged chunk')
    lost = _seconds_lost(meta, plan.newest_stamp_ns)
    data.update({'state': 'recovered', 'flags': [*data['flags'], 'recovered'],
                 'recovered': {
                     'at': dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds'),
                     'messages': data['messages'], 'seconds_lost': lost,
                     'problems': problems, 'original': original,
                     'was': 'interrupted' if state == EpisodeState.INTERRUPTED else 'damaged'}})
    write_yaml(folder / 'episode.yaml', data)
    shutil.rmtree(work, ignore_errors=True)
    return RepairReport(str(folder), 'repaired', data['messages'], lost, problems, original)


def _write_copy(copy: Path, reader: SalvageReader, plan: Replay,
                meta: dict[str, Any]) -> dict[str, Any]:
    """Replay the salvaged messages into a new bag through the recorder's own episode."""
    bag = EpisodeBag(copy, plan.bag_topics, compression=Compression(plan.compression))
    info = EpisodeInfo(str(meta.get('episode_id') or copy.name), plan.start_ns,
                       plan.preroll_ns, _text(meta, 'task'), _text(meta, 'instruction'),
                       _text(meta, 'operator'), tuple(map(str, meta.get('tags') or ())),
                       _text(meta, 'episode_uuid'))
    episode = OpenEpisode(info, bag, plan.specs)
    pending = 0
    for item in plan.items(reader):
        # A latched message stamped before the window was repeated at the open.
        repeated = plan.specs[item.topic_index].latched and item.stamp_ns < episode.begin_ns
        if not (episode.repeat(item) if repeated else episode.write(item)):
            raise BagError(f'{copy}: cannot write the repaired copy: {episode.error}')
        pending += len(item.data)
        if pending >= CHUNK_BYTES:      # small chunks: damage later costs little
            episode.flush(sync=False)
            pending = 0
    episode.end = EpisodeEndInfo(plan.stop_ns, plan.outcome, plan.failure_mode, plan.note)
    keys = ('session', 'config_file', 'config_digest', 'taxonomy')
    extra: dict[str, Any] = {k: meta[k] for k in keys if k in meta}
    data = episode.finish(SILENCE_NS, extra, None, sync=True)
    if episode.error:
        raise BagError(f'{copy}: cannot finish the repaired copy: {episode.error}')
    return data


def _text(meta: dict[str, Any], key: str) -> str:
    value = meta.get(key)
    return value if isinstance(value, str) else ''


def _verify_copy(copy: Path, expected: int) -> None:
    """The copy's CRCs hold and rosbags reads back every message, or BagError."""
    from rosbags.rosbag2 import Reader
    from rosbags.rosbag2.errors import ReaderError
    report = verify_bag(copy)
    if not report.ok:
        raise BagError(f'{copy}: the repaired copy does not verify: '
                       f'{report.problems[0].describe()}; the original is untouched')
    try:
        with Reader(copy) as bag:
            count = sum(1 for _ in bag.messages())
    except (ReaderError, OSError, ValueError, KeyError) as err:
        raise BagError(f'{copy}: the repaired copy cannot be read back: {err}; the original '
                       'is untouched') from err
    if count != expected:
        raise BagError(f'{copy}: {count} messages read back, {expected} written; the '
                       'original is untouched')


def _swap(folder: Path, source: Path, copy: Path, keep_original: bool) -> str | None:
    """Put the verified copy in place; return where the original went (None: deleted)."""
    kept = folder / ORIGINAL_DIR / source.name
    if source.parent == folder:
        kept.parent.mkdir(exist_ok=True)
        source.replace(kept)
    (copy / f'{copy.name}.mcap').replace(folder / f'{folder.name}.mcap')
    (copy / 'metadata.yaml').replace(folder / 'metadata.yaml')
    (folder / LOCK_FILE).unlink(missing_ok=True)
    if keep_original:
        return str(kept)
    shutil.rmtree(folder / ORIGINAL_DIR, ignore_errors=True)
    return None


def _seconds_lost(meta: dict[str, Any], newest_ns: int | None) -> float | None:
    """Received (per the last progress note) minus recovered; None when unknown."""
    progress = meta.get('progress')
    received = progress.get('received_until_ns') if isinstance(progress, dict) else None
    if not isinstance(received, int) or newest_ns is None:
        return None
    return round(max(0, received - newest_ns) / 1e9, 3)


def repair(targets: Sequence[str | Path], *, keep_original: bool = True
           ) -> tuple[list[RepairReport], dict[str, str]]:
    """Repair every episode under ``targets``; (reports, failures by folder).

    Raises:
        BagError: A target does not exist.

    """
    reports: list[RepairReport] = []
    failed: dict[str, str] = {}
    for target in map(Path, targets):
        if not target.is_dir():
            raise BagError(f'{target}: no such episode or session folder')
        for folder in episodes_to_repair(target):
            try:
                reports.append(repair_episode(folder, keep_original=keep_original))
            except BagError as err:
                failed[str(folder)] = str(err)
    return reports, failed
