"""The on/off switch of contact detection: two thresholds and minimum durations.

``core.contact`` feeds it each channel's signal; ``core.contact_stamps`` then moves the
stamp of a confirmed transition from the crossing to where the signal left or rejoined
its baseline.
"""

from __future__ import annotations

from humanoid_data.core.events import Transition


class Hysteresis:
    """On/off switch with two thresholds and minimum durations, stamped at the crossing."""

    def __init__(self, on: float, off: float, min_on_ns: int, min_off_ns: int) -> None:
        """Start in the off state."""
        self.on, self.off = on, off
        self.min_on_ns, self.min_off_ns = min_on_ns, min_off_ns
        self.active = False
        self.peak = 0.0
        self.crossing_ns = 0                 # stamp of the last confirmed crossing
        self._candidate: int | None = None   # stamp of the crossing being confirmed
        self._candidate_peak = 0.0

    def update(self, stamp_ns: int, value: float, may_start: bool = True) -> Transition | None:
        """Feed one sample; return ONSET or OFFSET when a transition is confirmed.

        The confirmed transition happened at ``crossing_ns``, the sample that crossed.
        ``may_start`` False holds off an onset (a pad with too few active taxels).
        """
        if not self.active:
            if self._candidate is None:
                if value >= self.on and may_start:
                    self._candidate, self._candidate_peak = stamp_ns, value
            elif value < self.off:
                self._candidate = None      # too short: noise, not contact
            else:
                self._candidate_peak = max(self._candidate_peak, value)
            if self._candidate is not None and stamp_ns - self._candidate >= self.min_on_ns:
                self.active, self.peak = True, self._candidate_peak
                self.crossing_ns, self._candidate = self._candidate, None
                return Transition.ONSET
            return None
        self.peak = max(self.peak, value)
        if self._candidate is None:
            if value < self.off:
                self._candidate = stamp_ns
        elif value >= self.off:
            self._candidate = None          # dipped and came back: still in contact
        if self._candidate is not None and stamp_ns - self._candidate >= self.min_off_ns:
            self.active = False
            self.crossing_ns, self._candidate = self._candidate, None
            return Transition.OFFSET
        return None
