"""The topics a recorder subscribes to: every stream of the suite plus the events topic."""

from __future__ import annotations

from typing import NamedTuple

from humanoid_data.core.config import Reliability, SuiteConfig

EVENTS_TOPIC = '/humanoid_data/events'
EVENTS_TYPE = 'std_msgs/msg/String'
EVENTS_DEPTH = 1000


class TopicSpec(NamedTuple):
    """One recorded topic."""

    topic: str
    msgtype: str
    stream: str            # stream name in the suite, 'events' for the events topic
    required: bool
    rate_hz: float         # expected rate; 0 when event-driven
    reliability: Reliability
    depth: int
    has_header: bool       # stamp from header.stamp; events use their JSON stamp_ns
    latched: bool = False  # kept by the recorder and repeated into every episode bag
    stamp_offset: int = 4  # where header.stamp sits in the CDR bytes (8: a TFMessage)

    @property
    def is_events(self) -> bool:
        """Whether this is the events topic (JSON events, stamped by their ``stamp_ns``)."""
        return self.stream == 'events'


def topics_for(suite: SuiteConfig, events_topic: str = EVENTS_TOPIC) -> tuple[TopicSpec, ...]:
    """Return the recorded topics of ``suite``, events last.

    A latched stream has no expected rate (0, like events): it is never silent and has no
    stamp gaps; a headerless one is stamped with its receive time.
    """
    specs = [TopicSpec(s.topic, s.msgtype, s.name, s.required, s.rate_hz, s.qos.reliability,
                       s.qos.depth, s.has_header, s.latched, s.stamp_offset)
             for s in suite.streams]
    specs.append(TopicSpec(events_topic, EVENTS_TYPE, 'events', False, 0.0,
                           Reliability.RELIABLE, EVENTS_DEPTH, False))
    return tuple(specs)
