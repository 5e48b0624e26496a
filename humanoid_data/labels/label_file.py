"""One label file: its revisions read and checked, written atomically under a lock.

A file is ``{"schema": ..., "revisions": [{"revision", "saved_at", "note", "label_set"},
...]}``; revisions are numbered 1..n, ``saved_at`` is ISO-8601 with its UTC offset, and
each label set must belong to the file it is in (annotator and episode).
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from humanoid_data.core.atomic_file import replace_file
from humanoid_data.core.checks import check_mapping, short_repr
from humanoid_data.errors import ConfigError, LabelError
from humanoid_data.labels.codec import decode_label_set
from humanoid_data.labels.model import SCHEMA, LabelSet

#: A label file larger than this is refused unread (one revision is a few kB).
MAX_LABEL_FILE_BYTES = 64 << 20
_FILE_KEYS = {'schema', 'revisions'}
_REVISION_KEYS = {'revision', 'saved_at', 'note', 'label_set'}


class Revision(NamedTuple):
    """One saved revision of a label set: its number, when (ISO-8601 UTC) and why."""

    revision: int
    saved_at: str
    note: str


def read_label_file(path: Path) -> tuple[list[dict[str, Any]], list[tuple[Revision, LabelSet]]]:
    """The revisions of a label file as stored, and each one checked and decoded."""
    try:
        document = check_mapping(_read_json(path), _FILE_KEYS, str(path))
    except ConfigError as err:
        raise LabelError(str(err)) from None
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
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) inside a ``with``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # closing the only descriptor releases the lock


def write_atomically(path: Path, document: dict[str, Any]) -> None:
    """Replace ``path`` by ``document`` durably; a failure leaves no temporary file."""
    try:
        text = json.dumps(document, ensure_ascii=False, allow_nan=False, indent=1)
    except ValueError as err:
        raise LabelError(f'{path}: cannot be written as JSON: {err}') from None
    replace_file(path, text)
