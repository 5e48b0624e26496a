"""Merge datasets converted separately (shards) into one, as if converted at once.

``merge(datasets, out)`` takes LeRobot v3 folders (``merge_lerobot``) or HDF5 files
(``merge_hdf5``), all of one format, and writes the dataset a single conversion of all
their episodes would write, in the order the datasets are given: episodes, frames, tasks,
subtasks, demos and files numbered again, videos joined without re-encoding, statistics
aggregated, sidecars and reports combined, checksums written anew.

Refused, with the two datasets and the field named: inputs converted with other settings
(fps, features and their shapes, codec, robot, codebase version, humanoid_data version,
taxonomy, dataset config digest), an episode present in two inputs (the same
``source_id``: a shard given twice), an input whose files fail its checksums, and an
``out`` that exists and is not empty. The result is written beside ``out`` under a hidden
name and renamed into place when complete, so a failed merge leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from humanoid_data.errors import ConfigError

HDF5_FILE = 'dataset.hdf5'
HDF5_SUFFIXES = ('.hdf5', '.h5')


@dataclass
class MergeResult:
    """What a merge wrote: its format and path, and its totals."""

    fmt: str
    output: Path
    datasets: int
    episodes: int
    frames: int
    tasks: int
    video_bytes: int = 0          # LeRobot: bytes of the joined video files
    video_seconds: float = 0.0    # LeRobot: of splitting and joining them
    seconds: float = 0.0


def dataset_format(path: Path) -> tuple[str, Path]:
    """('lerobot', folder) or ('hdf5', file) of a dataset, as ``validate`` reads it.

    Raises:
        ConfigError: ``path`` is neither a LeRobot folder nor an HDF5 file or folder.

    """
    if (path / 'meta' / 'info.json').is_file():
        return 'lerobot', path
    target = path / HDF5_FILE if path.is_dir() else path
    if target.is_file() and target.suffix in HDF5_SUFFIXES:
        return 'hdf5', target
    raise ConfigError(f'{path}: neither a LeRobot dataset (meta/info.json) nor an HDF5 file '
                      f'(or a folder holding {HDF5_FILE})')


def refuse_difference(field: str, a: Path, value_a: Any, b: Path, value_b: Any) -> None:
    """Raise a ConfigError naming both datasets when ``value_a`` and ``value_b`` differ.

    Nested dicts and lists are compared item by item, so the message names the first
    field that differs (``features.observation.state.shape``).
    """
    where = _first_difference(field, value_a, value_b)
    if where is not None:
        name, left, right = where
        raise ConfigError(f'{a} and {b} cannot be merged: {name} differs ({left!r} in {a}, '
                          f'{right!r} in {b}); they were converted with other settings')


def _first_difference(field: str, a: Any, b: Any) -> tuple[str, Any, Any] | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f'{field}.{key}', a.get(key, '<absent>'), b.get(key, '<absent>')
            found = _first_difference(f'{field}.{key}', a[key], b[key])
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for item_a, item_b in zip(a, b):
            if _first_difference(field, item_a, item_b):
                return field, a, b
        return None
    return None if a == b else (field, a, b)


def refuse_duplicates(episodes: Iterable[tuple[int, Path, str, str]]) -> None:
    """Refuse an episode (``source_id``) found in two inputs: a shard merged twice.

    ``episodes`` are (input number, dataset, source_id, name shown) in merge order; two
    episodes of one input may share a source id (copies of a bag converted together).
    """
    first: dict[str, tuple[int, Path, str]] = {}
    for number, dataset, source_id, name in episodes:
        seen = first.setdefault(source_id, (number, dataset, name))
        if seen[0] != number:
            where = f'twice in {dataset}' if seen[1] == dataset else \
                f'in {seen[1]} and in {dataset}'
            raise ConfigError(
                f'episode {name} (source_id {source_id}) is {where}: the same episode '
                'cannot be merged twice (is a shard given twice?)')


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f'{out}: exists and is not empty; merge writes a new dataset '
                          '(give a new or empty folder)')


def build_in_place(out: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(folder)`` on a hidden folder beside ``out``, then make it ``out``."""
    _check_out(out)
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.with_name(f'.{out.name}.merging-{os.getpid()}')
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        write(work)
        if out.exists():
            out.rmdir()             # empty (checked above)
        work.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def merge(datasets: Sequence[str | Path], out: Path) -> MergeResult:
    """Merge ``datasets`` (in this order) into a new dataset at ``out``.

    LeRobot inputs make the folder ``out``; HDF5 inputs make ``out/dataset.hdf5`` (or the
    file ``out`` itself when it ends in ``.hdf5`` or ``.h5``) with its checksum sidecar.

    Raises:
        ConfigError: Fewer than two datasets, inputs of two formats or converted with
            other settings, an episode in two inputs, or ``out`` not new or empty.
        HumanoidDataError: An input's files fail its checksums or cannot be read.

    """
    start = time.perf_counter()
    paths = [Path(d) for d in datasets]
    if len(paths) < 2:
        raise ConfigError('merge needs at least two datasets')
    for path in paths:
        if not path.exists():
            raise ConfigError(f'{path}: no such file or folder')
    found = [dataset_format(p) for p in paths]
    formats = {fmt for fmt, _ in found}
    if len(formats) > 1:
        (fa, a), (fb, b) = found[0], next(f for f in found if f[0] != found[0][0])
        raise ConfigError(f'{a} and {b} cannot be merged: format differs ({fa} in {a}, '
                          f'{fb} in {b})')
    fmt = found[0][0]
    if fmt == 'lerobot':
        from humanoid_data.dataset.merge_lerobot import merge_lerobot
        result = merge_lerobot([p for _, p in found], out)
    else:
        from humanoid_data.dataset.merge_hdf5 import merge_hdf5
        result = merge_hdf5([p for _, p in found], out)
    result.seconds = time.perf_counter() - start
    return result
