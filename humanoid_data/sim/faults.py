"""Per-stream fault injection for the simulated humanoid.

Faults are given as one YAML/JSON mapping (a ROS parameter string or a file) from stream
name to settings, e.g. ``{imu: {silent_after_s: 2.0}, wrist_left_ft: {drop_rate: 0.01}}``.

- ``latency_ms``: the message is published this long after its header stamp.
- ``jitter_ms``: plus a random delay, |N(0, jitter)|.
- ``clock_offset_ms``: the stream's header stamps are shifted by this much (a sensor whose
  clock is not synchronized).
- ``drop_rate``: this fraction of messages is never published.
- ``silent_after_s`` / ``silent_for_s``: the stream stops publishing this long after the
  simulation starts, for this long (0 = for good).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping

import numpy as np

from humanoid_data.core.checks import check_mapping, check_number, short_repr
from humanoid_data.core.yaml_file import parse_yaml_mapping
from humanoid_data.errors import ConfigError


@dataclass(frozen=True)
class StreamFault:
    """Faults of one stream; the default is a healthy stream."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    clock_offset_ms: float = 0.0
    drop_rate: float = 0.0
    silent_after_s: float = -1.0
    silent_for_s: float = 0.0

    def __post_init__(self) -> None:
        """Check ranges."""
        if self.latency_ms < 0 or self.jitter_ms < 0:
            raise ConfigError('latency_ms and jitter_ms must be >= 0')
        if not 0.0 <= self.drop_rate <= 1.0:
            raise ConfigError(f'drop_rate must be within [0, 1], got {self.drop_rate}')
        if self.silent_for_s < 0:
            raise ConfigError('silent_for_s must be >= 0')

    def publish_delay_ns(self, rng: np.random.Generator) -> int:
        """Return how long after its stamp this message goes out."""
        jitter = abs(rng.normal(0.0, self.jitter_ms)) if self.jitter_ms else 0.0
        return int((self.latency_ms + jitter) * 1e6)

    @property
    def offset_ns(self) -> int:
        """Clock offset added to header stamps."""
        return int(self.clock_offset_ms * 1e6)

    def silent(self, since_start_s: float) -> bool:
        """Whether the stream is silent at this time since the simulation started."""
        if self.silent_after_s < 0 or since_start_s < self.silent_after_s:
            return False
        return self.silent_for_s == 0 or since_start_s < self.silent_after_s + self.silent_for_s


HEALTHY = StreamFault()


def parse_faults(text: str, streams: set[str]) -> Mapping[str, StreamFault]:
    """Parse a fault mapping.

    Args:
        text: YAML or JSON mapping from stream name to fault settings; empty for none.
        streams: The stream names of the suite, to catch typos.

    Returns:
        Stream name to its faults.

    Raises:
        ConfigError: Not YAML (naming the line), unknown stream or key, or a bad value
            (not a number, NaN, infinite, out of range), named in the message.

    """
    data = parse_yaml_mapping(text, 'faults', 'a mapping from stream name to settings')
    known = {f.name for f in fields(StreamFault)}
    result = {}
    for name, settings in data.items():
        if name not in streams:
            raise ConfigError(f'faults: unknown stream {short_repr(name)}; streams: '
                              f'{", ".join(sorted(streams))}')
        where = f'faults.{name}'
        settings = check_mapping(settings, known, where)
        values = {k: check_number(v, f'{where}.{k}') for k, v in settings.items()}
        try:
            result[name] = StreamFault(**values)
        except ConfigError as err:
            raise ConfigError(f'{where}: {err}') from None
    return result
