"""Pack staged episodes into one HDF5 file in the robomimic layout (h5py).

::

    data/                      attrs: total, fps, robot, env_args (JSON: env_name, type,
                               env_kwargs; no simulator behind it), humanoid_data
                               (JSON: version, config digest, taxonomy)
      demo_0/                  attrs: num_samples, episode_id, session, source_id,
                               source_path, source_verified, task, instruction,
                               outcome, failure_mode, verdict, flags, labels_<field>
                               and labels (where the labels came from: labels_provenance)
        actions                (N, J) operator command
        rewards                (N,) float32, sparse: 1 at the last step of an episode whose
                               outcome is success, 0 everywhere else
        dones                  (N,) uint8, 1 at the last step
        states                 the flat robot state: the same dataset as obs/state
                               (a hard link, no bytes of its own), where there is one
        obs/<name>             numeric keys (observation.state -> state, ...), and
                               images (N, H, W, 3) uint8 / depth (N, H, W) uint16,
                               chunked one frame per chunk, gzip
        next_obs/<name>        every obs key shifted by one frame, the last repeated:
                               virtual datasets over obs/<name> of this file (``.``),
                               so no frame is stored twice (``link_next_obs``)
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

Numeric datasets are stored with gzip and the byte shuffle filter. A virtual dataset names
its source by path inside the file: a copy of the whole file, or of ``data`` or a demo
group to the same path of another file, reads the same frames; a demo copied under another
name must have its ``next_obs`` made again with ``link_next_obs`` (``validate`` says so).

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
#: ``env_args``' type: none of robomimic's EnvType values (1 robosuite, 2 gym, 3 iGibson
#: MOMART), since no simulator stands behind a recording; robomimic creates an environment
#: from it only for rollouts, which a run on this data turns off.
ENV_TYPE = 0
#: Numeric datasets: gzip after the byte shuffle (float and int columns pack far better).
NUMERIC = {'compression': 'gzip', 'shuffle': True}


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
        data.attrs['env_args'] = json.dumps({'env_name': 'humanoid_data', 'type': ENV_TYPE,
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
                                        data=frames[name], **NUMERIC)
        dataset.attrs['names'] = json.dumps(summary['names'].get(key, []))
    if summary['images']:
        with h5py.File(stage / IMAGES, 'r') as images:
            for key in summary['images']:
                images.copy(images[key], obs, name=obs_name(key))   # chunk by chunk
    link_next_obs(group)
    if 'state' in obs:
        group['states'] = obs['state']              # a hard link: the same dataset
    group.create_dataset('rewards', data=rewards(n, summary['outcome']))
    group.create_dataset('dones', data=dones(n))
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
            stamp_group.create_dataset(name, data=stamps[name], **NUMERIC)
    group.create_dataset('timestamps', data=np.arange(n) / config.fps)
    calibration.write_hdf5(group, summary['calibration'], obs_name)
    for key, record in summary['calibration'].items():
        pose = record.get('extrinsics')
        if pose is not None:
            moving = f'{record["stream"]}.{extrinsics.STAMPS_NAME}'
            extrinsics.write_hdf5(group[calibration.GROUP][obs_name(key)], pose,
                                  stamps[moving] if moving in stamps.files else None)


def rewards(n: int, outcome: str | None) -> np.ndarray:
    """Sparse rewards of an ``n``-step episode: 1 at the last step of a success, else 0."""
    reward = np.zeros(n, dtype=np.float32)
    if n and outcome == 'success':
        reward[-1] = 1.0
    return reward


def dones(n: int) -> np.ndarray:
    """Done flags of an ``n``-step episode: 1 at the last step."""
    done = np.zeros(n, dtype=np.uint8)
    if n:
        done[-1] = 1
    return done


def link_next_obs(demo: h5py.Group) -> None:
    """Make ``demo/next_obs`` anew: each ``obs`` key shifted by one frame, the last repeated.

    Each key is a virtual dataset over ``obs/<key>`` of the same file (the source file
    ``.``), so the frames are stored once and the file can be moved or copied whole. Its
    mappings name the source by its path: after copying a demo group under another name,
    call this on the copy so its ``next_obs`` reads its own ``obs``.

    Args:
        demo: a demo group holding ``obs/``; its ``next_obs/`` is replaced.
    """
    if 'next_obs' in demo:
        del demo['next_obs']
    next_obs = demo.create_group('next_obs')
    for key, source in demo['obs'].items():
        n = len(source)
        if not n:
            target = next_obs.create_dataset(key, shape=source.shape, dtype=source.dtype)
        else:
            layout = h5py.VirtualLayout(shape=source.shape, dtype=source.dtype)
            frames = h5py.VirtualSource('.', source.name, shape=source.shape,
                                        dtype=source.dtype)
            if n > 1:
                layout[:n - 1] = frames[1:]
            layout[n - 1] = frames[n - 1]
            target = next_obs.create_virtual_dataset(key, layout)
        target.attrs.update(source.attrs)
