"""Labels given for bags that carry none: ``convert --task/--instruction/--outcome``, ``--labels``.

A bag from another recorder has no ``episode.yaml`` and usually no episode events, so
nothing in it names the task. The person converting it can: on the command line (the
same labels for every such episode of the run) or in a file that maps each bag to its
own labels, as YAML::

    run_001: {task: pick_cube, instruction: put the cube in the bowl, outcome: success}
    day2/run_002.mcap: {task: pick_cube, outcome: failure}

or as CSV with a header row ``bag,task,instruction,outcome``. A bag is named by its path
relative to the source argument it was found under, by that path's last part, or by its
name without the suffix. A file's entry wins over the flags, which fill in what the
entry leaves out. An episode's own labels win over both: given labels only fill in what
``episode.yaml`` or the bag's episode events leave empty, and an episode that neither
the file nor the flags name keeps no task (flagged ``no_task_label``), never another
episode's text.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from humanoid_data.bag.metadata import EpisodeMeta
from humanoid_data.core.events import Outcome
from humanoid_data.core.yaml_file import read_yaml
from humanoid_data.errors import ConfigError

LABEL_KEYS = ('task', 'instruction', 'outcome')
MAX_LABEL_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class GivenLabels:
    """Labels for an episode whose bag names none, and where they were given."""

    task: str = ''
    instruction: str = ''
    outcome: str = ''
    origin: str = 'the command line'

    def __post_init__(self) -> None:
        """Check the outcome is one the dataset knows."""
        allowed = [o.value for o in Outcome]
        if self.outcome and self.outcome not in allowed:
            raise ConfigError(f'{self.origin}: outcome {self.outcome!r} is not one of: '
                              f'{", ".join(allowed)}')

    def __bool__(self) -> bool:
        """Whether any label is given."""
        return any(getattr(self, key) for key in LABEL_KEYS)

    def fill(self, meta: EpisodeMeta) -> tuple[EpisodeMeta, list[str]]:
        """``meta`` with the labels it leaves empty filled in; a note per filled label."""
        filled = {key: getattr(self, key) for key in LABEL_KEYS
                  if getattr(self, key) and not getattr(meta, key)}
        notes = [f'{key} from {self.origin}' for key in filled]
        return replace(meta, **filled), notes

    def to_json(self) -> str:
        """The labels as a JSON string ('' when none is given): a worker argument."""
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)},
                          sort_keys=True) if self else ''

    @classmethod
    def from_json(cls, text: str) -> GivenLabels | None:
        """The labels ``to_json`` wrote (None for '')."""
        return cls(**json.loads(text)) if text else None


def _entry(raw: object, where: str, origin: str) -> GivenLabels:
    if not isinstance(raw, Mapping):
        raise ConfigError(f'{where}: expected a mapping of {", ".join(LABEL_KEYS)}, got '
                          f'{type(raw).__name__}')
    unknown = sorted(set(map(str, raw)) - set(LABEL_KEYS))
    if unknown:
        raise ConfigError(f'{where}: unknown key {unknown[0]!r}; expected '
                          f'{", ".join(LABEL_KEYS)}')
    values = {}
    for key in LABEL_KEYS:
        value = raw.get(key, '')
        if value is None:
            value = ''
        if not isinstance(value, str):
            raise ConfigError(f'{where}.{key}: expected text, got {value!r}')
        values[key] = value.strip()
    return GivenLabels(**values, origin=origin)


def load_label_map(path: Path) -> dict[str, GivenLabels]:
    """Read a YAML or CSV file mapping bags to their labels (module docstring).

    Raises:
        ConfigError: Unreadable, not YAML/CSV of that shape, an unknown key, an outcome
            not in success/failure/aborted, or a bag named twice (naming the file and row).

    """
    path = Path(path)
    origin = f'labels file {path.name}'
    if path.suffix.lower() == '.csv':
        return _csv_map(path, origin)
    data = read_yaml(path, 'labels file')
    if not isinstance(data, Mapping):
        raise ConfigError(f'{path}: expected a mapping of bag name to labels')
    return {str(bag): _entry(raw, f'{path}: {bag}', origin) for bag, raw in data.items()}


def _csv_map(path: Path, origin: str) -> dict[str, GivenLabels]:
    try:
        if path.stat().st_size > MAX_LABEL_FILE_BYTES:
            raise ConfigError(f'{path}: larger than {MAX_LABEL_FILE_BYTES >> 20} MiB')
        with path.open(newline='', encoding='utf-8') as f:
            rows = list(csv.DictReader(f))
            header = list(rows[0]) if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ConfigError(f'{path}: cannot read the labels file: {err}') from err
    if 'bag' not in header:
        raise ConfigError(f'{path}: the first row must name the columns: bag,'
                          f'{",".join(LABEL_KEYS)} (got {",".join(header) or "nothing"})')
    result: dict[str, GivenLabels] = {}
    for number, row in enumerate(rows, start=2):
        bag = (row.pop('bag') or '').strip()
        where = f'{path}: row {number}'
        if not bag:
            raise ConfigError(f'{where}: no bag named')
        if bag in result:
            raise ConfigError(f'{where}: bag {bag!r} is named twice')
        result[bag] = _entry({k: v for k, v in row.items() if k is not None}, where, origin)
    return result


def names_of(path: str, folder: Path) -> list[str]:
    """The names a labels file may use for a bag (module docstring), most specific first."""
    names = [path, Path(path).name, folder.name, folder.stem]
    return list(dict.fromkeys(n for n in names if n and n != '.'))


def labels_for(path: str, folder: Path, mapping: Mapping[str, GivenLabels],
               default: GivenLabels | None) -> GivenLabels | None:
    """The labels given for one bag: its entry in ``mapping``, the rest from ``default``."""
    entry = next((mapping[n] for n in names_of(path, folder) if n in mapping), None)
    if entry is None or not default:
        return entry or default or None
    taken = [key for key in LABEL_KEYS if not getattr(entry, key) and getattr(default, key)]
    if not taken:
        return entry
    return replace(entry, **{key: getattr(default, key) for key in taken},
                   origin=f'{entry.origin} and {default.origin}')


def unmatched(mapping: Mapping[str, Any], bags: Iterable[tuple[str, Path]]) -> list[str]:
    """Names in a labels file that match no bag of the run (a typo, or a missing bag)."""
    known = {name for path, folder in bags for name in names_of(path, folder)}
    return sorted(name for name in mapping if name not in known)
