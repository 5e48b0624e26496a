"""Pack staged episodes into one HDF5 file in the robomimic layout (h5py).

::

    data/                      attrs: total, fps, robot, env_args (JSON), humanoid_data
                               (JSON: version, config digest, taxonomy)
      demo_0/                  attrs: num_samples, episode_id, session, source_id,
                               source_path, source_verified, task, instruction,
                               outcome, failure_mode, verdict, flags, labels_<field>
                               and labels (where the labels came from: labels_provenance)
        actions                (N, J) operator command
        obs/<name>             numeric keys (observation.state -> state, ...), and
                               images (N, H, W, 3) uint8 / depth (N, H, W) uint16,
                               chunked one frame per chunk, gzip
        labels/phase_index     (N,), labels/contact (N, channels), attrs: names
        stamps/<stream>        (N,) stamp used (ns, -1 missing), residual_ns, valid
        calibration/<name>     per camera (obs name, e.g. images_head): attrs status (ok
                               or none), reason, key, frame_id, width, height,
                               distortion_model, ...; datasets K (3, 3), D, R (3, 3),
                               P (3, 4) when known (pixels, ROS CameraInfo conventions);
                               extrinsics: the pose of the camera's frame in the base
                               frame, float64 (7,) fixed or (N, 7) moving [x y z qx qy
                               qz qw], (0, 7) when none; attrs frame, base_frame,
                               moving, status, reason (dataset/extrinsics.py)
        timestamps             (N,) seconds from the episode's first frame
    mask/train, mask/valid     demo names; every 10th kept episode is validation
    mask/ok, mask/flagged      quality tiers

Beside the file, ``dataset.hdf5.sha256.json`` holds its sha256 (``validate`` checks it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np

from humanoid_data import __version__
from humanoid_data.dataset import calibration, extrinsics
from humanoid_data.dataset.checksums import write_file_checksum
from humanoid_data.dataset.config import DatasetConfig
from humanoid_data.dataset.labels_provenance import dataset_taxonomy, write_hdf5_provenance
from humanoid_data.dataset.staging import IMAGES

FILE = 'dataset.hdf5'


def obs_name(key: str) -> str:
    """Dataset key to robomimic name: ``observation.images.head`` -> ``images_head``."""
    return key.removeprefix('observation.').replace('.', '_')


def write_hdf5(out: Path, staged: Sequence[tuple[Path, dict[str, Any]]],
               config: DatasetConfig) -> Path:
    """Write ``out/dataset.hdf5`` and its checksum from staged episodes (in order)."""
    kept = [(p, s) for p, s in staged if s['verdict'] != 'rejected']
    out.mkdir(parents=True, exist_ok=True)
    path = out / FILE
    tmp = path.with_suffix('.tmp')
    names: list[str] = []
    taxonomy = dataset_taxonomy([s for _, s in kept])
    with h5py.File(tmp, 'w') as h5:
        data = h5.create_group('data')
        for number, (stage, summary) in enumerate(kept):
            name = f'demo_{number}'
            names.append(name)
            _write_demo(data.create_group(name), stage, summary, config)
            write_hdf5_provenance(data[name], summary, taxonomy)
        data.attrs['total'] = int(sum(int(s['frames']) for _, s in kept))
        data.attrs['fps'] = config.fps
        data.attrs['robot'] = kept[0][1]['robot'] if kept else ''
        data.attrs['env_args'] = json.dumps({'env_name': 'humanoid_data', 'type': 'ros2',
                                             'env_kwargs': {}})
        data.attrs['humanoid_data'] = json.dumps({'version': __version__,
                                                  'config_digest': config.digest,
                                                  'taxonomy': taxonomy})
        mask = h5.create_group('mask')
        valid = names[9::10]
        train = [n for n in names if n not in valid]
        tiers = {'ok': [n for n, (_, s) in zip(names, kept) if s['verdict'] == 'ok'],
                 'flagged': [n for n, (_, s) in zip(names, kept) if s['verdict'] == 'flagged']}
        for key, members in (('train', train), ('valid', valid), *tiers.items()):
            mask.create_dataset(key, data=np.array(members, dtype='S'))
    tmp.replace(path)
    write_file_checksum(path)
    return path


def _write_demo(group: h5py.Group, stage: Path, summary: dict[str, Any],
                config: DatasetConfig) -> None:
    frames = np.load(stage / 'frames.npz')
    n = int(summary['frames'])
    group.attrs['num_samples'] = n
    for key in ('episode_id', 'session', 'source_id', 'source_path', 'source_verified',
                'task', 'instruction', 'verdict'):
        group.attrs[key] = summary[key] or ''
    group.attrs['outcome'] = summary['outcome'] or ''
    group.attrs['failure_mode'] = summary['failure_mode'] or ''
    group.attrs['flags'] = json.dumps(summary['flags'])
    obs = group.create_group('obs')
    for name in frames.files:
        if not name.startswith('col:'):
            continue
        key = name[4:]
        if key.startswith(extrinsics.FEATURE_PREFIX):    # float64, under calibration/
            continue
        target = group if key == 'action' else obs
        dataset = target.create_dataset('actions' if key == 'action' else obs_name(key),
                                        data=frames[name], compression='gzip')
        dataset.attrs['names'] = json.dumps(summary['names'].get(key, []))
    if summary['images']:
        with h5py.File(stage / IMAGES, 'r') as images:
            for key in summary['images']:
                images.copy(images[key], obs, name=obs_name(key))   # chunk by chunk
    labels = group.create_group('labels')
    labels.create_dataset('phase_index', data=frames['phase_index'])
    labels['phase_index'].attrs['names'] = json.dumps(summary['phase_names'])
    labels.create_dataset('contact', data=frames['contact'])
    labels['contact'].attrs['names'] = json.dumps(summary['channels'])
    labels.attrs['segments'] = (stage / 'labels.json').read_text()
    stamps = np.load(stage / 'stamps.npz')
    stamp_group = group.create_group('stamps')
    for name in stamps.files:
        if not name.endswith(f'.{extrinsics.STAMPS_NAME}'):
            stamp_group.create_dataset(name, data=stamps[name], compression='gzip')
    group.create_dataset('timestamps', data=np.arange(n) / config.fps)
    calibration.write_hdf5(group, summary['calibration'], obs_name)
    for key, record in summary['calibration'].items():
        pose = record.get('extrinsics')
        if pose is not None:
            moving = f'{record["stream"]}.{extrinsics.STAMPS_NAME}'
            extrinsics.write_hdf5(group[calibration.GROUP][obs_name(key)], pose,
                                  stamps[moving] if moving in stamps.files else None)
