"""One rigid transform, and the checks every transform input goes through.

``Transform`` is a translation and a SciPy ``Rotation``: the pose of a child frame in its
parent, mapping points expressed in the child into the parent. Quaternions are
``(x, y, z, w)``, as in ROS and SciPy; inputs within ``QUAT_NORM_TOLERANCE`` of unit length
are normalized, zero, NaN and longer or shorter ones refused. Stamps are int64
nanoseconds. ``core.transforms`` keeps trees of them over time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from humanoid_data.errors import HumanoidDataError

QUAT_NORM_TOLERANCE = 1e-2
"""How far from 1 the norm of an input quaternion may be and still be normalized."""

STAMP_LIMIT_NS = 2 ** 61
"""Stamps and durations must lie within plus or minus this (about 73 years): ROS time
(int32 seconds) fits, and differences of two stamps cannot overflow int64."""

SAME_TOLERANCE = 1e-9
"""Metres and radians: two transforms this close are the same (a republished static edge)."""


class TransformError(HumanoidDataError):
    """A transform input is malformed, or a lookup cannot be answered; names the frames."""


def unit_quaternions(quats: Any, what: str = 'quaternion') -> np.ndarray:
    """Validate and normalize quaternions ``(x, y, z, w)``.

    Args:
        quats: One quaternion (4,) or several (N, 4).
        what: Names the input in errors (the edge, for instance).

    Returns:
        float64 unit quaternions of the input's shape.

    Raises:
        TransformError: Wrong shape, NaN or infinite components, or a norm further
            than ``QUAT_NORM_TOLERANCE`` from 1 (zero included).

    """
    q = _floats(quats, what)
    if q.shape[-1:] != (4,) or q.ndim not in (1, 2):
        raise TransformError(f'{what}: a quaternion (x, y, z, w) is 4 numbers, '
                             f'got shape {q.shape}')
    rows = q.reshape(-1, 4)
    bad = ~np.all(np.isfinite(rows), axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TransformError(f'{what}: quaternion {_where(i, q)}is not finite: {rows[i]}')
    norms = np.linalg.norm(rows, axis=1)
    bad = np.abs(norms - 1.0) > QUAT_NORM_TOLERANCE
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TransformError(
            f'{what}: quaternion {_where(i, q)}has norm {norms[i]:.6g}, not 1 '
            f'(within {QUAT_NORM_TOLERANCE}): {rows[i]}')
    unit: np.ndarray = (rows / norms[:, None]).reshape(q.shape)
    return unit


def as_translations(values: Any, what: str = 'translation') -> np.ndarray:
    """Validate translations: (3,) or (N, 3), finite, as float64 (a copy)."""
    t = _floats(values, what)
    if t.shape[-1:] != (3,) or t.ndim not in (1, 2):
        raise TransformError(f'{what}: a translation is 3 numbers, got shape {t.shape}')
    bad = ~np.all(np.isfinite(t.reshape(-1, 3)), axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TransformError(f'{what}: translation {_where(i, t)}is not finite: '
                             f'{t.reshape(-1, 3)[i]}')
    return t


def as_stamps(values: Any, what: str = 'stamps') -> np.ndarray:
    """Validate integer nanosecond stamps (a scalar or 1-D) into an int64 array.

    Raises:
        TransformError: Floats or booleans (seconds are not stamps), more than one
            dimension, or stamps beyond ``STAMP_LIMIT_NS``.

    """
    if isinstance(values, (bool, np.bool_)) or isinstance(values, (float, np.floating)):
        raise TransformError(f'{what}: stamps are integer nanoseconds, got {values!r}')
    if isinstance(values, (int, np.integer)):
        values = [int(values)]
    elif not isinstance(values, np.ndarray):
        values = list(values)
        if any(not isinstance(v, (int, np.integer)) or isinstance(v, (bool, np.bool_))
               for v in values):
            raise TransformError(f'{what}: stamps are integer nanoseconds, got {values!r}')
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind not in 'iu':
        raise TransformError(f'{what}: stamps are integer nanoseconds, '
                             f'got dtype {array.dtype}')
    if array.ndim != 1:
        raise TransformError(f'{what}: stamps are one-dimensional, got shape {array.shape}')
    if int(array.min()) < -STAMP_LIMIT_NS or int(array.max()) > STAMP_LIMIT_NS:
        raise TransformError(f'{what}: stamps must lie within +-{STAMP_LIMIT_NS} ns')
    return array.astype(np.int64)


def _floats(values: Any, what: str) -> np.ndarray:
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TransformError(f'{what}: not numbers: {values!r}') from e
    return array


def _where(i: int, array: np.ndarray) -> str:
    return f'#{i} ' if array.ndim > 1 else ''


@dataclass(frozen=True, eq=False)
class Transform:
    """A rigid transform: a rotation, then a translation; maps ``p`` to ``R p + t``.

    As the pose of a frame ``child`` in a frame ``parent``, ``translation`` is the
    child's origin in parent coordinates and ``rotation`` turns child axes into parent
    axes. ``a * b`` applies ``b`` first: the pose of ``c`` in ``a`` is
    ``pose(b in a) * pose(c in b)``.

    Attributes:
        translation: (3,) float64 metres, read-only.
        rotation: One SciPy ``Rotation`` (single, not a stack).

    """

    translation: np.ndarray
    rotation: Rotation

    def __post_init__(self) -> None:
        """Check the fields; keep a read-only float64 copy of the translation."""
        t = as_translations(self.translation)
        if t.shape != (3,):
            raise TransformError(f'a Transform has one translation, got shape {t.shape}')
        if not isinstance(self.rotation, Rotation) or not self.rotation.single:
            raise TransformError('a Transform has one scipy Rotation, got '
                                 f'{type(self.rotation).__name__}')
        if not np.all(np.isfinite(self.rotation.as_quat())):
            raise TransformError('a Transform rotation is not finite')
        t.setflags(write=False)
        object.__setattr__(self, 'translation', t)

    @classmethod
    def identity(cls) -> Transform:
        """The transform that leaves every point where it is."""
        return cls(np.zeros(3), Rotation.identity())

    @classmethod
    def from_quat(cls, translation: Any, quat_xyzw: Any,
                  what: str = 'transform') -> Transform:
        """From a translation and a quaternion (x, y, z, w), checked (``unit_quaternions``).

        Args:
            translation: Three numbers.
            quat_xyzw: Four numbers, scalar last.
            what: Names the input in errors.

        """
        q = unit_quaternions(quat_xyzw, what)
        t = as_translations(translation, what)
        if q.shape != (4,) or t.shape != (3,):
            raise TransformError(f'{what}: one translation and one quaternion expected')
        return cls(t, Rotation.from_quat(q))

    @classmethod
    def from_matrix(cls, matrix: Any, what: str = 'transform') -> Transform:
        """From a 4x4 homogeneous matrix whose top-left 3x3 is a rotation (within 1e-6)."""
        m = _floats(matrix, what)
        if m.shape != (4, 4) or not np.all(np.isfinite(m)):
            raise TransformError(f'{what}: a finite 4x4 matrix expected, got shape {m.shape}')
        r = m[:3, :3]
        if (not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0]) or
                not np.allclose(r.T @ r, np.eye(3), atol=1e-6) or np.linalg.det(r) <= 0):
            raise TransformError(f'{what}: not a rigid transform (rotation and translation)')
        return cls(m[:3, 3], Rotation.from_matrix(r))

    @property
    def quat(self) -> np.ndarray:
        """The rotation as a unit quaternion (x, y, z, w)."""
        q: np.ndarray = np.asarray(self.rotation.as_quat(), dtype=np.float64)
        return q

    def __mul__(self, other: Transform) -> Transform:
        """Compose: ``other`` first, then ``self``."""
        if not isinstance(other, Transform):
            return NotImplemented
        # SciPy 1.17's apply refuses read-only arrays: hand it a copy
        return Transform(self.translation + self.rotation.apply(np.array(other.translation)),
                         self.rotation * other.rotation)

    def inverse(self) -> Transform:
        """The transform that undoes this one."""
        inv = self.rotation.inv()
        return Transform(-inv.apply(np.array(self.translation)), inv)

    def apply(self, points: Any) -> np.ndarray:
        """Transform points: (3,) or (N, 3), returned in the same shape (float64)."""
        p = _floats(points, 'points')
        if p.shape[-1:] != (3,) or p.ndim not in (1, 2):
            raise TransformError(f'points are (3,) or (N, 3), got shape {p.shape}')
        out: np.ndarray = np.asarray(self.rotation.apply(p), dtype=np.float64)
        out += self.translation
        return out

    def as_matrix(self) -> np.ndarray:
        """The 4x4 homogeneous matrix."""
        m = np.eye(4)
        m[:3, :3] = self.rotation.as_matrix()
        m[:3, 3] = self.translation
        return m

    def is_close(self, other: Transform, tolerance: float = SAME_TOLERANCE) -> bool:
        """Whether translations differ by at most ``tolerance`` metres, rotations radians."""
        angle = float((self.rotation.inv() * other.rotation).magnitude())
        return bool(np.linalg.norm(self.translation - other.translation) <= tolerance and
                    angle <= tolerance)

    def __repr__(self) -> str:
        """Translation and quaternion, rounded for reading."""
        t = np.array2string(self.translation, precision=6)
        q = np.array2string(self.quat, precision=6)
        return f'Transform(translation={t}, quat_xyzw={q})'


@dataclass(frozen=True)
class StampedTransform:
    """The pose of ``child`` in ``parent`` at ``stamp_ns`` (one ``TransformStamped``)."""

    parent: str
    child: str
    stamp_ns: int
    transform: Transform


__all__ = ['QUAT_NORM_TOLERANCE', 'SAME_TOLERANCE', 'STAMP_LIMIT_NS', 'StampedTransform',
           'Transform', 'TransformError', 'as_stamps', 'as_translations', 'unit_quaternions']
