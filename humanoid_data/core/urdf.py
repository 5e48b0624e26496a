"""The kinematic tree of a URDF: fixed transforms and forward kinematics for the buffer.

Only what poses need is read, with the standard library's XML parser (no meshes, no
inertias, no collision or visual geometry): the links and the joints of type ``fixed``,
``revolute``, ``continuous`` and ``prismatic``, with their ``parent``, ``child``,
``origin`` (``xyz``, ``rpy``), ``axis`` and ``mimic``. Other joint types (``floating``,
``planar``) are refused by name.

Conventions, as in the URDF specification:

- a joint's pose of ``child`` in ``parent`` is its ``origin`` followed by its motion:
  a rotation of the position (radians) about ``axis`` for revolute and continuous
  joints, a translation of the position (metres) along ``axis`` for prismatic ones; the
  axis is expressed in the joint frame, the frame after ``origin``.
- ``rpy`` is roll, pitch, yaw about the fixed axes x, y, z, in that order: the rotation
  is ``Rz(yaw) Ry(pitch) Rx(roll)``, SciPy's extrinsic ``'xyz'`` Euler sequence.
- a ``mimic`` joint's position is ``multiplier * position(joint) + offset``.
- joint limits are not enforced: recorded positions are what the robot did.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
from scipy.spatial.transform import Rotation

from humanoid_data.core.transforms import Transform, TransformBuffer, TransformError

KINDS = ('fixed', 'revolute', 'continuous', 'prismatic')


class UrdfError(TransformError):
    """A URDF is malformed, uses what is not supported, or positions do not fit it."""


@dataclass(frozen=True)
class Mimic:
    """Position of a joint that follows another: ``multiplier * position + offset``."""

    joint: str
    multiplier: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True, eq=False)
class Joint:
    """One joint: the pose of ``child`` in ``parent`` at a position."""

    name: str
    kind: str                  # one of KINDS
    parent: str
    child: str
    origin: Transform
    axis: np.ndarray           # (3,) unit vector in the joint frame
    mimic: Mimic | None = None

    def at(self, positions: np.ndarray) -> tuple[np.ndarray, Rotation]:
        """Translations (N, 3) and rotations (N) of ``child`` in ``parent`` at positions (N)."""
        q = np.asarray(positions, dtype=np.float64).reshape(-1)
        n = len(q)
        if self.kind == 'prismatic':
            motion_t = q[:, None] * self.axis
            motion_r = Rotation.from_quat(np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)))
        elif self.kind == 'fixed':
            motion_t = np.zeros((n, 3))
            motion_r = Rotation.from_quat(np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)))
        else:
            motion_t = np.zeros((n, 3))
            motion_r = Rotation.from_rotvec(q[:, None] * self.axis)
        origin = self.origin
        t: np.ndarray = np.asarray(origin.translation + origin.rotation.apply(motion_t),
                                   dtype=np.float64)
        return t, origin.rotation * motion_r


@dataclass(frozen=True)
class Robot:
    """The links and joints of a URDF, a tree from ``root``."""

    name: str
    root: str
    links: tuple[str, ...]
    joints: Mapping[str, Joint]

    @property
    def movable(self) -> list[str]:
        """Names of the joints that move and are not mimics: the positions ``forward`` needs."""
        return [j.name for j in self.joints.values() if j.kind != 'fixed' and j.mimic is None]

    def fixed(self) -> list[tuple[str, str, Transform]]:
        """``(parent, child, transform)`` of every fixed joint."""
        return [(j.parent, j.child, j.origin) for j in self.joints.values()
                if j.kind == 'fixed']

    def forward(self, positions: Mapping[str, float]) -> list[tuple[str, str, Transform]]:
        """``(parent, child, transform)`` of every moving joint at ``positions``.

        Args:
            positions: Position of every joint in ``movable`` (radians, metres); mimic
                joints follow theirs. Names the URDF does not have are refused.

        Raises:
            UrdfError: Positions missing, unknown, or not finite.

        """
        many = {name: np.array([value], dtype=np.float64) for name, value in positions.items()}
        return [(parent, child, Transform(t[0], r[0]))
                for parent, child, t, r in self.forward_many(many)]

    def forward_many(self, positions: Mapping[str, np.ndarray]
                     ) -> list[tuple[str, str, np.ndarray, Rotation]]:
        """Vectorized ``forward``: ``(parent, child, translations (N, 3), rotations (N))``.

        ``positions`` maps each movable joint to (N,) positions, say at the stamps of
        JointState messages; the results feed ``TransformBuffer.add_many``.
        """
        arrays = {name: np.asarray(value, dtype=np.float64).reshape(-1)
                  for name, value in positions.items()}
        unknown = sorted(set(arrays) - set(self.joints))
        missing = [name for name in self.movable if name not in arrays]
        if unknown or missing:
            raise UrdfError(f'robot {self.name!r}: positions for unknown joints {unknown}, '
                            f'missing for {missing}')
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) > 1:
            raise UrdfError(f'robot {self.name!r}: position arrays of different lengths '
                            f'{sorted(lengths)}')
        for name, a in arrays.items():
            if not np.all(np.isfinite(a)):
                raise UrdfError(f'robot {self.name!r}: joint {name!r} has a position that '
                                'is not finite')
        out = []
        for joint in self.joints.values():
            if joint.kind == 'fixed':
                continue
            if joint.mimic is not None:
                m = joint.mimic
                q = m.multiplier * arrays[m.joint] + m.offset
            else:
                q = arrays[joint.name]
            t, r = joint.at(q)
            out.append((joint.parent, joint.child, t, r))
        return out

    def add_fixed_to(self, buffer: TransformBuffer) -> None:
        """Add every fixed joint to ``buffer`` as a static edge."""
        for parent, child, transform in self.fixed():
            buffer.add_static(parent, child, transform)

    def add_motion_to(self, buffer: TransformBuffer, stamps_ns: np.ndarray,
                      positions: Mapping[str, np.ndarray]) -> None:
        """Add the moving joints at ``positions`` (N each) as samples at ``stamps_ns`` (N)."""
        for parent, child, t, r in self.forward_many(positions):
            buffer.add_many(parent, child, stamps_ns, t, r.as_quat())


def load_urdf(path: str | Path) -> Robot:
    """Read and parse a URDF file (see ``parse_urdf``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding='utf-8')
    except OSError as e:
        raise UrdfError(f'cannot read URDF {path}: {e}') from e
    return parse_urdf(text, str(path))


def parse_urdf(text: str, source: str = 'URDF') -> Robot:
    """Parse the kinematic tree of a URDF document.

    Args:
        text: The XML.
        source: Names the document in errors (its path, say).

    Raises:
        UrdfError: Not XML or not a ``robot``; a joint without parent, child or a known
            link, of an unsupported type, with a bad origin, axis or mimic; a link with
            two parent joints; a cycle; no single root.

    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise UrdfError(f'{source}: not XML: {e}') from e
    if root.tag != 'robot':
        raise UrdfError(f'{source}: the root element is <{root.tag}>, not <robot>')
    robot_name = root.get('name', '')
    links = tuple(_name(e, 'link', source) for e in root.findall('link'))
    if len(set(links)) != len(links):
        twice = sorted({n for n in links if links.count(n) > 1})
        raise UrdfError(f'{source}: links defined twice: {twice}')
    joints: dict[str, Joint] = {}
    for element in root.findall('joint'):
        joint = _joint(element, set(links), source)
        if joint.name in joints:
            raise UrdfError(f'{source}: joint {joint.name!r} defined twice')
        joints[joint.name] = joint
    parent_joint: dict[str, str] = {}
    for joint in joints.values():
        if joint.child in parent_joint:
            raise UrdfError(f'{source}: link {joint.child!r} is the child of two joints: '
                            f'{parent_joint[joint.child]!r} and {joint.name!r}')
        parent_joint[joint.child] = joint.name
        if joint.mimic is not None:
            followed = joints.get(joint.mimic.joint)
            if followed is None:
                raise UrdfError(f'{source}: joint {joint.name!r} mimics unknown joint '
                                f'{joint.mimic.joint!r}')
            if followed.mimic is not None or followed.kind == 'fixed':
                raise UrdfError(f'{source}: joint {joint.name!r} mimics {followed.name!r}, '
                                'which is fixed or a mimic itself')
    roots = [link for link in links if link not in parent_joint]
    if len(roots) != 1:
        raise UrdfError(f'{source}: a robot has one root link, found {roots or "none"} '
                        '(a cycle, or links no joint connects)')
    _check_reachable(roots[0], joints, links, source)
    return Robot(robot_name, roots[0], links, joints)


def _check_reachable(root: str, joints: Mapping[str, Joint], links: tuple[str, ...],
                     source: str) -> None:
    children: dict[str, list[str]] = {}
    for joint in joints.values():
        children.setdefault(joint.parent, []).append(joint.child)
    seen, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            seen.add(child)
            todo.append(child)
    stranded = [link for link in links if link not in seen]
    if stranded:
        raise UrdfError(f'{source}: links in a cycle, not reachable from {root!r}: '
                        f'{stranded}')


def _name(element: ET.Element, what: str, source: str) -> str:
    name = element.get('name')
    if not name:
        raise UrdfError(f'{source}: a <{what}> without a name')
    return name


def _joint(element: ET.Element, links: set[str], source: str) -> Joint:
    name = _name(element, 'joint', source)
    where = f'{source}: joint {name!r}'
    kind = element.get('type', '')
    if kind not in KINDS:
        raise UrdfError(f'{where}: type {kind!r} is not supported (only {", ".join(KINDS)})')
    ends = []
    for tag in ('parent', 'child'):
        end = element.find(tag)
        link = end.get('link') if end is not None else None
        if not link:
            raise UrdfError(f'{where}: no <{tag} link="..."/>')
        if link not in links:
            raise UrdfError(f'{where}: {tag} link {link!r} is not defined')
        ends.append(link)
    origin = element.find('origin')
    xyz = _numbers(origin, 'xyz', 3, where, 0.0)
    rpy = _numbers(origin, 'rpy', 3, where, 0.0)
    transform = Transform(xyz, Rotation.from_euler('xyz', rpy))
    axis = _numbers(element.find('axis'), 'xyz', 3, where, None)
    norm = float(np.linalg.norm(axis))
    if kind != 'fixed' and norm < 1e-9:
        raise UrdfError(f'{where}: the axis is zero')
    mimic = None
    m = element.find('mimic')
    if m is not None:
        followed = m.get('joint')
        if not followed:
            raise UrdfError(f'{where}: <mimic> without a joint')
        mimic = Mimic(followed, *(float(_numbers(m, key, 1, where, default)[0])
                                  for key, default in (('multiplier', 1.0), ('offset', 0.0))))
        if kind == 'fixed':
            raise UrdfError(f'{where}: a fixed joint cannot mimic {followed!r}')
    return Joint(name, kind, ends[0], ends[1], transform,
                 axis / norm if norm > 0 else axis, mimic)


def _numbers(element: ET.Element | None, key: str, count: int, where: str,
             default: float | None) -> np.ndarray:
    """``count`` finite numbers from attribute ``key``; default all ``default`` (or x axis)."""
    text = element.get(key) if element is not None else None
    if text is None:
        return np.array([1.0, 0.0, 0.0]) if default is None else np.full(count, default)
    try:
        values = [float(v) for v in text.split()]
    except ValueError as e:
        raise UrdfError(f'{where}: {key}={text!r} is not {count} numbers') from e
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise UrdfError(f'{where}: {key}={text!r} is not {count} finite numbers')
    return np.array(values)
