"""Contact detection from wrist force-torque and fingertip tactile pads, streaming.

The same code runs live in ``contact_monitor`` and offline in the converter. Each channel
(one wrist, one pad) has a detector fed one sample at a time with its hardware stamp:

- **tare**: the first ``tare_s`` of samples (and again after ``tare()``) set the bias of a
  wrist or the per-taxel baseline of a pad; nothing is reported before.
- **hysteresis**: contact begins when the signal reaches the ``on`` threshold and stays
  above ``off`` for ``min_on_s``; it ends when the signal stays below ``off`` for
  ``min_off_s``. Between the two thresholds the state never changes, so noise around one
  threshold cannot chatter.
- **stamps** (``core.contact_stamps``): an onset is reported once the minimum duration
  confirmed it, stamped with the first sample where the signal left its baseline (found
  back from the crossing); an offset is reported once the signal is back within its
  baseline band (at most ``settle_s`` after the crossing), stamped with the first sample
  back there.
- **slip** while in firm contact (signal at or above ``on``): a wrist whose force
  magnitude falls by ``slip_drop_fraction`` of its recent peak within ``slip_window_s``
  (the load slid out of the grip), or a pad whose pressure centroid moves
  ``slip_taxels`` within ``slip_window_s``. A signal fading out through the band
  between the thresholds is a release, not a slip.

A wrist signal is the magnitude of force minus bias (N); a pad signal is its total
pressure above baseline (kPa), and onset also needs ``min_taxels`` taxels above
``taxel_kpa``. Samples holding NaN or infinity are skipped and counted in ``invalid``.

The thresholds come from ``core.contact_config``, the hysteresis from
``core.contact_switch``; pairing contact events into intervals and scoring them lives in
``core.intervals``.
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple, Sequence

import numpy as np

from humanoid_data.core.config import Modality, StreamConfig, SuiteConfig
from humanoid_data.core.contact_config import ContactConfig, TactileThresholds, WrenchThresholds
from humanoid_data.core.contact_stamps import EdgeStamper
from humanoid_data.core.contact_switch import Hysteresis
from humanoid_data.core.events import Contact, Source, Transition
from humanoid_data.errors import ConfigError


def channel_of(stream: StreamConfig) -> str:
    """The contact channel a stream feeds: ``wrist/<side>`` or ``tactile/<side>/<finger>``.

    The name is the topic without its leading slash and, for a wrench, without a last
    ``ft`` segment; the simulated humanoid's ground truth uses the same names.
    """
    path = stream.topic.strip('/')
    if stream.modality == Modality.WRENCH and path.endswith('/ft'):
        path = path[:-3]
    return path


def contact_streams(suite: SuiteConfig) -> tuple[StreamConfig, ...]:
    """The streams of a suite that contact detection reads."""
    return tuple(s for s in suite.streams if s.modality in (Modality.WRENCH, Modality.TACTILE))


class ContactChange(NamedTuple):
    """A detected transition of one channel."""

    channel: str
    transition: Transition
    stamp_ns: int
    value: float        # onset/offset: peak of the contact so far; slip: the drop or shift

    def to_event(self, taxonomy: str = '',
                 source: Source = Source.CONTACT_MONITOR) -> Contact:
        """Return the change as an event for the events topic."""
        return Contact(self.stamp_ns, source, taxonomy, channel=self.channel,
                       transition=self.transition, peak=round(float(self.value), 4))


class _Detector:
    """Tare, validity, stamps and event plumbing shared by both sensor kinds."""

    def __init__(self, channel: str, tare_ns: int, switch: Hysteresis,
                 thresholds: WrenchThresholds | TactileThresholds) -> None:
        self.channel = channel
        self.switch = switch
        backtrack_ns = int(thresholds.backtrack_s * 1e9)
        self._settle_ns = int(thresholds.settle_s * 1e9)
        keep_ns = backtrack_ns + max(switch.min_on_ns, switch.min_off_ns + self._settle_ns)
        self._stamper = EdgeStamper(switch.on, thresholds.band_sigma, backtrack_ns, keep_ns)
        self._pending: tuple[int, float] | None = None   # offset crossing and peak
        self.invalid = 0
        self._tare_ns = tare_ns
        self._tare_samples: list[np.ndarray] = []
        self._tare_start: int | None = None
        self._baseline: np.ndarray | None = None
        self._slip_window_ns = int(thresholds.slip_window_s * 1e9)
        self._recent: deque[tuple[int, Any]] = deque()
        self.last_stamp_ns = 0

    @property
    def tared(self) -> bool:
        """Whether a bias (baseline) is in force."""
        return self._baseline is not None

    def tare(self) -> None:
        """Estimate the bias again from the next ``tare_s`` of samples.

        A contact in progress keeps its state; the old bias stays in force meanwhile.
        """
        self._tare_samples, self._tare_start = [], None

    def _collect_tare(self, stamp_ns: int, raw: np.ndarray) -> None:
        if self._tare_start is None:
            self._tare_start = stamp_ns
        self._tare_samples.append(raw)
        if stamp_ns - self._tare_start >= self._tare_ns:
            samples = np.array(self._tare_samples)
            self._baseline = samples.mean(axis=0)
            tared = samples - self._baseline
            noise = float(np.var(tared.reshape(len(tared), -1), axis=0).mean())
            self._stamper.set_baseline(self._signals(tared), noise)
            self._tare_samples, self._tare_start = [], -1

    def _signals(self, tared: np.ndarray) -> np.ndarray:
        """The detector's signal of each of a stack of bias-free samples."""
        raise NotImplementedError

    def _feed(self, stamp_ns: int, raw: np.ndarray) -> np.ndarray | None:
        """Common checks; return the bias-free sample, or None when nothing to detect."""
        if not np.all(np.isfinite(raw)):
            self.invalid += 1
            return None
        self.last_stamp_ns = stamp_ns
        if self._tare_start != -1 and not (self.switch.active and self.tared):
            self._collect_tare(stamp_ns, raw)
        if self._baseline is None:
            return None
        tared: np.ndarray = raw - self._baseline
        return tared

    def _changes(self, stamp_ns: int, value: float, may_start: bool, slip: float,
                 edge: np.ndarray) -> list[ContactChange]:
        self._stamper.add(stamp_ns, value, edge)
        out = []
        transition = self.switch.update(stamp_ns, value, may_start)
        if transition == Transition.ONSET:
            out += self._settle(stamp_ns, force=True)   # a pending offset goes first
            self._stamper.contact_began()
            out.append(ContactChange(self.channel, transition,
                                     self._stamper.onset_stamp(self.switch.crossing_ns),
                                     self.switch.peak))
            self._recent.clear()
        elif transition == Transition.OFFSET:
            self._pending = (self.switch.crossing_ns, self.switch.peak)
            self._recent.clear()
        out += self._settle(stamp_ns)
        if slip > 0 and self.switch.active and transition is None:
            out.append(ContactChange(self.channel, Transition.SLIP, stamp_ns, slip))
            self._recent.clear()
        return out

    def _settle(self, stamp_ns: int, force: bool = False) -> list[ContactChange]:
        """The pending offset, once the signal is back in its band (or waited enough)."""
        if self._pending is None:
            return []
        crossing, peak = self._pending
        if not (force or self._stamper.settled or stamp_ns - crossing >= self._settle_ns):
            return []
        self._pending = None
        return [ContactChange(self.channel, Transition.OFFSET,
                              self._stamper.offset_stamp(crossing), peak)]

    def close(self) -> list[ContactChange]:
        """End of data: report a pending offset; close a contact in progress at the end."""
        out = self._settle(self.last_stamp_ns, force=True)
        if self.switch.active:
            self.switch.active = False
            out.append(ContactChange(self.channel, Transition.OFFSET, self.last_stamp_ns,
                                     self.switch.peak))
        return out

    def _window(self, stamp_ns: int, value: Any) -> deque[tuple[int, Any]]:
        """Append a value and forget those older than the slip window."""
        recent = self._recent
        recent.append((stamp_ns, value))
        while recent and stamp_ns - recent[0][0] > self._slip_window_ns:
            recent.popleft()
        return recent


class WrenchContactDetector(_Detector):
    """Contact on one wrist from its force (N); torque is not used."""

    def __init__(self, channel: str, config: ContactConfig) -> None:
        """Prepare an untared detector."""
        t = config.wrench
        super().__init__(channel, int(config.tare_s * 1e9),
                         Hysteresis(t.on_n, t.off_n, int(t.min_on_s * 1e9),
                                    int(t.min_off_s * 1e9)), t)
        self._drop = t.slip_drop_fraction

    def update(self, stamp_ns: int, force: Sequence[float]) -> list[ContactChange]:
        """Feed one force sample; return the confirmed changes."""
        sample = self._feed(stamp_ns, np.asarray(force, dtype=float))
        if sample is None:
            return []
        magnitude = float(np.sqrt(sample @ sample))
        slip = 0.0
        if self._drop > 0 and self.switch.active:
            recent = self._window(stamp_ns, magnitude)
            peak = max(v for _, v in recent)
            if self.switch.on <= magnitude < (1 - self._drop) * peak:
                slip = peak - magnitude
        return self._changes(stamp_ns, magnitude, True, slip, sample)

    def _signals(self, tared: np.ndarray) -> np.ndarray:
        signals: np.ndarray = np.linalg.norm(tared, axis=1)
        return signals


class TactileContactDetector(_Detector):
    """Contact on one fingertip pad from its taxel pressures (kPa)."""

    def __init__(self, channel: str, config: ContactConfig) -> None:
        """Prepare an untared detector."""
        t = config.tactile
        super().__init__(channel, int(config.tare_s * 1e9),
                         Hysteresis(t.on_kpa, t.off_kpa, int(t.min_on_s * 1e9),
                                    int(t.min_off_s * 1e9)), t)
        self._taxel = t.taxel_kpa
        self._min_taxels = t.min_taxels
        self._slip_taxels = t.slip_taxels
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    def update(self, stamp_ns: int, taxels: np.ndarray) -> list[ContactChange]:
        """Feed one pressure grid (rows x cols); return the confirmed changes."""
        sample = self._feed(stamp_ns, np.asarray(taxels, dtype=float))
        if sample is None:
            return []
        pressure = np.clip(sample, 0.0, None)
        total = float(pressure.sum())
        active = int(np.count_nonzero(pressure > self._taxel))
        slip = 0.0
        if self._slip_taxels > 0 and self.switch.active and total >= self.switch.on:
            rows, cols = self._mesh(pressure.shape)
            centre = complex(float((rows * pressure).sum()) / total,
                             float((cols * pressure).sum()) / total)
            recent = self._window(stamp_ns, centre)
            shift = max(abs(centre - c) for _, c in recent)
            if shift >= self._slip_taxels:
                slip = shift
        return self._changes(stamp_ns, total, active >= self._min_taxels, slip,
                             sample.ravel())

    def _signals(self, tared: np.ndarray) -> np.ndarray:
        totals: np.ndarray = np.clip(tared, 0.0, None).sum(axis=(1, 2))
        return totals

    def _mesh(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        if self._grid is None or self._grid[0].shape != shape:
            self._grid = tuple(np.meshgrid(np.arange(shape[0]), np.arange(shape[1]),
                                           indexing='ij'))  # type: ignore[assignment]
        return self._grid  # type: ignore[return-value]


def make_detector(stream: StreamConfig,
                  config: ContactConfig) -> WrenchContactDetector | TactileContactDetector:
    """Return the detector for one wrench or tactile stream.

    Raises:
        ConfigError: The stream is neither.

    """
    if stream.modality == Modality.WRENCH:
        return WrenchContactDetector(channel_of(stream), config)
    if stream.modality == Modality.TACTILE:
        return TactileContactDetector(channel_of(stream), config)
    raise ConfigError(f'stream {stream.name} ({stream.modality.value}) carries no contact')
