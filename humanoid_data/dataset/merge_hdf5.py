"""HDF5 files (robomimic layout) merged into the file a single conversion of their demos writes.

Each input's demos, in number order, are copied whole (h5py ``copy``: the stored chunks
as they are, attrs, the ``states`` hard link) as ``demo_0``, ``demo_1``, ... of the new
file; each copy's ``next_obs`` is made again over its own ``obs`` (``link_next_obs``: a
copied virtual dataset would still read the demo of its old name). ``data``'s attrs are
the inputs' (``total`` summed); ``mask/train``, ``mask/valid``, ``mask/ok`` and
``mask/flagged`` are made by the converter's rule over the merged demos (every tenth is
validation), any other filter key is carried over with its demos renamed. The checksum
sidecar is written anew.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from humanoid_data.dataset.checksums import check_file_checksum, write_file_checksum
from humanoid_data.dataset.extrinsics import WRENCH_PREFIX
from humanoid_data.dataset.hdf5 import FILE, link_next_obs, obs_name
from humanoid_data.dataset.merge import (
    HDF5_SUFFIXES, MergeResult, build_in_place, refuse_difference, refuse_duplicates)
from humanoid_data.errors import ConfigError, HumanoidDataError

SAME_ATTRS = ('fps', 'robot', 'env_args')
SAME_HUMANOID_DATA = ('version', 'taxonomy', 'config_digest')
CONVERTER_MASKS = ('train', 'valid', 'ok', 'flagged')
#: obs keys a demo may lack: a wrench whose frame could not be looked up.
OPTIONAL = (obs_name(WRENCH_PREFIX),)


def _demos(data: Any) -> list[str]:
    """Demo names in number order (``demo_10`` after ``demo_9``)."""
    def number(name: str) -> tuple[int, str]:
        tail = name.rsplit('_', 1)[-1]
        return (int(tail), name) if tail.isdigit() else (1 << 62, name)
    return sorted(data, key=number)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _describe(path: Path) -> dict[str, Any]:
    """What must agree between inputs, and the demos' source ids, of one file."""
    try:
        with h5py.File(path, 'r') as h5:
            data = h5['data']
            attrs = {key: _plain(data.attrs.get(key)) for key in SAME_ATTRS}
            tool = json.loads(data.attrs.get('humanoid_data', '{}'))
            shapes: dict[str, Any] = {}
            episodes = []
            for name in _demos(data):
                demo = data[name]
                for key, dataset in [('actions', demo['actions'])] + [
                        (f'obs/{k}', v) for k, v in demo['obs'].items()]:
                    shapes.setdefault(key, [list(dataset.shape[1:]), str(dataset.dtype)])
                episodes.append((str(demo.attrs['source_id']),
                                 f'{demo.attrs["session"]}/{demo.attrs["episode_id"]}'))
            return {'attrs': attrs, 'humanoid_data': tool, 'features': shapes,
                    'episodes': episodes}
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as err:
        raise HumanoidDataError(f'{path}: not a readable HDF5 dataset of humanoid_data '
                                f'({type(err).__name__}: {err}); humanoid-data validate '
                                'says more') from err


def _check_compatible(files: list[Path], described: list[dict[str, Any]]) -> None:
    a, first = files[0], described[0]
    for b, other in zip(files[1:], described[1:]):
        for key in SAME_ATTRS:
            refuse_difference(f'data.attrs.{key}', a, first['attrs'][key], b,
                              other['attrs'][key])
        fa, fb = first['features'], other['features']
        skip = tuple(f'obs/{prefix}' for prefix in OPTIONAL)
        refuse_difference('features', a, {k: v for k, v in fa.items()
                                          if k in fb or not k.startswith(skip)},
                          b, {k: v for k, v in fb.items()
                              if k in fa or not k.startswith(skip)})
        for key in SAME_HUMANOID_DATA:
            refuse_difference(f'data.attrs.humanoid_data.{key}', a,
                              first['humanoid_data'].get(key), b,
                              other['humanoid_data'].get(key))


def merge_hdf5(files: list[Path], out: Path) -> MergeResult:
    """Merge HDF5 datasets ``files`` (in this order) into ``out``.

    ``out`` is a new folder that gets ``dataset.hdf5``, or a new ``.hdf5``/``.h5`` file;
    either way with its checksum sidecar beside it.
    """
    described = [_describe(path) for path in files]
    _check_compatible(files, described)
    refuse_duplicates((number, path, source_id, name)
                      for number, (path, d) in enumerate(zip(files, described))
                      for source_id, name in d['episodes'])
    for path in files:
        problems = check_file_checksum(path)
        if problems:
            raise HumanoidDataError(f'{path}: its bytes do not match its checksum '
                                    f'({problems[0]})')
    result = MergeResult('hdf5', out, len(files), 0, 0, 0)
    if out.suffix in HDF5_SUFFIXES:
        if out.exists():
            raise ConfigError(f'{out}: exists; merge writes a new dataset file')
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f'.{out.name}.merging-{os.getpid()}')
        try:
            _write(files, tmp, result)
            tmp.replace(out)
        finally:
            tmp.unlink(missing_ok=True)
        write_file_checksum(out)
        return result

    def write(work: Path) -> None:
        _write(files, work / FILE, result)
        write_file_checksum(work / FILE)
    build_in_place(out, write)
    result.output = out / FILE
    return result


def _write(files: list[Path], target: Path, result: MergeResult) -> None:
    names: list[str] = []
    verdicts: list[str] = []
    extra: dict[str, list[str]] = {}     # filter keys the converter does not make
    tasks: dict[str, None] = {}
    with h5py.File(target, 'w') as h5:
        data = h5.create_group('data')
        for number, path in enumerate(files):
            with h5py.File(path, 'r') as source:
                renamed: dict[str, str] = {}
                for old in _demos(source['data']):
                    name = f'demo_{len(names)}'
                    source.copy(source['data'][old], data, name=name)
                    link_next_obs(data[name])
                    renamed[old] = name
                    names.append(name)
                    verdicts.append(str(data[name].attrs.get('verdict', '')))
                    tasks.setdefault(str(data[name].attrs.get('instruction', '')))
                for key in source['mask']:
                    if key not in CONVERTER_MASKS:
                        extra.setdefault(key, []).extend(
                            renamed[m.decode()] for m in source['mask'][key][()]
                            if m.decode() in renamed)
                if number == 0:
                    for key, value in source['data'].attrs.items():
                        data.attrs[key] = value
        data.attrs['total'] = int(sum(int(data[n].attrs['num_samples']) for n in names))
        mask = h5.create_group('mask')
        valid = names[9::10]            # hdf5.write_hdf5's rule
        train = [n for n in names if n not in valid]
        tiers = {tier: [n for n, v in zip(names, verdicts) if v == tier]
                 for tier in ('ok', 'flagged')}
        for key, members in (('train', train), ('valid', valid), *tiers.items(),
                             *extra.items()):
            mask.create_dataset(key, data=np.array(members, dtype='S'))
        result.episodes, result.frames = len(names), int(data.attrs['total'])
    result.tasks = len(tasks)
