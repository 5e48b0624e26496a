"""Gold sets: adjudicated episodes frozen under a version, to score annotators against.

``<session>/labels/gold/<version>.yaml`` holds a copy of each episode's adjudicated label
set as it was when frozen (later adjudication does not change a gold set) and a SHA-256
of the copies, so an edited gold file is noticed. A version is written once; freezing
the same version again is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Sequence

import yaml

from humanoid_data.core.atomic_file import replace_file
from humanoid_data.core.yaml_file import read_yaml
from humanoid_data.errors import ConfigError, LabelError
from humanoid_data.labels.codec import decode_label_set, encode_label_set
from humanoid_data.labels.model import LabelSet
from humanoid_data.labels.store import ADJUDICATED, GOLD, LabelStore, check_name

GOLD_SCHEMA = 'humanoid_data.gold/1'


def gold_path(session: Path, version: str) -> Path:
    """Where a gold set of a session lives."""
    return session / 'labels' / GOLD / f'{check_name(version, "gold version")}.yaml'


def _digest(sets: Sequence[dict[str, object]]) -> str:
    text = json.dumps(sets, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(text.encode()).hexdigest()


def freeze_gold(session: str | Path, version: str,
                episodes: Sequence[str] | None = None) -> Path:
    """Copy the adjudicated label sets of ``episodes`` (all adjudicated ones by default).

    Raises:
        LabelError: The version exists already, an episode has no adjudicated set, or
            there is nothing to freeze.

    """
    session = Path(session)
    store = LabelStore(session)
    path = gold_path(session, version)
    if path.exists():
        raise LabelError(f'{path}: gold set {version} exists already; a gold set is frozen '
                         'once (choose a new version)')
    chosen = list(episodes) if episodes is not None else [
        e for e in store.episodes() if ADJUDICATED in store.annotators(e)]
    missing = [e for e in chosen if ADJUDICATED not in store.annotators(e)]
    if missing:
        raise LabelError(f'{session}: not adjudicated yet: {", ".join(missing)}')
    if not chosen:
        raise LabelError(f'{session}: no adjudicated episode to freeze')
    sets = [encode_label_set(store.load(e, ADJUDICATED)) for e in chosen]
    body = {'schema': GOLD_SCHEMA, 'version': version,
            'frozen_at': dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds'),
            'sha256': _digest(sets), 'label_sets': sets}
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, yaml.safe_dump(body, sort_keys=False, allow_unicode=True))
    return path


def load_gold(path: str | Path) -> dict[str, LabelSet]:
    """Episode id -> frozen label set of a gold file.

    Raises:
        LabelError: Unreadable, another schema, or its copies do not match their digest.

    """
    path = Path(path)
    try:
        body = read_yaml(path, 'gold set')
    except ConfigError as err:
        raise LabelError(str(err)) from err
    if not isinstance(body, dict) or body.get('schema') != GOLD_SCHEMA:
        raise LabelError(f'{path}: not a gold set (schema {GOLD_SCHEMA})')
    sets = body.get('label_sets')
    if not isinstance(sets, list):
        raise LabelError(f'{path}: label_sets: expected a list')
    if body.get('sha256') != _digest(sets):
        raise LabelError(f'{path}: the label sets do not match their digest: the gold set '
                         'was edited after it was frozen')
    out = {}
    for number, data in enumerate(sets):
        ls = decode_label_set(data, f'{path}: label_sets[{number}]')
        out[ls.episode.episode_id] = ls
    return out


def gold_for(sessions: Sequence[Path], version: str) -> dict[tuple[str, str], LabelSet]:
    """(session, episode) -> gold label set, over every session holding that version.

    Raises:
        LabelError: No session holds the version, or a gold file is damaged.

    """
    out: dict[tuple[str, str], LabelSet] = {}
    for session in sessions:
        path = gold_path(session, version)
        if path.is_file():
            out.update({(session.name, e): ls for e, ls in load_gold(path).items()})
    if not out:
        raise LabelError(f'no gold set {version} in {", ".join(str(s) for s in sessions)}')
    return out
