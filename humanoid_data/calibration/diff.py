"""Compare the calibration two episodes were recorded with.

A snapshot is what an episode bag says about calibration: the first message of every
``sensor_msgs/CameraInfo`` stream (size, K, D, distortion model), the latched
``/robot_description`` (the URDF text) and the latched ``/tf_static`` (the extrinsics the
robot published: every fixed edge, parent, child and transform). Two snapshots compare
into findings; a finding with ``differs`` set is a difference, the others are notes (say,
neither side has a robot description). A /tf_static edge moved when its translation
changed by more than the tolerance (mm) or its rotation by more than the tolerance
(degrees, the angle of the relative rotation), like a URDF fixed joint.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import Reader

from humanoid_data.bag.decode import CameraModel, decode
from humanoid_data.bag.episode_state import EpisodeState, episode_state
from humanoid_data.bag.metadata import check_bag_metadata
from humanoid_data.bag.typestore import typestore_for
from humanoid_data.core.rigid import Transform, TransformError
from humanoid_data.core.urdf import Robot, UrdfError, parse_urdf
from humanoid_data.errors import BagError, ConfigError, DecodeError

CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
DESCRIPTION_TOPIC = '/robot_description'
TF_STATIC_TOPIC = '/tf_static'
RELATIVE = 1e-6
FINISHED = (EpisodeState.COMPLETE, EpisodeState.RECOVERED)


@dataclass(frozen=True)
class CalibrationSnapshot:
    """The calibration one episode bag holds.

    Attributes:
        episode: The episode folder read.
        cameras: First CameraInfo of each stream, by topic.
        urdf: The robot description's text; None when the bag has none.
        static: /tf_static edges by child frame: (parent, pose of the child in the
            parent); None when the bag has no /tf_static message.

    """

    episode: Path
    cameras: dict[str, CameraModel] = field(default_factory=dict)
    urdf: str | None = None
    static: dict[str, tuple[str, Transform]] | None = None


@dataclass(frozen=True)
class Finding:
    """One line of the comparison: what, where, the value on each side."""

    kind: str        # intrinsics, camera, urdf, joint, link, tf_static
    item: str        # camera topic, joint or link name, or 'robot_description'
    what: str        # the field
    old: str         # side A
    new: str         # side B
    differs: bool = True
    values: dict[str, float] = field(default_factory=dict)  # numbers (mm, deg)

    def as_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready values."""
        out: dict[str, Any] = {'kind': self.kind, 'item': self.item, 'what': self.what,
                               'a': self.old, 'b': self.new, 'differs': self.differs}
        out.update(self.values)
        return out


def _is_episode(folder: Path) -> bool:
    return (folder / 'metadata.yaml').is_file() or any(folder.glob('*.mcap'))


def resolve_episode(path: str | Path) -> Path:
    """The episode folder ``path`` names: itself, or a session's first finished episode.

    Raises:
        ConfigError: ``path`` does not exist, is not a folder, or is neither an episode
            nor a session holding a finished episode with a bag.

    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f'{path}: no such file or folder')
    if not path.is_dir():
        raise ConfigError(f'{path}: not an episode or session folder')
    if _is_episode(path):
        return path
    for child in sorted(p for p in path.iterdir() if p.is_dir()):
        if child.name.startswith('.') or not any(child.glob('*.mcap')):
            continue
        if episode_state(child) in FINISHED:
            return child
    raise ConfigError(f'{path}: not an episode (metadata.yaml and an .mcap) nor a session '
                      'holding a finished episode with a bag')


def read_snapshot(path: str | Path) -> CalibrationSnapshot:
    """Read the calibration of the episode (or session's first episode) at ``path``.

    Raises:
        ConfigError: As ``resolve_episode``.
        BagError: The bag's metadata is damaged, or the bag cannot be read or decoded.

    """
    episode = resolve_episode(path)
    check_bag_metadata(episode)
    cameras: dict[str, CameraModel] = {}
    urdf: str | None = None
    static: dict[str, tuple[str, Transform]] | None = None
    try:
        reader = Reader(episode)
        reader.open()
    except Exception as err:  # rosbags raises several types for a damaged bag
        raise BagError(f'{episode}: cannot read bag: {err}') from err
    try:
        conns = [c for c in reader.connections
                 if c.msgtype == CAMERA_INFO_TYPE or c.topic == DESCRIPTION_TOPIC]
        wanted = {c.topic for c in conns}
        if conns:
            for conn, _, raw in reader.messages(connections=conns):
                if conn.topic in cameras or (conn.topic == DESCRIPTION_TOPIC
                                             and urdf is not None):
                    continue
                value = decode(raw, conn.msgtype)
                if isinstance(value, CameraModel):
                    cameras[conn.topic] = value
                elif isinstance(value, str):
                    urdf = value
                if len(cameras) + (urdf is not None) == len(wanted):
                    break
        statics = [c for c in reader.connections if c.topic == TF_STATIC_TOPIC]
        if statics:
            # Every /tf_static message counts (publishers may split the tree); a later
            # message for the same child replaces an earlier one.
            for conn, _, raw in reader.messages(connections=statics):
                static = _static_edges(raw, conn.msgtype, static or {}, episode)
    except DecodeError as err:
        raise BagError(f'{episode}: {err}') from err
    except BagError:
        raise
    except Exception as err:  # a truncated or corrupt bag trips various errors
        raise BagError(f'{episode}: bag is truncated or corrupt: {err}') from err
    finally:
        reader.close()
    return CalibrationSnapshot(episode, cameras, urdf, static)


def _static_edges(raw: bytes, msgtype: str, edges: dict[str, tuple[str, Transform]],
                  episode: Path) -> dict[str, tuple[str, Transform]]:
    """``edges`` updated with the transforms of one /tf_static message.

    Raises:
        BagError: The message does not decode or holds a malformed transform.

    """
    try:
        message: Any = typestore_for().deserialize_cdr(raw, msgtype)
    except Exception as err:  # noqa: BLE001 - rosbags raises several types
        raise BagError(f'{episode}: {TF_STATIC_TOPIC}: a {msgtype} that does not decode: '
                       f'{err}') from err
    for item in message.transforms:
        t, q = item.transform.translation, item.transform.rotation
        try:
            pose = Transform.from_quat([t.x, t.y, t.z], [q.x, q.y, q.z, q.w],
                                       f'{TF_STATIC_TOPIC} {item.header.frame_id} -> '
                                       f'{item.child_frame_id}')
        except TransformError as err:
            raise BagError(f'{episode}: {err}') from err
        edges[item.child_frame_id] = (item.header.frame_id, pose)
    return edges


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(np.isclose(a, b, rtol=RELATIVE, atol=0.0)))


def _fmt(values: np.ndarray) -> str:
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    return '[' + ', '.join(f'{v:.6g}' for v in flat) + ']'


def _compare_camera(topic: str, a: CameraModel, b: CameraModel) -> list[Finding]:
    out = []
    for what in ('width', 'height'):
        old, new = getattr(a, what), getattr(b, what)
        if old != new:
            out.append(Finding('intrinsics', topic, what, str(old), str(new)))
    if a.distortion_model != b.distortion_model:
        out.append(Finding('intrinsics', topic, 'distortion_model', a.distortion_model,
                           b.distortion_model))
    k_names = ('fx', 'skew', 'cx', '', 'fy', 'cy', '', '', '')
    ka, kb = np.asarray(a.k).reshape(-1), np.asarray(b.k).reshape(-1)
    if ka.shape != kb.shape:
        out.append(Finding('intrinsics', topic, 'K', _fmt(ka), _fmt(kb)))
    else:
        for i, (old, new) in enumerate(zip(ka, kb)):
            if not _close(old, new):
                name = k_names[i] or f'K[{i // 3}][{i % 3}]'
                out.append(Finding('intrinsics', topic, f'K {name}', f'{old:.6g}',
                                   f'{new:.6g}'))
    if not _close(a.distortion, b.distortion):
        out.append(Finding('intrinsics', topic, 'D', _fmt(a.distortion),
                           _fmt(b.distortion)))
    return out


def _compare_cameras(a: CalibrationSnapshot, b: CalibrationSnapshot) -> list[Finding]:
    if not a.cameras and not b.cameras:
        return [Finding('camera', '-', 'camera_info', 'no CameraInfo stream',
                        'no CameraInfo stream', differs=False)]
    out = []
    for topic in sorted(set(a.cameras) | set(b.cameras)):
        old, new = a.cameras.get(topic), b.cameras.get(topic)
        if old is None or new is None:
            out.append(Finding('camera', topic, 'camera_info',
                               'present' if old is not None else 'no CameraInfo stream',
                               'present' if new is not None else 'no CameraInfo stream'))
        else:
            out.append(Finding('camera', topic, 'intrinsics', 'compared', 'compared',
                               differs=False))
            out.extend(_compare_camera(topic, old, new))
    return out


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def _parse(text: str, snapshot: CalibrationSnapshot) -> Robot:
    try:
        return parse_urdf(text, f'{snapshot.episode} {DESCRIPTION_TOPIC}')
    except UrdfError as err:
        raise BagError(str(err)) from err


def _compare_robots(a: Robot, b: Robot, tolerance_mm: float,
                    tolerance_deg: float) -> list[Finding]:
    out = []
    for name in sorted(set(a.links) - set(b.links)):
        out.append(Finding('link', name, 'link', 'present', 'removed'))
    for name in sorted(set(b.links) - set(a.links)):
        out.append(Finding('link', name, 'link', 'absent', 'added'))
    for name in sorted(set(a.joints) - set(b.joints)):
        out.append(Finding('joint', name, 'joint', a.joints[name].kind, 'removed'))
    for name in sorted(set(b.joints) - set(a.joints)):
        out.append(Finding('joint', name, 'joint', 'absent', b.joints[name].kind))
    for name in sorted(set(a.joints) & set(b.joints)):
        ja, jb = a.joints[name], b.joints[name]
        if ja.kind != 'fixed' or jb.kind != 'fixed':
            if ja.kind != jb.kind:
                out.append(Finding('joint', name, 'type', ja.kind, jb.kind))
            continue
        moved_mm = 1000.0 * float(np.linalg.norm(np.asarray(jb.origin.translation)
                                                 - np.asarray(ja.origin.translation)))
        turned_deg = math.degrees(float((ja.origin.rotation.inv()
                                         * jb.origin.rotation).magnitude()))
        if moved_mm > tolerance_mm or turned_deg > tolerance_deg:
            out.append(Finding(
                'joint', name, f'mount moved {moved_mm:.3f} mm, {turned_deg:.3f} deg',
                f'xyz {_fmt(ja.origin.translation)} rpy {_fmt(_rpy(ja.origin.rotation))}',
                f'xyz {_fmt(jb.origin.translation)} rpy {_fmt(_rpy(jb.origin.rotation))}',
                values={'translation_mm': round(moved_mm, 6),
                        'rotation_deg': round(turned_deg, 6)}))
    return out


def _rpy(rotation: Any) -> np.ndarray:
    return np.asarray(rotation.as_euler('xyz'), dtype=np.float64)


def _compare_urdf(a: CalibrationSnapshot, b: CalibrationSnapshot, tolerance_mm: float,
                  tolerance_deg: float) -> list[Finding]:
    if a.urdf is None or b.urdf is None:
        missing = 'no /robot_description'
        return [Finding('urdf', 'robot_description', 'present',
                        'present' if a.urdf is not None else missing,
                        'present' if b.urdf is not None else missing,
                        differs=(a.urdf is None) != (b.urdf is None))]
    da, db = _digest(a.urdf), _digest(b.urdf)
    if da == db:
        return [Finding('urdf', 'robot_description', 'sha256', da[:16], db[:16],
                        differs=False)]
    out = [Finding('urdf', 'robot_description', 'sha256', da[:16], db[:16])]
    out.extend(_compare_robots(_parse(a.urdf, a), _parse(b.urdf, b), tolerance_mm,
                               tolerance_deg))
    return out


def _moved(old: Transform, new: Transform) -> tuple[float, float]:
    """(mm, degrees) between two poses of one frame."""
    moved_mm = 1000.0 * float(np.linalg.norm(new.translation - old.translation))
    turned_deg = math.degrees(float((old.rotation.inv() * new.rotation).magnitude()))
    return moved_mm, turned_deg


def _pose_text(pose: Transform) -> str:
    return f'xyz {_fmt(pose.translation)} rpy {_fmt(_rpy(pose.rotation))}'


def _compare_static(a: CalibrationSnapshot, b: CalibrationSnapshot, tolerance_mm: float,
                    tolerance_deg: float) -> list[Finding]:
    if a.static is None or b.static is None:
        missing = f'no {TF_STATIC_TOPIC}'
        return [Finding('tf_static', TF_STATIC_TOPIC, 'present',
                        'present' if a.static is not None else missing,
                        'present' if b.static is not None else missing,
                        differs=(a.static is None) != (b.static is None))]
    out = [Finding('tf_static', TF_STATIC_TOPIC, 'edges', str(len(a.static)),
                   str(len(b.static)), differs=False)]
    for child in sorted(set(a.static) | set(b.static)):
        old, new = a.static.get(child), b.static.get(child)
        if old is None or new is None:
            out.append(Finding('tf_static', child, 'edge',
                               f'from {old[0]}' if old is not None else 'absent',
                               f'from {new[0]}' if new is not None else 'absent'))
        elif old[0] != new[0]:
            out.append(Finding('tf_static', child, 'parent', old[0], new[0]))
        else:
            moved_mm, turned_deg = _moved(old[1], new[1])
            if moved_mm > tolerance_mm or turned_deg > tolerance_deg:
                out.append(Finding(
                    'tf_static', child,
                    f'{old[0]} -> {child} moved {moved_mm:.3f} mm, {turned_deg:.3f} deg',
                    _pose_text(old[1]), _pose_text(new[1]),
                    values={'translation_mm': round(moved_mm, 6),
                            'rotation_deg': round(turned_deg, 6)}))
    return out


def compare(a: CalibrationSnapshot, b: CalibrationSnapshot, tolerance_mm: float = 0.1,
            tolerance_deg: float = 0.01) -> list[Finding]:
    """Findings of comparing snapshot ``a`` (old) with ``b`` (new).

    Intrinsics differ beyond a relative 1e-6; a fixed joint (a sensor mount) or a
    /tf_static edge moved when its translation changed by more than ``tolerance_mm`` or
    its rotation by more than ``tolerance_deg`` (the angle of the relative rotation).

    Raises:
        BagError: The robot descriptions differ and one is not a URDF that parses.

    """
    return (_compare_cameras(a, b) + _compare_urdf(a, b, tolerance_mm, tolerance_deg)
            + _compare_static(a, b, tolerance_mm, tolerance_deg))


def differs(findings: list[Finding]) -> bool:
    """Whether any finding is a difference."""
    return any(f.differs for f in findings)
