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

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from humanoid_data.core.checks import short_repr
from humanoid_data.core.yaml_file import read_yaml
from humanoid_data.errors import ConfigError, LabelError, UnassignedAnnotatorError
from humanoid_data.labels.codec import decode_label_set, encode_label_set
from humanoid_data.labels.label_file import (
    MAX_LABEL_FILE_BYTES, Revision, exclusive_lock, read_label_file, write_atomically)
from humanoid_data.labels.model import SCHEMA, LabelSet, Role

#: The annotator name of the adjudicated set, whose file is ``adjudicated.json``.
ADJUDICATED = 'adjudicated'
#: The folder of frozen gold sets, beside the episodes' folders: never an episode id.
GOLD = 'gold'
#: The session's assignment file: its annotators are the only ones whose labels are taken.
ROSTER = 'assignments.yaml'
_SAFE_NAME = re.compile(r'[A-Za-z0-9_\-][A-Za-z0-9_.\-]*')


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

    def roster(self) -> tuple[str, ...] | None:
        """The annotators of the session's assignment file; None when it has none.

        Raises:
            LabelError: The file is damaged.

        """
        path = self.root / ROSTER
        if not path.is_file():
            return None
        try:
            data = read_yaml(path, 'assignments')
        except ConfigError as err:
            raise LabelError(str(err)) from err
        names = data.get('annotators') if isinstance(data, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise LabelError(f'{path}: annotators: expected a list of names')
        return tuple(names)

    def _check_roster(self, label_set: LabelSet, path: Path) -> None:
        """A person's labels must come from someone the assignments name (when any do)."""
        names = self.roster()
        if names is None or label_set.role not in (Role.ANNOTATOR, Role.REVIEWER):
            return
        if label_set.annotator not in names:
            raise UnassignedAnnotatorError(
                f'{path}: annotator: {label_set.annotator!r} is not one of the annotators of '
                f'{self.root / ROSTER} ({", ".join(names)})')

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
        self._check_roster(label_set, path)
        encoded = encode_label_set(label_set)
        decode_label_set(encoded, f'{path} (new revision)')   # what is saved must load
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with exclusive_lock(path.with_name(f'.{label_set.annotator}.lock')):
                revisions = read_label_file(path)[0] if path.exists() else []
                number = len(revisions) + 1
                revisions.append({'revision': number,
                                  'saved_at': self._clock().astimezone(timezone.utc).isoformat(),
                                  'note': note, 'label_set': encoded})
                write_atomically(path, {'schema': SCHEMA, 'revisions': revisions})
        except OSError as err:
            raise LabelError(f'{path}: cannot save labels: {err.strerror or err}') from err
        return number

    def load(self, episode_id: str, annotator: str, revision: int | None = None) -> LabelSet:
        """Return a revision of a label set (the latest by default).

        Raises:
            LabelError: No such file or revision, or the file is damaged or too large.

        """
        path = self.path(episode_id, annotator)
        sets = read_label_file(path)[1]
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
        return [info for info, _ in read_label_file(self.path(episode_id, annotator))[1]]

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


__all__ = ['ADJUDICATED', 'GOLD', 'MAX_LABEL_FILE_BYTES', 'LabelStore', 'Revision',
           'check_name']
