"""Each camera's intrinsics per episode, from the CameraInfo stream paired with it.

Pairing (by the suite, never by guessing values): an image stream (``rgb`` or ``depth``)
takes the ``camera_info`` stream

1. in the same topic namespace (ROS image_transport's convention:
   ``/camera/head/image_raw`` goes with ``/camera/head/camera_info``, and so does its
   transport sub-topic ``/camera/head/image_raw/compressed``), else
2. named ``<camera>_camera_info``, ``<camera>`` being the image stream's name without
   its last ``_`` part (``head_rgb`` and ``head_depth`` go with ``head_camera_info``).

With neither, or without a usable CameraInfo message in the episode, the camera's record
says ``none`` and why; the episode still converts. The CameraInfo messages used are those
stamped inside the episode's window; the first is kept. When later ones differ, the
episode is flagged ``intrinsics_changed``. With none inside the window, the last one
before it (a latched CameraInfo received in the pre-roll) is used, and a note says so.

A record (``calibration.json`` in the LeRobot sidecars, ``calibration/<camera>`` in each
HDF5 demo) follows ROS CameraInfo: pixels, ``K`` (3x3, row-major), ``D`` (the
coefficients of ``distortion_model``), ``R`` (3x3) and ``P`` (3x4, null when all zero).
"""

from __future__ import annotations

import json
import math
import posixpath
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from humanoid_data.bag.decode import CameraModel
from humanoid_data.core.config import Modality, StreamConfig, SuiteConfig

if TYPE_CHECKING:
    from humanoid_data.bag.episode_reader import EpisodeReader
    from humanoid_data.dataset.episode import EpisodeData

SCHEMA = 'humanoid_data.calibration/1'
FILE = 'calibration.json'           # LeRobot: humanoid_data/episode_NNNNNN/calibration.json
GROUP = 'calibration'               # HDF5: data/demo_N/calibration/<obs name>/
CHANGED_FLAG = 'intrinsics_changed'
CAMERAS = (Modality.RGB, Modality.DEPTH)
#: image_transport sub-topics of an image topic.
TRANSPORTS = ('compressed', 'compressedDepth', 'theora', 'zstd')
OK, NONE = 'ok', 'none'


def paired_info(suite: SuiteConfig, image: StreamConfig) -> StreamConfig | None:
    """The camera_info stream of the suite paired with ``image`` (module docstring)."""
    infos = [s for s in suite.streams if s.modality == Modality.CAMERA_INFO]
    topic = image.topic
    # image_transport publishes /ns/image_raw/compressed beside /ns/camera_info.
    for transport in TRANSPORTS:
        if topic.endswith(f'/{transport}'):
            topic = topic[:-len(transport) - 1]
    namespace = posixpath.dirname(topic)
    for info in infos:
        if posixpath.dirname(info.topic) == namespace:
            return info
    camera = image.name.rsplit('_', 1)[0]
    for info in infos:
        if info.name == f'{camera}_camera_info':
            return info
    return None


def _none(key: str, stream: str, info: StreamConfig | None, reason: str) -> dict[str, Any]:
    return {'key': key, 'stream': stream, 'status': NONE, 'reason': reason,
            'camera_info_stream': info.name if info else None,
            'topic': info.topic if info else None}


def _same(a: CameraModel, b: CameraModel) -> bool:
    def equal(x: np.ndarray | None, y: np.ndarray | None) -> bool:
        if x is None or y is None:
            return x is None and y is None
        return x.shape == y.shape and bool(np.array_equal(x, y))
    same_size = (a.width, a.height) == (b.width, b.height)
    return same_size and a.distortion_model == b.distortion_model and equal(a.k, b.k) and \
        equal(a.distortion, b.distortion) and equal(a.p, b.p) and equal(a.r, b.r)


def record_of(key: str, stream: str, info: StreamConfig, model: CameraModel,
              width: int, height: int) -> dict[str, Any]:
    """The record of one camera from the CameraInfo kept (``none`` when it is unusable).

    A K whose fx is zero is ROS's "uncalibrated" (image_geometry reads it so); a
    CameraInfo of another size than the images describes another image. Neither is
    written as intrinsics.
    """
    if model.k[0, 0] == 0:
        return _none(key, stream, info, f'{info.topic}: uncalibrated camera (K[0] = fx is 0)')
    if (model.width, model.height) != (width, height):
        return _none(key, stream, info, f'{info.topic}: CameraInfo is {model.width}x'
                     f'{model.height}, the images {width}x{height}')
    p = model.p if model.p is not None and np.any(model.p) else None
    return {'key': key, 'stream': stream, 'status': OK, 'camera_info_stream': info.name,
            'topic': info.topic, 'frame_id': model.frame_id, 'header_ns': model.header_ns,
            'units': 'pixels', 'width': model.width, 'height': model.height,
            'K': model.k.tolist(), 'distortion_model': model.distortion_model,
            'D': model.distortion.tolist(),
            'R': model.r.tolist() if model.r is not None else None,
            'P': p.tolist() if p is not None else None}


def _window_indices(header: np.ndarray, start_ns: int, stop_ns: int) -> tuple[list[int], bool]:
    """Bag indices of the samples stamped in [start, stop]; else the last one before it."""
    inside = np.flatnonzero((header >= start_ns) & (header <= stop_ns))
    if len(inside):
        return inside.tolist(), False
    before = np.flatnonzero(header < start_ns)
    if len(before):
        return [int(before[np.argmax(header[before])])], True
    return [], False


def episode_intrinsics(data: EpisodeData) -> dict[str, dict[str, Any]]:
    """Per camera key of the episode (``EpisodeData``), its intrinsics record.

    Adds the ``intrinsics_changed`` flag and notes to ``data``. Reads the paired
    CameraInfo messages from the bag (after pass 1: their stamps are known).

    Raises:
        BagError: The bag cannot be read, naming it and the topic.

    """
    records: dict[str, dict[str, Any]] = {}
    reader = data.reader
    suite: SuiteConfig = reader.suite
    streams = {s.name: s for s in suite.streams}
    start_ns, stop_ns = data.window_ns
    for plan in data.frames:
        if plan.modality not in CAMERAS:
            continue
        info = paired_info(suite, streams[plan.stream])
        if info is None:
            records[plan.key] = _none(plan.key, plan.stream, None,
                                      f'the suite has no camera_info stream for '
                                      f'{plan.stream}')
            continue
        entry = reader.samples.get(info.topic)
        header = entry.arrays()[0] if entry is not None else np.empty(0, np.int64)
        wanted, before = _window_indices(header, start_ns, stop_ns)
        if not wanted:
            records[plan.key] = _none(plan.key, plan.stream, info,
                                      f'{info.topic}: no CameraInfo message in the bag')
            continue
        models = _models(reader, info.topic, wanted)
        first = models[0]
        record = record_of(plan.key, plan.stream, info, first, plan.width, plan.height)
        changed = sum(not _same(first, m) for m in models[1:])
        record['samples'] = len(models)
        record['changed'] = bool(changed)
        if before:
            data.notes.append(f'{info.topic}: no CameraInfo inside the episode; the last '
                              'one before its start is used')
        if changed:
            data.quality.flags.append(
                f'{CHANGED_FLAG}: {info.topic} changed within the episode ({changed} of '
                f'{len(models)} CameraInfo messages differ from the first, which is kept '
                f'for {plan.key})')
        if record['status'] == NONE:
            data.notes.append(f'{plan.key}: no intrinsics: {record["reason"]}')
        records[plan.key] = record
    return records


def _models(reader: EpisodeReader, topic: str, wanted: list[int]) -> list[CameraModel]:
    """The CameraInfo messages at bag-order ``wanted``, in stamp order."""
    found: dict[int, CameraModel] = {}
    for index, value in reader.read(topic, set(wanted)):
        if isinstance(value, CameraModel):
            found[index] = value
    return sorted((found[i] for i in wanted if i in found), key=lambda m: m.header_ns)


def document(records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The LeRobot sidecar ``calibration.json`` of one episode."""
    return {'schema': SCHEMA, 'units': 'pixels', 'cameras': records}


def write_hdf5(group: Any, records: dict[str, dict[str, Any]],
               name_of: Any) -> None:
    """Write ``calibration/<obs name>/`` under a demo group (h5py): attrs and K, D, R, P."""
    calibration = group.create_group(GROUP)
    calibration.attrs['schema'] = SCHEMA
    for key, record in records.items():
        camera = calibration.create_group(name_of(key))
        for name in ('key', 'stream', 'status', 'reason', 'camera_info_stream', 'topic',
                     'frame_id', 'distortion_model', 'units'):
            if record.get(name) is not None:
                camera.attrs[name] = record[name]
        for name in ('width', 'height', 'header_ns', 'samples'):
            if record.get(name) is not None:
                camera.attrs[name] = int(record[name])
        if 'changed' in record:
            camera.attrs['changed'] = bool(record['changed'])
        for name in ('K', 'D', 'R', 'P'):
            if record.get(name) is not None:
                camera.create_dataset(name, data=np.asarray(record[name], dtype=np.float64))


def _finite_matrix(value: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if array.shape != shape or not np.all(np.isfinite(array)):
        return None
    return array


def check_record(where: str, key: str, record: Any, width: int | None,
                 height: int | None) -> list[str]:
    """Problems of one camera's record; ``width``/``height`` are the images' frame size."""
    name = f'{where}: {key}'
    if not isinstance(record, dict):
        return [f'{name}: not a record']
    status = record.get('status')
    if status == NONE:
        return [] if record.get('reason') else [f'{name}: status none without a reason']
    if status != OK:
        return [f'{name}: status {status!r}, expected ok or none']
    problems = []
    k = _finite_matrix(record.get('K'), (3, 3))
    if k is None:
        problems.append(f'{name}: K is not a finite 3x3 matrix ({_short(record.get("K"))})')
    for field in ('width', 'height'):
        value = record.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            problems.append(f'{name}: {field} {_short(value)} is not a positive integer')
    if problems or k is None:
        return problems
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    if not (fx > 0 and fy > 0):
        problems.append(f'{name}: focal lengths fx {fx:g}, fy {fy:g} must be > 0')
    if not (0 <= cx < record['width'] and 0 <= cy < record['height']):
        problems.append(f'{name}: principal point ({cx:g}, {cy:g}) is outside the '
                        f'{record["width"]}x{record["height"]} image')
    size = (record['width'], record['height'])
    if (width, height) != (None, None) and size != (width, height):
        problems.append(f'{name}: intrinsics are for {record["width"]}x{record["height"]}, '
                        f'the video is {width}x{height}')
    d = record.get('D')
    if not isinstance(d, list) or not all(isinstance(v, (int, float)) and math.isfinite(v)
                                          for v in d):
        problems.append(f'{name}: D is not a list of finite numbers ({_short(d)})')
    if record.get('P') is not None and _finite_matrix(record['P'], (3, 4)) is None:
        problems.append(f'{name}: P is not a finite 3x4 matrix ({_short(record["P"])})')
    return problems


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, np.ndarray) else str(value.tolist())
    return text if len(text) <= 80 else text[:77] + '...'


def check_document(where: str, document_: Any,
                   cameras: Iterable[tuple[str, int | None, int | None]]) -> list[str]:
    """Problems of a ``calibration.json``: every camera (key, width, height) recorded."""
    if not isinstance(document_, dict) or document_.get('schema') != SCHEMA or \
            not isinstance(document_.get('cameras'), dict):
        return [f'{where}: not a {SCHEMA} document']
    records = document_['cameras']
    problems = []
    for key, width, height in cameras:
        if key not in records:
            problems.append(f'{where}: {key}: no intrinsics and no "none" record')
            continue
        problems.extend(check_record(where, key, records[key], width, height))
    return problems


def hdf5_record(group: Any) -> dict[str, Any]:
    """A camera's record read back from its HDF5 group (h5py)."""
    record: dict[str, Any] = {}
    for name, value in group.attrs.items():
        record[name] = value.item() if isinstance(value, np.generic) else value
    for name in ('K', 'D', 'R', 'P'):
        if name in group:
            record[name] = group[name][()].tolist()
    return record
