"""An episode's transforms: its /tf and /tf_static, else forward kinematics of its joints.

Every episode bag carries the robot's transforms (``transform`` streams of the suite:
``/tf`` samples and the latched ``/tf_static`` repeated into the bag when it opened) and
its URDF (the latched ``description`` stream). ``episode_buffer`` fills a
``TransformBuffer`` from them. A bag from a robot that recorded joint states and its
robot description but no ``/tf`` gets the moving joints from the URDF's forward
kinematics at the joint states' stamps instead, which is what robot_state_publisher
would have published; the fixed joints then come from the URDF too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from humanoid_data.bag.stamps import string_payload
from humanoid_data.core.config import Modality
from humanoid_data.core.rigid import TransformError
from humanoid_data.core.transforms import TransformBuffer
from humanoid_data.core.urdf import Robot, UrdfError, parse_urdf
from humanoid_data.errors import DecodeError

if TYPE_CHECKING:
    from humanoid_data.bag.episode_reader import EpisodeReader

#: Lookups may hold an edge's end sample this long (a frame stamped just after the last
#: /tf sample of the window) and bridge gaps up to ``MAX_GAP_NS`` between samples.
MAX_EXTRAPOLATION_NS = 50_000_000
MAX_GAP_NS = 200_000_000


@dataclass
class EpisodeTransforms:
    """An episode's frames and where they came from."""

    buffer: TransformBuffer
    source: str                     # 'tf' | 'urdf' | 'none'
    robot: Robot | None = None      # the recorded URDF, when the episode holds one
    urdf_text: str = ''
    notes: list[str] = field(default_factory=list)


def _add_dynamic(reader: EpisodeReader, topic: str, buffer: TransformBuffer) -> int:
    """Add a /tf topic's samples (kept by pass 1), one array call per edge.

    Returns the sample count.
    """
    batches = reader.tf_series[topic].by_edges
    count = 0
    for edges, (stamp_list, value_list) in batches.items():
        if not edges:
            continue
        stamps: np.ndarray = np.stack(stamp_list)         # messages x edges
        values: np.ndarray = np.stack(value_list)         # messages x edges x 7
        for k, (parent, child) in enumerate(edges):
            buffer.add_many(parent, child, stamps[:, k], values[:, k, :3], values[:, k, 3:])
        count += stamps.size
    return count


def _robot(reader: EpisodeReader) -> tuple[Robot | None, str, list[str]]:
    """The URDF of the episode's latched description stream (newest one), if any."""
    notes: list[str] = []
    for stream in reader.suite.streams:
        if stream.modality != Modality.DESCRIPTION or stream.topic not in reader.samples:
            continue
        texts = [string_payload(raw) for _, _, raw in reader.messages_of(stream.topic)]
        if not texts:
            continue
        try:
            return parse_urdf(texts[-1], f'{reader.path}: {stream.topic}'), texts[-1], notes
        except UrdfError as err:
            notes.append(f'{stream.topic}: the robot description does not parse: {err}')
        except DecodeError as err:
            notes.append(f'{stream.topic}: {err}')
    return None, '', notes


def episode_buffer(reader: EpisodeReader) -> EpisodeTransforms:
    """The episode's ``TransformBuffer`` (see the module docstring).

    Raises:
        BagError: A transform message that does not decode, naming the bag and topic.
        TransformError: Transforms that contradict each other (a frame with two parents,
            a cycle), naming the edge.

    """
    buffer = TransformBuffer(MAX_EXTRAPOLATION_NS, MAX_GAP_NS)
    robot, text, notes = _robot(reader)
    # Streams listed in the suite but silent in this bag (a robot without /tf) count as
    # absent: the URDF then supplies the fixed joints as well as the moving ones.
    transform_streams = [s for s in reader.suite.streams
                         if s.modality == Modality.TRANSFORM and s.topic in reader.samples
                         and len(reader.samples[s.topic].header_ns)]
    dynamic = 0
    for stream in sorted(transform_streams, key=lambda s: not s.latched):
        if stream.latched:
            buffer.add_messages(reader.transform_messages(stream.topic), static=True)
        else:
            dynamic += _add_dynamic(reader, stream.topic, buffer)
    if dynamic or (transform_streams and robot is None):
        return EpisodeTransforms(buffer, 'tf' if buffer.frames() else 'none', robot, text,
                                 notes)
    if robot is None:
        notes.append('no /tf and no robot description: no extrinsics')
        return EpisodeTransforms(buffer, 'none', None, '', notes)
    # No /tf samples: forward kinematics of the recorded joint states.
    try:
        if not transform_streams:
            robot.add_fixed_to(buffer)
        added = _add_joint_motion(reader, robot, buffer)
    except TransformError as err:
        notes.append(f'forward kinematics from the joint states failed: {err}')
        return EpisodeTransforms(buffer, 'none', robot, text, notes)
    notes.append(f'no /tf in the episode: moving joints from the URDF and {added} joint '
                 'states')
    return EpisodeTransforms(buffer, 'urdf', robot, text, notes)


def _add_joint_motion(reader: EpisodeReader, robot: Robot, buffer: TransformBuffer) -> int:
    """Forward kinematics at every joint state of the episode; returns the sample count."""
    for stream in reader.suite.streams:
        if stream.modality != Modality.JOINT_STATE or stream.topic not in reader.samples:
            continue
        entry = reader.samples[stream.topic]
        if not entry.count:
            continue
        values = entry.rows(np.arange(entry.count))
        stamps = entry.arrays()[0][:entry.count]
        names = list(entry.names)
        positions = {name: values[:, names.index(name)] for name in robot.movable
                     if name in names}
        missing = [name for name in robot.movable if name not in positions]
        if missing:
            raise UrdfError(f'{stream.topic} has no position for joints {missing[:5]}')
        robot.add_motion_to(buffer, stamps, positions)
        return len(stamps)
    raise UrdfError('no joint states in the episode')
