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
- **quaternions** are ``(x, y, z, w)``, as in ROS and SciPy, checked by ``core.rigid``
  (which also holds ``Transform`` itself).

Stamps are int64 nanoseconds throughout, never float seconds: two samples a nanosecond
apart stay apart, and interpolation weights come from integer differences.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from humanoid_data.core.rigid import (
    QUAT_NORM_TOLERANCE, SAME_TOLERANCE, STAMP_LIMIT_NS, StampedTransform, Transform,
    TransformError, as_stamps, as_translations, unit_quaternions)


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
            same = (np.linalg.norm(a[:, :3] - b[:, :3], axis=1) <= SAME_TOLERANCE) & (
                np.abs(np.sum(a[:, 3:] * b[:, 3:], axis=1)) >= 1 - SAME_TOLERANCE ** 2)
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

    def root(self, frame: str) -> str:
        """The root of the tree ``frame`` belongs to.

        Raises:
            TransformError: Unknown frame.

        """
        return self._path_to_root(frame)[-1]

    def is_fixed(self, target: str, source: str) -> bool:
        """Whether every edge between two connected frames is static (a fixed mount).

        Raises:
            TransformError: An unknown frame, or the two are not connected.

        """
        up_source, up_target = self._path_to_root(source), self._path_to_root(target)
        common = next((f for f in up_source if f in set(up_target)), None)
        if common is None:
            raise TransformError(f"frames '{target}' and '{source}' are not connected")
        edges = up_source[:up_source.index(common)] + up_target[:up_target.index(common)]
        return all(child in self._static for child in edges)

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


# The rigid transform and its checks live in core.rigid; they are part of this API too.
__all__ = ['QUAT_NORM_TOLERANCE', 'STAMP_LIMIT_NS', 'StampedTransform', 'Transform',
           'TransformBuffer', 'TransformError', 'as_stamps', 'as_translations',
           'unit_quaternions']
