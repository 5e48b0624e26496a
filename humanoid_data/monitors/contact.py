"""Contact monitoring of a whole suite: CDR in, contact changes out, no ROS needed.

``contact_monitor`` feeds it the raw bytes its subscriptions receive; tests and
benchmarks feed it the simulated humanoid's messages directly.
"""

from __future__ import annotations

from typing import Iterable

from humanoid_data.bag.decode import ImageArray, WrenchSample, decode
from humanoid_data.core.config import SuiteConfig
from humanoid_data.core.contact import ContactChange, contact_streams, make_detector
from humanoid_data.core.contact_config import ContactConfig
from humanoid_data.errors import DecodeError


class ContactMonitor:
    """One detector per wrench and tactile stream of a suite, keyed by topic."""

    def __init__(self, suite: SuiteConfig, config: ContactConfig) -> None:
        """Create untared detectors for every contact stream."""
        self.streams = contact_streams(suite)
        self.detectors = {s.topic: make_detector(s, config) for s in self.streams}
        self._types = {s.topic: s.msgtype for s in self.streams}
        self.undecodable = dict.fromkeys(self.detectors, 0)

    @property
    def topics(self) -> tuple[str, ...]:
        """Topics the monitor reads."""
        return tuple(self.detectors)

    def tare(self) -> None:
        """Re-estimate every bias and baseline from the next samples."""
        for detector in self.detectors.values():
            detector.tare()

    def on_message(self, topic: str, raw: bytes | memoryview) -> list[ContactChange]:
        """Feed one serialized message; return the confirmed changes of its channel.

        Raises:
            DecodeError: The bytes are not a message of the stream's type (the count of
                such messages is kept in ``undecodable``).

        """
        detector = self.detectors[topic]
        try:
            value = decode(raw, self._types[topic])
        except DecodeError:
            self.undecodable[topic] += 1
            raise
        if isinstance(value, WrenchSample):
            return detector.update(value.header_ns, value.force)  # type: ignore[arg-type]
        assert isinstance(value, ImageArray)
        return detector.update(value.header_ns, value.pixels)  # type: ignore[arg-type]

    def invalid_samples(self) -> dict[str, int]:
        """Samples skipped per topic because they held NaN or infinity."""
        return {t: d.invalid for t, d in self.detectors.items()}

    def close(self) -> list[ContactChange]:
        """End of data: offsets for contacts still in progress."""
        out: list[ContactChange] = []
        for detector in self.detectors.values():
            out.extend(detector.close())
        return out


def run_offline(monitor: ContactMonitor,
                messages: Iterable[tuple[str, bytes]]) -> list[ContactChange]:
    """Feed ``(topic, raw)`` pairs in order; return every change, closed at the end."""
    changes: list[ContactChange] = []
    wanted = set(monitor.topics)
    for topic, raw in messages:
        if topic in wanted:
            changes.extend(monitor.on_message(topic, raw))
    changes.extend(monitor.close())
    return changes
