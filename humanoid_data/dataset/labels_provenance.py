"""Labels provenance and subtasks in a converted dataset: what the writers add, and its checks.

Every episode says where its labels came from (``labels_source.LabelProvenance``) in the
same flat fields in both layouts: LeRobot columns ``labels/<field>`` in meta/episodes,
HDF5 attrs ``labels_<field>`` on the demo group (``annotators`` there as JSON text)::

    source             adjudicated | annotator | prelabel | bag_events
    annotator          whose label set is used ('' for bag_events)
    annotators         every human who labelled the episode (taxonomy in force)
    adjudicated        the set used is the adjudicated one
    revision           revision of the set used (0 for bag_events)
    saved_at           when that revision was saved (ISO-8601)
    taxonomy           the version the labels used were made under
    taxonomy_mismatch  that version is not the dataset's (decided when packing)
    agreement          JSON text: the annotators' agreement, ``null`` with fewer than two

The whole provenance (with what the set replaced and the notes) is in meta/labels.json
(LeRobot) and the demo's ``labels`` attr (HDF5). The dataset's taxonomy is the version
the episodes were staged under (``humanoid_data.taxonomy`` in meta/info.json, in the
``humanoid_data`` attr of HDF5's ``data``).

Subtasks are the phases the way lerobot reads task segments: ``subtask_index`` per frame
and meta/subtasks.parquet (the subtask text as its pandas index, column
``subtask_index``). lerobot looks a subtask up by row (``subtasks.iloc[i]``), where -1
would silently name the last one, so every frame has a subtask: ``NO_SUBTASK`` (the empty
string, always row 0) for frames outside every phase.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from humanoid_data.dataset.labels_source import LabelOrigin

FIELDS = ('source', 'annotator', 'annotators', 'adjudicated', 'revision', 'saved_at',
          'taxonomy', 'taxonomy_mismatch', 'agreement')
LEROBOT_PREFIX = 'labels/'
HDF5_PREFIX = 'labels_'
LABELS_FILE = 'meta/labels.json'
LABELS_SCHEMA = 'humanoid_data.dataset_labels/1'
SUBTASKS_FILE = 'meta/subtasks.parquet'
NO_SUBTASK = ''
_ORIGINS = tuple(o.value for o in LabelOrigin)

Summary = dict[str, Any]      # a staged episode's summary (staging.stage_episode)


def dataset_taxonomy(summaries: Sequence[Summary]) -> str:
    """The taxonomy of the dataset: the version most episodes were staged under."""
    counts = Counter(s.get('dataset_taxonomy') or s['taxonomy'] for s in summaries)
    return counts.most_common(1)[0][0] if counts else ''


def provenance(summary: Summary, taxonomy: str) -> dict[str, Any]:
    """The episode's whole provenance, ``taxonomy_mismatch`` against ``taxonomy`` added."""
    labels = summary['labels']
    return {**labels, 'taxonomy_mismatch': labels['taxonomy'] != taxonomy}


def provenance_fields(summary: Summary, taxonomy: str) -> dict[str, Any]:
    """The flat provenance fields of one episode in a dataset labelled under ``taxonomy``."""
    full = provenance(summary, taxonomy)
    return {key: json.dumps(full[key], sort_keys=True) if key == 'agreement' else full[key]
            for key in FIELDS}


def lerobot_columns(summary: Summary, taxonomy: str) -> dict[str, Any]:
    """The episode's ``labels/<field>`` columns of meta/episodes."""
    return {f'{LEROBOT_PREFIX}{k}': v for k, v in provenance_fields(summary, taxonomy).items()}


def labels_summary(summaries: Sequence[Summary], taxonomy: str) -> dict[str, Any]:
    """meta/labels.json: the dataset's taxonomy, episodes per source, every provenance."""
    episodes = [{'episode_index': index, 'session': s['session'], 'episode': s['episode_id'],
                 'source_id': s['source_id'], **provenance(s, taxonomy)}
                for index, s in enumerate(summaries)]
    return {'schema': LABELS_SCHEMA, 'taxonomy': taxonomy,
            'sources': dict(Counter(e['source'] for e in episodes)), 'episodes': episodes}


def write_hdf5_provenance(group: Any, summary: Summary, taxonomy: str) -> None:
    """The ``labels_<field>`` attrs and the ``labels`` JSON attr of a demo group."""
    for key, value in provenance_fields(summary, taxonomy).items():
        group.attrs[f'{HDF5_PREFIX}{key}'] = json.dumps(value) if key == 'annotators' else value
    group.attrs['labels'] = json.dumps(provenance(summary, taxonomy), sort_keys=True)


def subtask_names(summaries: Sequence[Summary]) -> list[str]:
    """Every subtask of the dataset: ``NO_SUBTASK`` first, then the phases as they come."""
    return list(dict.fromkeys([NO_SUBTASK] + [n for s in summaries for n in s['phase_names']]))


def subtask_index(phase_index: np.ndarray, phase_names: Sequence[str],
                  subtasks: list[str]) -> np.ndarray:
    """Per frame, the row of its phase in ``subtasks`` (``NO_SUBTASK`` outside phases)."""
    lookup = np.array([subtasks.index(NO_SUBTASK)] + [subtasks.index(n) for n in phase_names],
                      dtype=np.int64)
    return lookup[np.asarray(phase_index, dtype=np.int64) + 1]


def check_provenance(where: str, fields: dict[str, Any], taxonomy: str) -> list[str]:
    """Problems of one episode's flat provenance fields in a dataset under ``taxonomy``."""
    missing = [key for key in FIELDS if key not in fields]
    if missing:
        return [f'{where}: no labels provenance ({", ".join(missing)})']
    source = fields['source']
    if source not in _ORIGINS:
        return [f'{where}: labels source {source!r} is not one of {", ".join(_ORIGINS)}']
    problems = []
    from_set = source != LabelOrigin.BAG_EVENTS.value
    if from_set != bool(fields['annotator']) or from_set != (int(fields['revision']) >= 1):
        problems.append(f'{where}: labels from {source} with annotator '
                        f'{fields["annotator"]!r} and revision {fields["revision"]}')
    if bool(fields['adjudicated']) != (source == LabelOrigin.ADJUDICATED.value):
        problems.append(f'{where}: labels source {source} but adjudicated is '
                        f'{bool(fields["adjudicated"])}')
    if not fields['taxonomy']:
        problems.append(f'{where}: labels name no taxonomy')
    elif (fields['taxonomy'] != taxonomy) != bool(fields['taxonomy_mismatch']):
        problems.append(f'{where}: labels made under taxonomy {fields["taxonomy"]!r}, the '
                        f'dataset is under {taxonomy!r}, taxonomy_mismatch is '
                        f'{bool(fields["taxonomy_mismatch"])}')
    try:
        agreement = json.loads(fields['agreement'])
    except (TypeError, ValueError):
        agreement = 'not JSON'
    if agreement is not None and not isinstance(agreement, dict):
        problems.append(f'{where}: labels agreement is not a JSON object or null')
    return problems


def _labels_file(root: Path, episodes: list[dict[str, Any]]) -> list[str]:
    path = root / LABELS_FILE
    if not path.is_file():
        return [f'{LABELS_FILE}: missing']
    try:
        document = json.loads(path.read_text(encoding='utf-8'))
        listed = [e['source'] for e in document['episodes']]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        return [f'{LABELS_FILE}: not a labels summary ({err})']
    rows = [e.get(f'{LEROBOT_PREFIX}source') for e in episodes]
    if listed != rows:
        return [f'{LABELS_FILE}: sources {listed} disagree with meta/episodes {rows}']
    return []


def check_lerobot_labels(root: Path, info: dict[str, Any],
                         episodes: list[dict[str, Any]]) -> list[str]:
    """Every episode's provenance is there and consistent, and meta/labels.json agrees."""
    taxonomy = (info.get('humanoid_data') or {}).get('taxonomy') or ''
    problems = [] if taxonomy else ['meta/info.json: humanoid_data.taxonomy missing']
    for episode in episodes:
        fields = {k[len(LEROBOT_PREFIX):]: v for k, v in episode.items()
                  if k.startswith(LEROBOT_PREFIX)}
        problems += check_provenance(f'episode {episode["episode_index"]}', fields, taxonomy)
    return problems + _labels_file(root, episodes)


def read_subtasks(root: Path, info: dict[str, Any],
                  frames: np.ndarray | None) -> tuple[list[str], list[str] | None]:
    """Problems of meta/subtasks.parquet and the frames' ``subtask_index``; the subtasks."""
    import pyarrow.parquet as pq
    if 'subtask_index' not in info['features'] or frames is None:
        return ['data: no subtask_index feature'], None
    path = root / SUBTASKS_FILE
    if not path.is_file():
        return [f'{SUBTASKS_FILE}: missing'], None
    table = pq.read_table(path)
    if not {'subtask', 'subtask_index'} <= set(table.column_names):
        return [f'{SUBTASKS_FILE}: expected the columns subtask and subtask_index'], None
    subtasks = [str(s) for s in table['subtask'].to_pylist()]
    if table['subtask_index'].to_pylist() != list(range(len(subtasks))):
        return [f'{SUBTASKS_FILE}: subtask_index is not 0..{len(subtasks) - 1} in row order '
                '(lerobot looks a subtask up by row)'], None
    unknown = sorted(set(np.unique(frames).tolist()) - set(range(len(subtasks))))
    if unknown:
        return [f'data: subtask_index {unknown[0]} is not in {SUBTASKS_FILE}'], None
    return [], subtasks


def check_episode_subtasks(where: str, subtasks: list[str] | None, frames: np.ndarray,
                           phase_index: np.ndarray, phase_names: Sequence[str]) -> list[str]:
    """Each frame's subtask is its phase's name (``NO_SUBTASK`` outside every phase)."""
    if subtasks is None or not len(frames) or phase_index.min() < -1 \
            or phase_index.max() >= len(phase_names):    # reported elsewhere
        return []
    expected = np.array([NO_SUBTASK, *phase_names], dtype=object)[phase_index + 1]
    wrong = np.flatnonzero(np.array(subtasks, dtype=object)[frames] != expected)
    if not len(wrong):
        return []
    return [f'{where}: subtask_index disagrees with phase_index at {len(wrong)} frames '
            f'(first: frame {wrong[0]})']


def check_hdf5_labels(path: Path, data: Any) -> list[str]:
    """Every demo of ``data`` (the HDF5 group) has a consistent labels provenance."""
    try:
        taxonomy = str(json.loads(data.attrs.get('humanoid_data', '{}')).get('taxonomy') or '')
    except (ValueError, AttributeError):
        taxonomy = ''
    problems = [] if taxonomy else [f'{path}: data attrs humanoid_data name no taxonomy']
    for name, group in data.items():
        fields = {k[len(HDF5_PREFIX):]: v for k, v in group.attrs.items()
                  if k.startswith(HDF5_PREFIX)}
        problems += check_provenance(f'{path}: {name}', fields, taxonomy)
        try:
            whole = json.loads(group.attrs['labels'])
            same = whole['source'] == fields.get('source')
        except (KeyError, ValueError, TypeError):
            problems.append(f'{path}: {name}: no labels attr (JSON of the provenance)')
            continue
        if not same:
            problems.append(f'{path}: {name}: labels attr names another source than '
                            f'labels_source')
    return problems
