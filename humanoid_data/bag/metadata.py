"""The files beside an episode's MCAP, checked field by field before anything reads them.

``metadata.yaml`` is rosbag2's index of the bag (files, topics, counts, times); rosbags
trusts it, so a wrong type or an absurd value there surfaced as a raw Python error deep
in the reader. ``episode.yaml`` is the recorder's label and summary of the episode. Both
are checked here, and any problem is a ``BagError`` naming the file, the key and what was
expected. Without ``episode.yaml`` the labels come from the episode events in the bag
(``EpisodeMeta.from_events``).
"""

from __future__ import annotations

import datetime as dt
import reprlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from humanoid_data.core.events import EpisodeEnd, EpisodeOutcome, EpisodeStart, EventBase
from humanoid_data.core.events import Outcome, Source
from humanoid_data.core.yaml_file import parse_yaml_text, read_yaml
from humanoid_data.errors import BagError, ConfigError

BAG_METADATA = 'metadata.yaml'
EPISODE_YAML = 'episode.yaml'
#: Storage plugins of the bags the converter reads (episode bags are always MCAP).
ANY_STORAGE = ('mcap', 'sqlite3')
#: rosbag2 metadata versions rosbags reads.
BAG_VERSIONS = range(1, 10)
INT64_MAX = 2 ** 63 - 1
_SHORT = reprlib.Repr()
_SHORT.maxstring = 40
_SHORT.maxother = 40


def _describe(value: object) -> str:
    """A value and its kind for a message: ``'yesterday' (text)``, ``2024-05-01 (a date)``."""
    if isinstance(value, (dt.date, dt.datetime)):
        return f'{value.isoformat()} (a date)'
    kinds = {str: 'text', bool: 'a boolean', int: 'an integer', float: 'a number',
             list: 'a list', dict: 'a mapping', type(None): 'nothing'}
    kind = kinds.get(type(value), f'a {type(value).__name__}')
    return f'{_SHORT.repr(value)} ({kind})'


def load_yaml_file(path: Path) -> object:
    """Parse a YAML file, every failure a ``BagError`` naming it.

    Read through the strict config reader: at most 1 MiB, bounded nesting and aliases,
    so a hostile file cannot hang or exhaust the reader.

    Raises:
        BagError: Unreadable, too large, not UTF-8 text, or not YAML (a bad date too).

    """
    try:
        return read_yaml(path, 'bag metadata')
    except ConfigError as err:
        raise BagError(str(err)) from err


def _check_qos(meta: _Fields) -> None:
    """``offered_qos_profiles`` is YAML inside a string, which rosbags parses in turn.

    It goes through the bounded reader first, so a hostile one (thousands of nested
    brackets) is refused at once instead of sending rosbags' parser into deep recursion.
    """
    qos = meta.data.get('offered_qos_profiles')
    if qos is None or isinstance(qos, list):
        return
    if not isinstance(qos, str):
        raise meta.fail('offered_qos_profiles', 'YAML text or a list')
    try:
        parse_yaml_text(qos, f'{meta.where}: {meta.prefix}offered_qos_profiles')
    except ConfigError as err:
        raise BagError(str(err)) from err


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:          # a name too long for the file system, say
        return False


class _Fields:
    """Typed reads of one mapping of a file, each failure naming the file and the key."""

    def __init__(self, data: object, where: str, key: str = '') -> None:
        if not isinstance(data, dict):
            raise BagError(f'{where}: {key or "top level"}: expected a mapping, got '
                           f'{_describe(data)}')
        self.data, self.where, self.prefix = data, where, f'{key}.' if key else ''

    def fail(self, key: str, expected: str) -> BagError:
        value = _describe(self.data.get(key))
        return BagError(f'{self.where}: {self.prefix}{key}: expected {expected}, got {value}')

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def mapping(self, key: str) -> _Fields:
        if key not in self.data:
            raise BagError(f'{self.where}: missing key {self.prefix}{key}')
        return _Fields(self.data[key], self.where, self.prefix + key)

    def integer(self, key: str, *, required: bool = False, low: int = 0,
                high: int = INT64_MAX) -> int | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise BagError(f'{self.where}: missing key {self.prefix}{key}')
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            span = f'{low}..{high}' if high != INT64_MAX else \
                f'{low} or more (below 2**63)'
            raise self.fail(key, f'an integer {span}')
        return value

    def text(self, key: str, *, required: bool = False) -> str:
        value = self.data.get(key)
        if value is None and not required:
            return ''
        if not isinstance(value, str):
            if value is None:
                raise BagError(f'{self.where}: missing key {self.prefix}{key}')
            raise self.fail(key, 'text (quote a value that YAML reads as a date or number)')
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, 'a list of text')
        return tuple(value)

    def items(self, key: str) -> list[Any]:
        value = self.data.get(key)
        if not isinstance(value, list):
            if key not in self.data:
                raise BagError(f'{self.where}: missing key {self.prefix}{key}')
            raise self.fail(key, 'a list')
        return value


def check_bag_metadata(folder: Path, storages: tuple[str, ...] = ('mcap',)) -> list[str]:
    """Check ``metadata.yaml`` as far as rosbags relies on it; return the files it lists.

    Episode bags are MCAP; the converter also takes ``ANY_STORAGE`` (another recorder's
    SQLite3 bags).

    Raises:
        BagError: Missing, unreadable, or a key missing, of the wrong type or out of range
            (named), or a listed file missing.

    """
    path = folder / BAG_METADATA
    if not path.is_file():
        raise BagError(f'{folder}: not an episode bag (no {BAG_METADATA})')
    where = str(path)
    raw = load_yaml_file(path)
    if raw is None:
        raise BagError(f'{path}: empty')
    top = _Fields(raw, where)
    info = top.mapping('rosbag2_bagfile_information')
    info.integer('version', required=True, low=BAG_VERSIONS.start, high=BAG_VERSIONS.stop - 1)
    storage = info.text('storage_identifier', required=True)
    files = info.items('relative_file_paths')
    if not files or not all(isinstance(f, str) and f for f in files):
        raise info.fail('relative_file_paths', 'a list of bag file names')
    # The files tell the storage (rosbags picks its reader by the identifier alone).
    expected = 'sqlite3' if all(f.endswith('.db3') for f in files) else 'mcap'
    if storage != expected or storage not in storages:
        raise info.fail('storage_identifier', repr(expected) + (
            ' (episode bags are MCAP)' if storages == ('mcap',) else
            f' (its files are {"SQLite3" if expected == "sqlite3" else "MCAP"})'))
    missing = [f for f in files if not _is_file(folder / Path(f).name)]
    if missing:
        raise BagError(f'{where}: relative_file_paths lists {", ".join(missing)}, '
                       f'not in {folder}')
    info.mapping('duration').integer('nanoseconds', required=True)
    info.mapping('starting_time').integer('nanoseconds_since_epoch', required=True)
    info.integer('message_count', required=True)
    for number, entry in enumerate(info.items('topics_with_message_count')):
        topic = _Fields(entry, where, f'{info.prefix}topics_with_message_count[{number}]')
        meta = topic.mapping('topic_metadata')
        for key in ('name', 'type', 'serialization_format'):
            meta.text(key, required=True)
        if meta.data['serialization_format'] != 'cdr':
            raise meta.fail('serialization_format', "'cdr'")
        _check_qos(meta)
        topic.integer('message_count', required=True)
    for key in ('compression_format', 'compression_mode'):
        info.text(key)
    return [Path(f).name for f in files]


@dataclass(frozen=True)
class EpisodeMeta:
    """What the converter uses of ``episode.yaml`` (or of the bag's episode events)."""

    present: bool                       # from episode.yaml (False: events or nothing)
    episode_id: str = ''
    episode_uuid: str = ''
    task: str = ''
    instruction: str = ''
    operator: str = ''
    tags: tuple[str, ...] = ()
    outcome: str = ''
    failure_mode: str = ''
    taxonomy: str = ''
    start_ns: int | None = None
    stop_ns: int | None = None
    dropped: int = 0
    missing_by_stamps: int = 0
    from_events: bool = False          # window and labels from episode_start / episode_end

    @classmethod
    def from_bag_events(cls, events: Iterable[EventBase]) -> EpisodeMeta:
        """Labels and window from the bag's episode events (no ``episode.yaml``).

        The episode is the last ``episode_start`` in the bag and the first ``episode_end``
        after it (a pre-roll may hold the end of the episode before); an
        ``episode_outcome`` after that corrects the outcome. Simulator truth is not used.
        """
        own = [e for e in events if e.source != Source.SIM_TRUTH]
        starts = [e for e in own if isinstance(e, EpisodeStart)]
        start = starts[-1] if starts else None
        after = [e for e in own if start is None or e.stamp_ns >= start.stamp_ns]
        end = next((e for e in after if isinstance(e, EpisodeEnd)), None)
        late = [e for e in after if isinstance(e, EpisodeOutcome)
                and (end is None or e.stamp_ns >= end.stamp_ns)]
        final = late[-1] if late else end
        if start is None and end is None:
            return cls(present=False)
        return cls(
            present=False, from_events=True,
            task=start.task if start else '', instruction=start.instruction if start else '',
            operator=start.operator if start else '', tags=start.tags if start else (),
            taxonomy=start.taxonomy if start else '',
            outcome=final.outcome.value if final else '',
            failure_mode=final.failure_mode if final else '',
            start_ns=start.stamp_ns if start else None, stop_ns=end.stamp_ns if end else None)


def read_episode_yaml(folder: Path) -> EpisodeMeta | None:
    """The checked ``episode.yaml`` of an episode folder; None when it has none.

    Raises:
        BagError: Unreadable, not YAML, or a key of the wrong type or out of range (named).

    """
    path = folder / EPISODE_YAML
    if not path.exists():
        return None
    where = str(path)
    raw = load_yaml_file(path)
    if raw is None:
        raise BagError(f'{path}: empty (delete it to convert the episode from the episode '
                       'events in its bag)')
    fields = _Fields(raw, where)
    outcome = fields.text('outcome')
    allowed = [o.value for o in Outcome]
    if outcome and outcome not in allowed:
        raise fields.fail('outcome', f'one of {", ".join(allowed)}')
    episode_uuid = fields.text('episode_uuid')
    if episode_uuid:
        try:
            uuid.UUID(episode_uuid)
        except ValueError:
            raise fields.fail('episode_uuid', 'a UUID such as '
                              '6f1c2a9e-3b7d-4c55-9d0e-2a4b8c1d7e3f') from None
    start_ns, stop_ns = fields.integer('start_ns'), fields.integer('stop_ns')
    if start_ns is not None and stop_ns is not None and stop_ns < start_ns:
        raise fields.fail('stop_ns', f'a stamp not before start_ns {start_ns}')
    return EpisodeMeta(
        present=True, episode_id=fields.text('episode_id'), episode_uuid=episode_uuid,
        task=fields.text('task'), instruction=fields.text('instruction'),
        operator=fields.text('operator'), tags=fields.texts('tags'), outcome=outcome,
        failure_mode=fields.text('failure_mode'), taxonomy=fields.text('taxonomy'),
        start_ns=start_ns, stop_ns=stop_ns, dropped=fields.integer('dropped') or 0,
        missing_by_stamps=fields.integer('missing_by_stamps') or 0)
