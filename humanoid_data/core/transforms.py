"""Poses between coordinate frames over time, without ROS: a tree of frames and its lookups.

tf2 needs rclpy; the converter and the calibration checks work offline on recorded
``/tf`` and ``/tf_static``. ``TransformBuffer`` keeps the same tree of frames and answers
the same question (where is frame ``source`` in frame ``target`` at a stamp), with numpy
and SciPy's ``spatial.transform``:

- **edges**: an edge ``(parent, child)`` holds the pose of ``child`` in ``parent``, the
  transform that maps points expressed in ``child`` into ``parent`` (ROS's
  ``TransformStamped`` with ``header.frame_id = parent``, ``child_frame_id = child``).
  Every frame has at most one parent, so the frames form trees; a second parent or an
  edge that would close a cycle is refused when it is added.
- **static** edges hold one transform for all time (``/tf_static``, the fixed joints of
  a URDF); **dynamic** edges hold samples at integer nanosecond stamps, kept sorted per
  edge whatever order they arrive in.
- **lookups** walk from both frames up to their common ancestor and compose the edges
  on the way. A dynamic edge is interpolated at the stamp between the samples around
  it: translation linearly, rotation by spherical linear interpolation (SciPy's
  ``Slerp``). Before the first or after the last sample it holds the end sample for at
  most ``max_extrapolation_ns``; two samples further apart than ``max_gap_ns`` are not
  bridged. Anything else is a ``TransformError`` naming the frames.
- **quaternions** are ``(x, y, z, w)``, as in ROS and SciPy. Inputs within
  ``QUAT_NORM_TOLERANCE`` of unit length are normalized; zero, NaN and longer or
  shorter ones are refused.

Stamps are int64 nanoseconds throughout, never float seconds: two samples a nanosecond
apart stay apart, and interpolation weights come from integer differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from humanoid_data.errors import HumanoidDataError

QUAT_NORM_TOLERANCE = 1e-2
"""How far from 1 the norm of an input quaternion may be and still be normalized."""

STAMP_LIMIT_NS = 2 ** 61
"""Stamps and durations must lie within plus or minus this (about 73 years): ROS time
(int32 seconds) fits, and differences of two stamps cannot overflow int64."""

_SAME_TOLERANCE = 1e-9   # metres and radians: a republished static edge is the same edge


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

    def is_close(self, other: Transform, tolerance: float = _SAME_TOLERANCE) -> bool:
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


class _Track:
    """The samples of one dynamic edge: appended in any order, sorted when read."""

    def __init__(self, parent: str, child: str) -> None:
        self.name = f"'{parent}' -> '{child}'"
        self._stamps = np.zeros(0, dtype=np.int64)
        self._values = np.zeros((0, 7))       # translation, quaternion (x, y, z, w)
        self._rotations: Rotation = None
        self._slerp: Any = None
        self._pending_stamps: list[np.ndarray] = []
        self._pending_values: list[np.ndarray] = []

    def extend(self, stamps: np.ndarray, values: np.ndarray) -> None:
        """Add samples: int64 stamps (N,), rows of translation and unit quaternion (N, 7)."""
        self._pending_stamps.append(stamps)
        self._pending_values.append(values)

    def covered(self, context: str = 'samples') -> tuple[int, int]:
        """The first and last sample stamps; a TransformError if there are none."""
        self._merge()
        if not len(self._stamps):
            raise TransformError(f'{context}: edge {self.name} has no samples')
        return int(self._stamps[0]), int(self._stamps[-1])

    def _merge(self) -> None:
        if not self._pending_stamps:
            return
        stamps = np.concatenate([self._stamps, *self._pending_stamps])
        values = np.concatenate([self._values, *self._pending_values])
        order = np.argsort(stamps, kind='stable')
        stamps, values = stamps[order], values[order]
        dup = np.flatnonzero(np.diff(stamps) == 0)
        if dup.size:
            a, b = values[dup], values[dup + 1]
            same = (np.linalg.norm(a[:, :3] - b[:, :3], axis=1) <= _SAME_TOLERANCE) & (
                np.abs(np.sum(a[:, 3:] * b[:, 3:], axis=1)) >= 1 - _SAME_TOLERANCE ** 2)
            if not same.all():
                i = int(dup[np.flatnonzero(~same)[0]])
                raise TransformError(
                    f'edge {self.name} has two different samples at {int(stamps[i])} ns: '
                    f'{values[i]} and {values[i + 1]} (translation, quaternion xyzw)')
            keep = np.ones(len(stamps), dtype=bool)
            keep[dup + 1] = False
            stamps, values = stamps[keep], values[keep]
        self._stamps, self._values = stamps, values
        self._pending_stamps, self._pending_values = [], []
        self._rotations = Rotation.from_quat(values[:, 3:])
        # Slerp over the sample index, not the stamp: each segment spans exactly 1, so
        # weights computed from integer stamp differences reach it without float seconds.
        self._slerp = (Slerp(np.arange(len(stamps), dtype=np.float64), self._rotations)
                       if len(stamps) > 1 else None)

    def at(self, stamps: np.ndarray, max_extrapolation_ns: int, max_gap_ns: int | None,
           context: str) -> tuple[np.ndarray, Rotation]:
        """Translations (N, 3) and rotations (N) at ``stamps`` (int64, N).

        Raises:
            TransformError: A stamp beyond the samples by more than
                ``max_extrapolation_ns``, or between two samples more than ``max_gap_ns``
                apart; the message names the edge, its range and ``context``.

        """
        first, last = self.covered(context)
        s, values = self._stamps, self._values
        reach = max_extrapolation_ns
        outside = (stamps < first - reach) | (stamps > last + reach)
        if outside.any():
            bad = stamps[outside]
            raise TransformError(
                f'{context}: edge {self.name} has samples from {first} to {last} ns '
                f'({len(s)} samples, max extrapolation {max_extrapolation_ns} ns); '
                f'{bad.size} stamp(s) outside, the first {int(bad[0])} ns')
        clamped = np.clip(stamps, first, last)
        lo = np.searchsorted(s, clamped, side='right') - 1
        exact = s[lo] == clamped
        between = np.flatnonzero(~exact)
        t = values[lo, :3].copy()
        q = values[lo, 3:].copy()
        if between.size:
            a = lo[between]
            span = s[a + 1] - s[a]
            if max_gap_ns is not None and np.any(span > max_gap_ns):
                i = int(np.flatnonzero(span > max_gap_ns)[0])
                raise TransformError(
                    f'{context}: edge {self.name} has no samples between {int(s[a[i]])} '
                    f'and {int(s[a[i] + 1])} ns ({int(span[i])} ns apart, max gap '
                    f'{max_gap_ns} ns), needed at {int(stamps[between[i]])} ns')
            f = (clamped[between] - s[a]) / span
            t[between] += f[:, None] * (values[a + 1, :3] - values[a, :3])
            q[between] = self._slerp(a + f).as_quat()
        return t, Rotation.from_quat(q)


Chain = tuple[np.ndarray, Rotation]   # translations (3,) or (N, 3); one or N rotations


def _compose(a: Chain, b: Chain) -> Chain:
    return a[0] + a[1].apply(b[0]), a[1] * b[1]


class TransformBuffer:
    """A tree of frames with static and dynamic edges; lookups at nanosecond stamps.

    Example:
        >>> buf = TransformBuffer(max_extrapolation_ns=0, max_gap_ns=100_000_000)
        >>> buf.add('base', 'arm', 0, Transform.identity())
        >>> buf.add('base', 'arm', 10, Transform.from_quat([1, 0, 0], [0, 0, 0, 1]))
        >>> buf.add_static('arm', 'camera', Transform.from_quat([0, 0, 1], [0, 0, 0, 1]))
        >>> buf.lookup('base', 'camera', 5).translation
        array([0.5, 0. , 1. ])

    """

    def __init__(self, max_extrapolation_ns: int = 0, max_gap_ns: int | None = None) -> None:
        """Hold end samples ``max_extrapolation_ns``; bridge gaps up to ``max_gap_ns``.

        Args:
            max_extrapolation_ns: How far before the first or after the last sample of
                a dynamic edge a lookup still gets that sample (0: only within).
            max_gap_ns: Interpolate only between samples at most this far apart
                (None: any).

        """
        for name, value in (('max_extrapolation_ns', max_extrapolation_ns),
                            ('max_gap_ns', 0 if max_gap_ns is None else max_gap_ns)):
            if (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or
                    not 0 <= value <= STAMP_LIMIT_NS):
                raise TransformError(f'{name} must be integer nanoseconds in '
                                     f'0 .. {STAMP_LIMIT_NS}, got {value!r}')
        self.max_extrapolation_ns = int(max_extrapolation_ns)
        self.max_gap_ns = None if max_gap_ns is None else int(max_gap_ns)
        self._parent: dict[str, str] = {}
        self._static: dict[str, Transform] = {}      # by child
        self._dynamic: dict[str, _Track] = {}        # by child

    # -- building ---------------------------------------------------------------------

    def add_static(self, parent: str, child: str, transform: Transform,
                   replace: bool = False) -> None:
        """Add the edge ``parent -> child`` for all time: the pose of ``child`` in ``parent``.

        Adding the same transform again (``/tf_static`` is republished) does nothing.

        Args:
            parent: The parent frame.
            child: The child frame.
            transform: Maps points in ``child`` into ``parent``.
            replace: Replace a different static transform of the same edge instead of
                refusing it.

        Raises:
            TransformError: A bad transform, a second parent for ``child``, a cycle, a
                dynamic edge between the two frames, or a different transform already
                stored (without ``replace``).

        """
        if not isinstance(transform, Transform):
            raise TransformError(f"edge '{parent}' -> '{child}': a Transform expected, "
                                 f'got {type(transform).__name__}')
        self._link(parent, child, static=True)
        old = self._static.get(child)
        if old is not None and not replace and not old.is_close(transform):
            raise TransformError(
                f"static edge '{parent}' -> '{child}' is already {old}, now {transform} "
                '(pass replace=True to replace it)')
        self._static[child] = transform

    def add(self, parent: str, child: str, stamp_ns: int, transform: Transform) -> None:
        """Add one sample of the dynamic edge ``parent -> child`` (the pose of ``child``).

        Samples may come in any order. The same sample twice is kept once; two
        different samples at one stamp are reported by the next lookup of the edge.

        Raises:
            TransformError: A bad stamp or transform, a second parent for ``child``, a
                cycle, or a static edge between the two frames.

        """
        if not isinstance(transform, Transform):
            raise TransformError(f"edge '{parent}' -> '{child}': a Transform expected, "
                                 f'got {type(transform).__name__}')
        stamps = as_stamps(stamp_ns, f"edge '{parent}' -> '{child}'")
        self._link(parent, child, static=False)
        self._dynamic[child].extend(stamps, np.concatenate(
            [transform.translation, transform.quat])[None])

    def add_many(self, parent: str, child: str, stamps: Any, translations: Any,
                 quats_xyzw: Any) -> None:
        """Add samples of the dynamic edge ``parent -> child`` from arrays.

        Args:
            parent: The parent frame.
            child: The child frame.
            stamps: (N,) integer nanoseconds, any order.
            translations: (N, 3) metres.
            quats_xyzw: (N, 4), normalized if within ``QUAT_NORM_TOLERANCE`` of unit.

        Raises:
            TransformError: As ``add``; the message names the edge and the bad row.

        """
        what = f"edge '{parent}' -> '{child}'"
        s = as_stamps(stamps, what)
        t = as_translations(translations, what).reshape(-1, 3)
        q = unit_quaternions(quats_xyzw, what).reshape(-1, 4)
        if not len(s) == len(t) == len(q):
            raise TransformError(f'{what}: {len(s)} stamps, {len(t)} translations and '
                                 f'{len(q)} quaternions')
        self._link(parent, child, static=False)
        if len(s):
            self._dynamic[child].extend(s, np.concatenate([t, q], axis=1))

    def add_stamped(self, sample: StampedTransform) -> None:
        """Add one ``StampedTransform`` as a dynamic sample."""
        self.add(sample.parent, sample.child, sample.stamp_ns, sample.transform)

    def add_messages(self, messages: Iterable[Any], static: bool = False) -> None:
        """Add decoded ``tf2_msgs/TFMessage`` messages (objects or dicts alike).

        Each message has ``transforms``, a list of ``TransformStamped`` with
        ``header.stamp.sec``/``nanosec``, ``header.frame_id`` (the parent),
        ``child_frame_id`` and ``transform.translation.x``.. / ``rotation.x``..``w``.

        Args:
            messages: The messages, in any order.
            static: They come from ``/tf_static`` (stamps ignored).

        """
        for message in messages:
            for item in _field(message, 'transforms'):
                header = _field(item, 'header')
                parent = str(_field(header, 'frame_id'))
                child = str(_field(item, 'child_frame_id'))
                stamp = _field(header, 'stamp')
                body = _field(item, 'transform')
                t, r = _field(body, 'translation'), _field(body, 'rotation')
                what = f"edge '{parent}' -> '{child}'"
                transform = Transform.from_quat(
                    [_field(t, k) for k in 'xyz'], [_field(r, k) for k in 'xyzw'], what)
                if static:
                    self.add_static(parent, child, transform, replace=True)
                else:
                    sec, nanosec = _field(stamp, 'sec'), _field(stamp, 'nanosec')
                    self.add(parent, child, int(sec) * 1_000_000_000 + int(nanosec),
                             transform)

    @classmethod
    def from_messages(cls, tf: Iterable[Any] = (), tf_static: Iterable[Any] = (),
                      max_extrapolation_ns: int = 0,
                      max_gap_ns: int | None = None) -> TransformBuffer:
        """A buffer filled from decoded ``/tf`` and ``/tf_static`` messages."""
        buf = cls(max_extrapolation_ns, max_gap_ns)
        buf.add_messages(tf_static, static=True)
        buf.add_messages(tf, static=False)
        return buf

    def _link(self, parent: str, child: str, static: bool) -> None:
        for role, name in (('parent', parent), ('child', child)):
            if not isinstance(name, str) or not name:
                raise TransformError(f'{role} frame must be a non-empty string, got {name!r}')
        if parent == child:
            raise TransformError(f"frame '{child}' cannot be its own parent")
        old = self._parent.get(child)
        kind = 'static' if static else 'dynamic'
        if old is not None:
            if old != parent:
                raise TransformError(f"frame '{child}' would have two parents: "
                                     f"'{old}' and '{parent}'")
            if (child in self._static) != static:
                other = 'dynamic' if static else 'static'
                raise TransformError(f"edge '{parent}' -> '{child}' is {other}; "
                                     f'it cannot also be {kind}')
            return
        path = [parent]
        while path[-1] in self._parent:
            path.append(self._parent[path[-1]])
            if path[-1] == child:
                loop = ' -> '.join(f"'{f}'" for f in [parent, *reversed(path)])
                raise TransformError(f"edge '{parent}' -> '{child}' would close a cycle: "
                                     f'{loop}')
        self._parent[child] = parent
        if not static:
            self._dynamic[child] = _Track(parent, child)

    # -- reading ----------------------------------------------------------------------

    def frames(self) -> list[str]:
        """Every frame named by an edge, sorted."""
        return sorted({*self._parent, *self._parent.values()})

    def parent(self, frame: str) -> str | None:
        """The parent of ``frame``; None for a root (or an unknown frame)."""
        return self._parent.get(frame)

    def is_static(self, child: str) -> bool:
        """Whether the edge from the parent of ``child`` to ``child`` is static."""
        return child in self._static

    def covered(self, child: str) -> tuple[int, int] | None:
        """First and last sample stamps of the dynamic edge into ``child``; None if static."""
        track = self._dynamic.get(child)
        return track.covered() if track is not None else None

    def lookup(self, target: str, source: str, stamp_ns: int) -> Transform:
        """The pose of ``source`` in ``target`` at ``stamp_ns``.

        The result maps points expressed in ``source`` into ``target``: ``p_target =
        lookup(target, source, t).apply(p_source)``. It is tf2's
        ``lookup_transform(target, source, t)``, the transform from child to parent when
        ``target`` is the parent of ``source``.

        Raises:
            TransformError: An unknown frame (the known ones are listed), frames in
                different trees, or a dynamic edge on the way that has no sample near
                enough to ``stamp_ns`` (the edge and its range are named).

        """
        t, r = self.lookup_many(target, source, as_stamps(stamp_ns, 'stamp_ns'))
        return Transform(t[0], r[0])

    def lookup_many(self, target: str, source: str,
                    stamps: np.ndarray) -> tuple[np.ndarray, Rotation]:
        """The pose of ``source`` in ``target`` at each stamp, vectorized (see ``lookup``).

        Args:
            target: The frame the result maps into.
            source: The frame the result maps from.
            stamps: (N,) integer nanoseconds (int64), any order.

        Returns:
            Translations (N, 3) and a SciPy ``Rotation`` of N rotations.

        """
        s = as_stamps(stamps, f"lookup of '{source}' in '{target}'")
        up_source = self._path_to_root(source)
        up_target = self._path_to_root(target)
        above_target = set(up_target)
        common = next((f for f in up_source if f in above_target), None)
        if common is None:
            raise TransformError(
                f"frames '{source}' and '{target}' are not connected: '{source}' is in the "
                f"tree of '{up_source[-1]}', '{target}' in that of '{up_target[-1]}'")
        context = f"pose of '{source}' in '{target}'"
        source_in_common = self._down_from(common, up_source, s, context)
        target_in_common = self._down_from(common, up_target, s, context)
        inv = target_in_common[1].inv()
        t, r = _compose((-inv.apply(target_in_common[0]), inv), source_in_common)
        n = len(s)
        translationsout = np.array(np.broadcast_to(t, (n, 3)), dtype=np.float64)
        if r.single:
            r = Rotation.from_quat(np.tile(r.as_quat(), (n, 1)))
        return translationsout, r

    def _path_to_root(self, frame: str) -> list[str]:
        if frame not in self._parent and frame not in self._parent.values():
            known = self.frames()
            raise TransformError(f"unknown frame '{frame}'; known frames: "
                                 + (', '.join(f"'{f}'" for f in known) or 'none'))
        path = [frame]
        while path[-1] in self._parent:
            path.append(self._parent[path[-1]])
            if len(path) > len(self._parent) + 1:    # refused at _link; kept as a guard
                raise TransformError(f"frame '{frame}' has a cycle among its parents: "
                                     + ' -> '.join(path))
        return path

    def _down_from(self, ancestor: str, path: list[str], stamps: np.ndarray,
                   context: str) -> Chain:
        """The pose of ``path[0]`` in ``ancestor``, composing the edges of ``path``."""
        chain: Chain = (np.zeros(3), Rotation.identity())
        for child in path[:path.index(ancestor)]:
            static = self._static.get(child)
            if static is not None:
                edge: Chain = (np.array(static.translation), static.rotation)
            else:
                edge = self._dynamic[child].at(stamps, self.max_extrapolation_ns,
                                               self.max_gap_ns, context)
            chain = _compose(edge, chain)
        return chain


def _field(obj: Any, name: str) -> Any:
    """``obj.name`` or ``obj[name]``; a TransformError naming the field if neither."""
    if isinstance(obj, Mapping):
        if name in obj:
            return obj[name]
    elif hasattr(obj, name):
        return getattr(obj, name)
    raise TransformError(f"TF message: no field '{name}' in {type(obj).__name__}")
