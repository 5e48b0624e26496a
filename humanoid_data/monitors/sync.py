"""Synchronization health of sensor streams, from header stamps and receive times.

The same evaluation serves ``sync_monitor`` (a sliding window, published on /diagnostics
at 1 Hz) and the recorder (a whole episode, written into ``episode.yaml``). Per stream:

- rate over the window against the expected rate;
- latency = receive time minus header stamp, p50 and p99 (transport delay and jitter);
- gaps: consecutive header stamps more than ``gap_periods`` periods apart, and silence
  (nothing received for ``silence_s``);
- stamp regressions (a header stamp older than the previous one);
- clock offset: a negative latency means the sensor's clock runs ahead of the receiver's
  (a positive offset hides inside the latency and shows only against a trigger partner);
- trigger skew: streams that share a trigger (``trigger`` in the suite) must carry the
  same stamps; the skew is how far a stamp is from the partner's nearest one.

Each figure has a WARN and an ERROR threshold from ``config/sync.yaml``; a stream's level
is the worst, with the reasons listed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from humanoid_data.core.checks import parse_settings
from humanoid_data.core.config import StreamConfig, SuiteConfig
from humanoid_data.core.yaml_file import read_yaml
from humanoid_data.errors import ConfigError


class Level(IntEnum):
    """Health level, ordered, with the values of ``diagnostic_msgs/DiagnosticStatus``."""

    OK = 0
    WARN = 1
    ERROR = 2


@dataclass(frozen=True)
class SyncThresholds:
    """WARN and ERROR limits of every figure (``config/sync.yaml``)."""

    window_s: float = 2.0
    gap_periods: float = 1.5
    silence_s: float = 1.0
    rate_warn_fraction: float = 0.05
    rate_error_fraction: float = 0.5
    latency_warn_ms: float = 50.0
    latency_error_ms: float = 250.0
    gaps_warn: int = 1
    gaps_error: int = 20
    regressions_warn: int = 1
    regressions_error: int = 10
    clock_ahead_warn_ms: float = 1.0
    clock_ahead_error_ms: float = 20.0
    skew_warn_ms: float = 1.0
    skew_error_ms: float = 10.0
    source: str = '<defaults>'

    def __post_init__(self) -> None:
        """Check that every WARN limit is below its ERROR limit."""
        for figure in ('rate', 'latency', 'gaps', 'regressions', 'clock_ahead', 'skew'):
            suffix = '_fraction' if figure == 'rate' else (
                '_ms' if figure in ('latency', 'clock_ahead', 'skew') else '')
            warn = getattr(self, f'{figure}_warn{suffix}')
            error = getattr(self, f'{figure}_error{suffix}')
            if not 0 <= warn <= error:
                raise ConfigError(f'{figure}_warn{suffix} ({warn}) must be within 0 and '
                                  f'{figure}_error{suffix} ({error})')
        if not self.window_s > 0 or not self.gap_periods > 1 or not self.silence_s > 0:
            raise ConfigError('window_s and silence_s must be > 0, gap_periods > 1')


def parse_sync_thresholds(data: object, source: str = '<memory>') -> SyncThresholds:
    """Build ``SyncThresholds`` from parsed YAML (every key optional).

    Raises:
        ConfigError: Unknown key (the allowed ones listed), a wrong type, a number that is
            NaN or infinite, or inconsistent limits, naming the file and the key.

    """
    return parse_settings(SyncThresholds, data, source, source=source)


def load_sync_thresholds(path: str | Path) -> SyncThresholds:
    """Read and validate ``sync.yaml``.

    Raises:
        ConfigError: Unreadable, too large, not YAML, unknown key or inconsistent limits.

    """
    return parse_sync_thresholds(read_yaml(path, 'sync-health thresholds'), str(path))


@dataclass(frozen=True)
class StreamHealth:
    """Health figures of one stream over one window or episode."""

    stream: str
    topic: str
    level: Level
    reasons: tuple[str, ...]
    messages: int
    rate_hz: float
    expected_hz: float
    latency_p50_ms: float
    latency_p99_ms: float
    min_latency_ms: float
    gaps: int
    max_gap_ms: float
    regressions: int
    skew_ms: float

    def as_dict(self) -> dict[str, object]:
        """Plain values for YAML and diagnostics (NaN where a figure has no data)."""
        return {
            'level': self.level.name, 'reasons': list(self.reasons),
            'messages': self.messages, 'rate_hz': round(self.rate_hz, 2),
            'expected_hz': self.expected_hz,
            'latency_p50_ms': round(self.latency_p50_ms, 3),
            'latency_p99_ms': round(self.latency_p99_ms, 3),
            'min_latency_ms': round(self.min_latency_ms, 3), 'gaps': self.gaps,
            'max_gap_ms': round(self.max_gap_ms, 3), 'regressions': self.regressions,
            'skew_ms': round(self.skew_ms, 3),
        }


def _grade(value: float, warn: float, error: float, reason: str,
           reasons: list[str]) -> Level:
    if value > error:
        reasons.append(f'{reason} (error above {error:g})')
        return Level.ERROR
    if value > warn or (warn == 0 and value > 0):
        reasons.append(f'{reason} (warn above {warn:g})')
        return Level.WARN
    return Level.OK


def evaluate(stream: StreamConfig, stamps_ns: np.ndarray, receive_ns: np.ndarray,
             span_ns: int, now_ns: int, limits: SyncThresholds,
             skew_ns: float = 0.0) -> StreamHealth:
    """Grade one stream from its messages in a span (arrays in arrival order).

    Args:
        stream: The stream's configuration (expected rate).
        stamps_ns: Header stamps of the messages received in the span.
        receive_ns: Receive times of the same messages (same clock as ``now_ns``).
        span_ns: Length of the span the messages were collected over.
        now_ns: End of the span, to measure silence.
        limits: Thresholds.
        skew_ns: Largest distance to a trigger partner's stamp (0 without one).

    """
    reasons: list[str] = []
    n = len(stamps_ns)
    period = 1e9 / stream.rate_hz
    rate = n / (span_ns / 1e9) if span_ns > 0 else 0.0
    if n:
        latency = (receive_ns - stamps_ns) / 1e6
        p50, p99 = (float(v) for v in np.percentile(latency, [50, 99]))
        lowest = float(latency.min())
        regressions = int(np.count_nonzero(np.diff(stamps_ns) < 0))   # arrival order
        steps = np.diff(np.sort(stamps_ns))                             # missing data
        gaps = int(np.count_nonzero(steps > limits.gap_periods * period))
        max_gap = float(steps.max()) / 1e6 if len(steps) else 0.0
        silent_ns = now_ns - int(receive_ns.max())
    else:
        p50 = p99 = lowest = max_gap = float('nan')
        gaps = regressions = 0
        silent_ns = span_ns
    level = Level.OK
    if silent_ns > limits.silence_s * 1e9:
        reasons.append(f'silent for {silent_ns / 1e9:.1f} s')
        level = Level.ERROR
    shortfall = 1.0 - rate / stream.rate_hz
    level = max(level, _grade(shortfall, limits.rate_warn_fraction, limits.rate_error_fraction,
                              f'rate {rate:.1f} Hz of {stream.rate_hz:g} Hz', reasons))
    if n:
        level = max(level, _grade(p99, limits.latency_warn_ms, limits.latency_error_ms,
                                  f'latency p99 {p99:.1f} ms', reasons))
        level = max(level, _grade(gaps, limits.gaps_warn - 0.5, limits.gaps_error - 0.5,
                                  f'{gaps} gaps, longest {max_gap:.1f} ms', reasons))
        level = max(level, _grade(regressions, limits.regressions_warn - 0.5,
                                  limits.regressions_error - 0.5,
                                  f'{regressions} stamp regressions', reasons))
        level = max(level, _grade(-lowest, limits.clock_ahead_warn_ms,
                                  limits.clock_ahead_error_ms,
                                  f'header stamps {-lowest:.1f} ms ahead of the receiver clock',
                                  reasons))
    level = max(level, _grade(skew_ns / 1e6, limits.skew_warn_ms, limits.skew_error_ms,
                              f'trigger skew {skew_ns / 1e6:.2f} ms', reasons))
    return StreamHealth(stream.name, stream.topic, Level(level), tuple(reasons), n, rate,
                        stream.rate_hz, p50, p99, lowest, gaps, max_gap, regressions,
                        skew_ns / 1e6)


def trigger_groups(suite: SuiteConfig) -> dict[str, tuple[str, ...]]:
    """Topics that share a trigger, by trigger name (groups of two or more)."""
    groups: dict[str, list[str]] = {}
    for stream in suite.streamed:
        if stream.trigger:
            groups.setdefault(stream.trigger, []).append(stream.topic)
    return {k: tuple(v) for k, v in groups.items() if len(v) > 1}


def trigger_skew(stamps: Mapping[str, np.ndarray], group: Sequence[str]) -> dict[str, float]:
    """Per topic of a trigger group, the worst distance (ns) to the partner's stamps.

    Each stamp of a topic is compared with the nearest stamp of the group's first topic,
    over the time both cover; the first topic gets the worst of its partners.
    """
    reference = np.sort(stamps.get(group[0], np.empty(0, np.int64)))
    out = dict.fromkeys(group, 0.0)
    if len(reference) == 0:
        return out
    for topic in group[1:]:
        own = stamps.get(topic, np.empty(0, np.int64))
        own = own[(own >= reference[0]) & (own <= reference[-1])]
        if len(own) == 0:
            continue
        at = np.clip(np.searchsorted(reference, own), 1, len(reference) - 1)
        nearest = np.minimum(np.abs(own - reference[at - 1]), np.abs(reference[at] - own))
        worst = float(nearest.max())
        out[topic] = worst
        out[group[0]] = max(out[group[0]], worst)
    return out


def evaluate_all(suite: SuiteConfig, stamps: Mapping[str, np.ndarray],
                 receive: Mapping[str, np.ndarray], span_ns: int, now_ns: int,
                 limits: SyncThresholds,
                 streams: Iterable[StreamConfig] | None = None) -> list[StreamHealth]:
    """Grade every stream of a suite over one span, trigger skew included.

    Latched streams (published once) have no rate, gaps or silence to grade and are left
    out unless ``streams`` names them.
    """
    skew: dict[str, float] = {}
    for group in trigger_groups(suite).values():
        skew.update(trigger_skew(stamps, group))
    empty = np.empty(0, np.int64)
    return [evaluate(s, stamps.get(s.topic, empty), receive.get(s.topic, empty), span_ns,
                     now_ns, limits, skew.get(s.topic, 0.0))
            for s in (streams if streams is not None else suite.streamed)]


def summary(health: Sequence[StreamHealth]) -> dict[str, object]:
    """The worst level, the streams at fault, and per-stream figures."""
    worst = max((h.level for h in health), default=Level.OK)
    return {
        'level': Level(worst).name,
        'warn': [h.stream for h in health if h.level == Level.WARN],
        'error': [h.stream for h in health if h.level == Level.ERROR],
        'streams': {h.stream: h.as_dict() for h in health},
    }


class EpisodeSyncCheck:
    """Grades a whole episode for the recorder (see ``recording.episode.SyncCheck``)."""

    def __init__(self, suite: SuiteConfig, limits: SyncThresholds) -> None:
        """Keep the suite (rates, triggers) and the limits."""
        self.suite, self.limits = suite, limits

    def __call__(self, stamps: Mapping[str, np.ndarray], receive: Mapping[str, np.ndarray],
                 span_ns: int, end_ns: int) -> dict[str, object]:
        """Return the episode's sync summary."""
        return summary(evaluate_all(self.suite, stamps, receive, span_ns, end_ns,
                                    self.limits))


@dataclass
class SlidingWindow:
    """Header stamps and receive times of each topic over the last ``window_s``."""

    window_ns: int
    _stamps: dict[str, deque[tuple[int, int]]] = field(default_factory=dict)

    def add(self, topic: str, stamp_ns: int, receive_ns: int) -> None:
        """Record one message."""
        self._stamps.setdefault(topic, deque()).append((stamp_ns, receive_ns))

    def arrays(self, now_ns: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Forget what is older than the window; return stamps and receive times."""
        stamps, receive = {}, {}
        for topic, items in self._stamps.items():
            while items and now_ns - items[0][1] > self.window_ns:
                items.popleft()
            pairs = np.array(items, dtype=np.int64).reshape(-1, 2)
            stamps[topic], receive[topic] = pairs[:, 0], pairs[:, 1]
        return stamps, receive


class LiveSync:
    """Live sync health from what the recorder takes off its queue: no second receive.

    The recorder's writer thread already holds every message's header stamp and receive
    time; it ``add``s them here and ``tick``s once per batch. Every ``period_ns`` the
    window is graded with ``evaluate_all`` (the code sync_monitor and the episode summary
    use) and the result replaces ``health`` in one assignment, which the node's status
    timer reads from the executor thread.
    """

    def __init__(self, suite: SuiteConfig, topics: Iterable[str], limits: SyncThresholds,
                 started_ns: int, period_ns: int = 1_000_000_000) -> None:
        """Grade ``suite``'s streams; ``topics`` are the recorder's topics by index."""
        self.suite, self.limits = suite, limits
        self.window = SlidingWindow(int(limits.window_s * 1e9))
        self._topics = list(topics)
        self._graded = {s.topic for s in suite.streamed}
        self._started_ns = started_ns
        self._period_ns = period_ns
        self._next_ns = started_ns + period_ns
        self.health: tuple[StreamHealth, ...] = ()

    def add(self, index: int, stamp_ns: int, receive_ns: int) -> None:
        """Note one message of the recorder's topic ``index`` (others are ignored)."""
        topic = self._topics[index]
        if topic in self._graded:
            self.window.add(topic, stamp_ns, receive_ns)

    def tick(self, now_ns: int) -> None:
        """Grade the window when a period has passed."""
        if now_ns < self._next_ns:
            return
        self._next_ns = now_ns + self._period_ns
        stamps, receive = self.window.arrays(now_ns)
        span = min(int(self.limits.window_s * 1e9), now_ns - self._started_ns)
        self.health = tuple(evaluate_all(self.suite, stamps, receive, span, now_ns,
                                         self.limits))
