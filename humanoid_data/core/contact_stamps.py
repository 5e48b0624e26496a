"""Where a contact begins and ends: stamps at the baseline, not at the thresholds.

The hysteresis of ``core.contact`` decides *that* a contact began or ended; a threshold
is crossed partway up the rising edge, so the crossing sample lags the touch by the rise
time to the threshold. ``EdgeStamper`` keeps a short ring of recent samples per channel
and, once a transition is confirmed, finds *where* the signal left or rejoined its
baseline:

- **band**: at tare the detector's signal is measured at rest; ``band_sigma`` standard
  deviations above its mean bound the baseline noise.
- **onset**: a line that is flat (the baseline) and then rises is fitted by least squares
  to the samples from ``backtrack_s`` before the crossing up to it (``ramp_bend``). The
  onset is the first sample after the bend (less a quarter sample period, so a bend
  estimated a little late does not cost a whole sample). A step gives the step's sample;
  a ramp of any slope gives the first sample after its foot, whatever the threshold
  height. The event still goes out when the hysteresis confirms it: only its stamp
  moves back.
- **offset**: after the hysteresis confirms the end, the detector waits (at most
  ``settle_s`` after the crossing) until the signal is back within the band. The stretch
  that has stayed predominantly within the band since is tracked sample by sample (a
  late confirmation does not lose it); the same fit, mirrored in time, finds where the
  fall reached the baseline: the offset is the first sample there.

The fit reads each sample as a vector (force, taxel pressures above baseline) projected
on the contact's own direction or pattern, which averages the noise of every axis or
taxel with the weight it carries. numpy only; the fit runs once per transition.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple, Sequence

import numpy as np


class _Sample(NamedTuple):
    stamp_ns: int
    value: float        # the detector's signal (force magnitude, clipped total pressure)
    edge: np.ndarray    # the bias-free sample as a vector, for the fit


def project(edges: Sequence[np.ndarray], contact: Sequence[np.ndarray]) -> np.ndarray:
    """Each edge vector projected on the mean direction of ``contact`` (its length if none)."""
    vectors = np.array(edges, dtype=float)
    direction = np.sum(contact, axis=0) if len(contact) else np.zeros(vectors.shape[1])
    norm = float(np.linalg.norm(direction))
    projected: np.ndarray = (vectors @ (direction / norm) if norm > 0
                             else np.linalg.norm(vectors, axis=1))
    return projected


def ramp_bend(x: np.ndarray, y: np.ndarray, noise: float = 0.0,
              cells: int = 32) -> float | None:
    """Where a flat-then-rising line fitted to ``(x, y)`` most likely bends, in ``x`` units.

    The model is ``y = a + s * max(x - tau, 0)`` with ``s > 0``; the last point must lie
    on the ramp. Every gap between neighbours is cut into ``cells``; at each ``tau`` the
    level and slope are fitted by least squares, and the residuals, against the noise
    variance (``noise``, or what the best fit leaves if more), weigh how likely that
    ``tau`` is; the median of those weights is returned. Two points always fit a ramp
    exactly, so a bend just before the last two is not considered: a rise within one
    gap is a step, and its bend lies in that gap.

    Args:
        x: Ascending sample times.
        y: Sample values.
        noise: Variance of ``y`` at rest.
        cells: Candidate bends per gap.

    Returns:
        The bend (within ``x[0] .. x[-1]``), or None when no rising fit exists (fewer
        than two points, or nothing rises).

    """
    n = len(x)
    if n < 2:
        return None

    def suffix(a: np.ndarray) -> np.ndarray:   # sums over i >= j, for j = 1 .. n-1
        return np.cumsum(a[::-1])[::-1][1:, None]
    sx, sy, sxx, sxy = suffix(x), suffix(y), suffix(x * x), suffix(x * y)
    m = np.arange(n - 1, 0, -1, dtype=float)[:, None]       # ramp points per gap
    width = np.diff(x)[:, None]
    tau = x[:-1, None] + width * ((np.arange(cells) + 0.5) / cells)
    su = sx - m * tau                                        # u = max(x - tau, 0)
    cov = sxy - tau * sy - su * (y.sum() / n)
    var = sxx - 2 * tau * sx + m * tau * tau - su * su / n
    rising = (cov > 0) & (var > 0) & (m != 2)
    if not rising.any():
        return None
    with np.errstate(divide='ignore', invalid='ignore'):
        sse = float(np.sum((y - y.mean()) ** 2)) - np.where(rising, cov * cov / var, 0.0)
    best = float(sse[rising].min())
    noise = max(noise, best / max(n - 3, 1), 1e-12 * float(np.sum(y * y)), 1e-300)
    weight = np.where(rising, np.exp(-(sse - best) / (2 * noise)) * width / cells, 0.0)
    cumulative = np.cumsum(weight.ravel())
    if not np.isfinite(cumulative[-1]) or cumulative[-1] <= 0:
        # The weights under- or overflowed (a ramp far steeper than the noise): the best
        # fit's bend is the answer.
        return float(tau.ravel()[np.flatnonzero(rising.ravel() & (sse.ravel() == best))[0]])
    index = min(int(np.searchsorted(cumulative, cumulative[-1] / 2)), cumulative.size - 1)
    return float(tau.ravel()[index])


def _slack(x: np.ndarray) -> float:
    """A quarter of the typical sample period of ``x``."""
    return 0.25 * float(np.median(np.diff(x))) if len(x) > 1 else 0.0


class EdgeStamper:
    """Recent samples of one channel and the onset and offset stamps drawn from them."""

    def __init__(self, on: float, band_sigma: float, backtrack_ns: int,
                 keep_ns: int) -> None:
        """Keep ``keep_ns`` of samples; fit at most ``backtrack_ns`` before a crossing."""
        self._on = on
        self._sigmas = band_sigma
        self._backtrack_ns = backtrack_ns
        self._keep_ns = max(keep_ns, backtrack_ns)
        self._ring: deque[_Sample] = deque()
        self.band = np.inf                 # top of the baseline band; set by set_baseline
        self._noise = 0.0                  # variance of one edge component at rest
        self._floor_ns = -1                # stamps must be later than this (last offset)
        self._run_sum = 0.0                # best sum of (band - value) ending now...
        self._run_start_ns: int | None = None   # ...and where that stretch begins

    def set_baseline(self, values: np.ndarray, edge_noise: float) -> None:
        """Set the band from the signal at rest (tare samples) and the edge noise.

        Args:
            values: The detector's signal of each tare sample.
            edge_noise: Variance of one component of an edge vector at rest.

        """
        self._noise = edge_noise
        spread = self._sigmas * float(np.std(values)) if len(values) > 1 else 0.0
        self.band = float(np.mean(values)) + max(spread, 1e-6 * self._on)
        self._ring.clear()
        self.contact_began()

    def add(self, stamp_ns: int, value: float, edge: np.ndarray) -> None:
        """Remember one sample (signal and edge vector) and update the in-band stretch."""
        ring = self._ring
        ring.append(_Sample(stamp_ns, value, edge))
        while stamp_ns - ring[0].stamp_ns > self._keep_ns:
            ring.popleft()
        excess = self.band - value
        if self._run_sum <= 0:
            self._run_sum, self._run_start_ns = excess, stamp_ns
        else:
            self._run_sum += excess

    def contact_began(self) -> None:
        """Look for the return to the band afresh (a contact was confirmed)."""
        self._run_sum, self._run_start_ns = 0.0, None

    @property
    def settled(self) -> bool:
        """Whether the newest sample lies within the baseline band."""
        return bool(self._ring) and self._ring[-1].value <= self.band

    def onset_stamp(self, crossing_ns: int) -> int:
        """Stamp of the first sample of the rise that crossed the threshold at ``crossing_ns``."""
        begin = max(self._floor_ns + 1, crossing_ns - self._backtrack_ns)
        window = [s for s in self._ring if begin <= s.stamp_ns <= crossing_ns]
        if not window:
            return crossing_ns
        stamps = np.array([s.stamp_ns for s in window], dtype=np.int64)
        x = (stamps - crossing_ns) / 1e6
        y = project([s.edge for s in window],
                    [s.edge for s in self._ring if s.stamp_ns >= crossing_ns])
        bend = ramp_bend(x, y, self._noise)
        if bend is None:
            return crossing_ns
        return int(stamps[int(np.searchsorted(x, bend - _slack(x), side='right'))])

    def offset_stamp(self, crossing_ns: int) -> int:
        """Stamp of the first sample back at the baseline after the fall past ``crossing_ns``.

        Found after the last sample at or above ``on`` before the stretch within the band,
        up to the newest sample; the stretch's start when the fall is out of reach, the
        crossing itself when the signal never got back.
        """
        start = self._run_start_ns
        if start is None or self._run_sum <= 0:
            return self._end(crossing_ns)
        ring = list(self._ring)
        stamps = np.array([s.stamp_ns for s in ring], dtype=np.int64)
        first = int(np.searchsorted(stamps, start))
        firm = next((i for i in range(first - 1, -1, -1) if ring[i].value >= self._on), None)
        if firm is None or stamps[firm] < start - self._backtrack_ns:
            return self._end(start)
        r = (stamps[firm:] - stamps[firm]) / 1e6
        y = project([s.edge for s in ring[firm:]],
                    [s.edge for s in ring[firm:] if s.value > self.band])
        bend = ramp_bend(-r[::-1], y[::-1], self._noise)   # mirrored: the fall is a rise
        if bend is None:
            return self._end(start)
        at = firm + max(1, int(np.searchsorted(r, -bend - _slack(r))))
        return self._end(int(stamps[min(at, len(ring) - 1)]))

    def _end(self, stamp_ns: int) -> int:
        self._floor_ns = stamp_ns
        return stamp_ns
