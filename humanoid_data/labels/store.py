"""Label sets on disk beside the bags: one file per (episode, annotator), append-only.

::

    <session>/labels/<episode_id>/<annotator>.json     {"schema", "revisions": [...]}
    <session>/labels/<episode_id>/adjudicated.json     the adjudicated set (role adjudicator)
    <session>/labels/<episode_id>/.<annotator>.lock    flock held while a revision is added

``save`` takes an exclusive ``flock`` on the lock file, reads and checks the file, appends
a revision and replaces the file atomically (temporary file in the same folder, fsync,
``os.replace``, fsync of the folder), so two processes saving at once both land and a
reader never sees half a file. Earlier revisions are never edited or removed. The store
writes nothing outside ``<session>/labels/``; the bags are never touched.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

from humanoid_data.core.checks import short_repr
from humanoid_data.errors import LabelError
from humanoid_data.labels.codec import decode_label_set, encode_label_set
from humanoid_data.labels.model import SCHEMA, LabelSet, Role

#: The annotator name of the adjudicated set, whose file is ``adjudicated.json``.
ADJUDICATED = 'adjudicated'
#: The folder of frozen gold sets, beside the episodes' folders: never an episode id.
GOLD = 'gold'
#: A label file larger than this is refused unread (one revision is a few kB).
MAX_LABEL_FILE_BYTES = 64 << 20
_SAFE_NAME = re.compile(r'[A-Za-z0-9_\-][A-Za-z0-9_.\-]*')
_FILE_KEYS = {'schema', 'revisions'}
_REVISION_KEYS = {'revision', 'saved_at', 'note', 'label_set'}


class Revision(NamedTuple):
    """One saved revision of a label set: its number, when (ISO-8601 UTC) and why."""

    revision: int
    saved_at: str
    note: str


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def check_name(name: str, what: str) -> str:
    """Return ``name`` if it is safe as a file name (letters, digits, ``_``, ``-``, ``.``).

    Raises:
        LabelError: Empty, starting with ``.``, or holding any other character.

    """
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
        raise LabelError(f'{what} {short_repr(name)} is not a safe file name: use letters, '
                         f'digits, "_", "-" and "." (not first)')
    return name


class LabelStore:
    """The label sets of one session, under ``<session>/labels/``."""

    def __init__(self, session_dir: str | Path, *,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        """Keep labels under ``session_dir``/labels; ``clock`` stamps each revision."""
        self.session_dir = Path(session_dir)
        self.root = self.session_dir / 'labels'
        self._clock = clock

    def folder(self, episode_id: str) -> Path:
        """Return the labels folder of ``episode_id``.

        Raises:
            LabelError: The id is not a safe file name, or it is ``gold``.

        """
        if check_name(episode_id, 'episode id') == GOLD:
            raise LabelError(f'episode id {GOLD!r} is reserved for the gold sets')
        return self.root / episode_id

    def path(self, episode_id: str, annotator: str) -> Path:
        """Return the file of ``annotator``'s labels of ``episode_id``.

        Raises:
            LabelError: A name is not a safe file name, or the episode id is ``gold``.

        """
        return self.folder(episode_id) / f'{check_name(annotator, "annotator")}.json'

    def save(self, label_set: LabelSet, *, note: str = '') -> int:
        """Append ``label_set`` as a new revision of its (episode, annotator) file.

        Args:
            label_set: The labels; its episode id and annotator name the file.
            note: Why this revision was saved (kept with it).

        Returns:
            The number of the new revision (1 for the first).

        Raises:
            LabelError: An unsafe name, the adjudicated name without the adjudicator role
                (or the reverse), a value the codec would not read back (an infinite
                time, a name that is not text), the existing file is damaged (it is left
                as it is), or the file cannot be written.

        """
        path = self.path(label_set.episode.episode_id, label_set.annotator)
        if (label_set.annotator == ADJUDICATED) != (label_set.role is Role.ADJUDICATOR):
            raise LabelError(f'{path}: the adjudicated set is annotator {ADJUDICATED!r} with '
                             f'role {Role.ADJUDICATOR.value!r}; got annotator '
                             f'{label_set.annotator!r} with role {label_set.role.value!r}')
        if not isinstance(note, str):
            raise LabelError(f'{path}: note must be text, got {short_repr(note)}')
        if not self.session_dir.is_dir():
            raise LabelError(f'{self.session_dir}: no such session folder')
        encoded = encode_label_set(label_set)
        decode_label_set(encoded, f'{path} (new revision)')   # what is saved must load
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with _exclusive_lock(path.with_name(f'.{label_set.annotator}.lock')):
                revisions = _read_file(path)[0] if path.exists() else []
                number = len(revisions) + 1
                revisions.append({'revision': number,
                                  'saved_at': self._clock().astimezone(timezone.utc).isoformat(),
                                  'note': note, 'label_set': encoded})
                _write_atomically(path, {'schema': SCHEMA, 'revisions': revisions})
        except OSError as err:
            raise LabelError(f'{path}: cannot save labels: {err.strerror or err}') from err
        return number

    def load(self, episode_id: str, annotator: str, revision: int | None = None) -> LabelSet:
        """Return a revision of a label set (the latest by default).

        Raises:
            LabelError: No such file or revision, or the file is damaged or too large.

        """
        path = self.path(episode_id, annotator)
        sets = _read_file(path)[1]
        if revision is None:
            return sets[-1][1]
        if isinstance(revision, bool) or not isinstance(revision, int) \
                or not 1 <= revision <= len(sets):
            raise LabelError(f'{path}: no revision {short_repr(revision)}; '
                             f'revisions are 1..{len(sets)}')
        return sets[revision - 1][1]

    def history(self, episode_id: str, annotator: str) -> list[Revision]:
        """Return every revision's number, time and note, oldest first.

        Raises:
            LabelError: No such file, or the file is damaged or too large.

        """
        return [info for info, _ in _read_file(self.path(episode_id, annotator))[1]]

    def annotators(self, episode_id: str) -> list[str]:
        """Return the names with a label file for ``episode_id`` (``adjudicated`` included)."""
        folder = self.folder(episode_id)
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob('*.json')
                      if _SAFE_NAME.fullmatch(p.stem) and p.is_file())

    def episodes(self) -> list[str]:
        """Return the episode ids that have a labels folder, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and p.name != GOLD and _SAFE_NAME.fullmatch(p.name))

    def load_all(self, episode_id: str) -> dict[str, LabelSet]:
        """Return the latest label set of every annotator of ``episode_id``.

        Raises:
            LabelError: A file is damaged or too large.

        """
        return {name: self.load(episode_id, name) for name in self.annotators(episode_id)}


def _read_file(path: Path) -> tuple[list[dict[str, Any]], list[tuple[Revision, LabelSet]]]:
    """The revisions of a label file as stored, and each one checked and decoded."""
    document = _read_json(path)
    if not isinstance(document, dict):
        raise LabelError(f'{path}: expected a JSON object, got {short_repr(document)}')
    unknown = sorted((k for k in document if k not in _FILE_KEYS), key=repr)
    if unknown:
        raise LabelError(f'{path}: unknown key {short_repr(unknown[0])}; allowed: '
                         f'{", ".join(sorted(_FILE_KEYS))}')
    if document.get('schema') != SCHEMA:
        raise LabelError(f'{path}: schema: expected {SCHEMA!r}, '
                         f'got {short_repr(document.get("schema"))}')
    revisions = document.get('revisions')
    if not isinstance(revisions, list) or not revisions:
        raise LabelError(f'{path}: revisions: expected a non-empty list, '
                         f'got {short_repr(revisions)}')
    return revisions, [_check_revision(raw, i, path) for i, raw in enumerate(revisions)]


def _check_revision(raw: object, index: int, path: Path) -> tuple[Revision, LabelSet]:
    where = f'{path}: revisions[{index}]'
    if not isinstance(raw, dict) or set(raw) != _REVISION_KEYS:
        raise LabelError(f'{where}: expected an object with exactly the keys '
                         f'{", ".join(sorted(_REVISION_KEYS))}, got {short_repr(raw)}')
    number = raw['revision']
    if isinstance(number, bool) or not isinstance(number, int) or number != index + 1:
        raise LabelError(f'{where}.revision: expected {index + 1}, '
                         f'got {short_repr(number)}')
    if not isinstance(raw['note'], str):
        raise LabelError(f'{where}.note: expected text, got {short_repr(raw["note"])}')
    saved_at = raw['saved_at']
    try:
        stamp = datetime.fromisoformat(saved_at) if isinstance(saved_at, str) else None
    except ValueError:
        stamp = None
    if stamp is None or stamp.utcoffset() is None:
        raise LabelError(f'{where}.saved_at: expected an ISO-8601 time with its UTC offset, '
                         f'got {short_repr(saved_at)}')
    label_set = decode_label_set(raw['label_set'], f'{path} (revision {index + 1})')
    if f'{label_set.annotator}.json' != path.name \
            or label_set.episode.episode_id != path.parent.name:
        raise LabelError(f'{where}.label_set: holds the labels of {label_set.annotator!r} '
                         f'for {label_set.episode.episode_id!r}, not those this file is for')
    return Revision(index + 1, saved_at, raw['note']), label_set


def _read_json(path: Path) -> object:
    """The parsed file, refused unread beyond ``MAX_LABEL_FILE_BYTES``."""
    try:
        with path.open('rb') as stream:
            size = os.fstat(stream.fileno()).st_size
            data = b'' if size > MAX_LABEL_FILE_BYTES else stream.read(MAX_LABEL_FILE_BYTES + 1)
    except FileNotFoundError:
        raise LabelError(f'{path}: no such label file') from None
    except OSError as err:
        raise LabelError(f'{path}: cannot read labels: {err.strerror or err}') from err
    if size > MAX_LABEL_FILE_BYTES or len(data) > MAX_LABEL_FILE_BYTES:
        raise LabelError(f'{path}: larger than the limit of {MAX_LABEL_FILE_BYTES} bytes '
                         f'(64 MiB) for a label file')
    try:
        return json.loads(data.decode('utf-8'), parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:   # UnicodeDecodeError is a ValueError
        raise LabelError(f'{path}: not a JSON label file: {err}') from None


def _no_constant(name: str) -> float:
    raise ValueError(f'{name} is not a number a label file may hold')


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) inside a ``with``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # closing the only descriptor releases the lock


def _write_atomically(path: Path, document: dict[str, Any]) -> None:
    """Replace ``path`` by ``document`` durably; a failure leaves no temporary file."""
    try:
        text = json.dumps(document, ensure_ascii=False, allow_nan=False, indent=1)
    except ValueError as err:
        raise LabelError(f'{path}: cannot be written as JSON: {err}') from None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.stem}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


__all__ = ['ADJUDICATED', 'GOLD', 'MAX_LABEL_FILE_BYTES', 'LabelStore', 'Revision',
           'check_name']
