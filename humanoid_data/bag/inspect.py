"""Figures of one episode bag: per topic counts, rates, stamp gaps, latency; its events.

Reads raw messages once (rosbags ``Reader``), peeks header stamps without deserializing
and decodes only the events topic.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from rosbags.rosbag2 import Reader

from humanoid_data.bag.episode_reader import find_suite
from humanoid_data.bag.metadata import check_bag_metadata
from humanoid_data.bag.stamps import header_stamp_ns, string_payload
from humanoid_data.core.config import STAMP_OFFSETS
from humanoid_data.core.events import EventBase, decode_event, encode_event
from humanoid_data.errors import BagError, DecodeError, EventError, HumanoidDataError

EVENT_TYPE = 'std_msgs/msg/String'


def _stream_topics(path: Path) -> set[str]:
    """Topics of the session's suite, which are streams and not events.

    A String among them (``/robot_description``) is a latched stream; without a
    suite.yaml every String topic is taken for events.
    """
    try:
        return set(find_suite(path).by_topic())
    except HumanoidDataError:
        return set()


@dataclass(frozen=True)
class TopicReport:
    """Figures of one topic."""

    topic: str
    msgtype: str
    count: int
    nbytes: int
    rate_hz: float | None        # from header stamps
    max_gap_s: float | None
    first_stamp_ns: int | None
    last_stamp_ns: int | None
    latency_ms: dict[str, float]  # receive minus header: p50, p99, max
    stamp_source: str             # 'header' or 'receive'


class BagReport(NamedTuple):
    """Everything ``humanoid-data inspect`` shows."""

    path: str
    duration_s: float
    messages: int
    topics: list[TopicReport]
    events: list[EventBase]
    malformed_events: int

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            'path': self.path, 'duration_s': self.duration_s, 'messages': self.messages,
            'topics': [asdict(t) for t in self.topics],
            'events': [json.loads(encode_event(e)) for e in self.events],
            'malformed_events': self.malformed_events,
        }


def _topic_report(topic: str, msgtype: str, header: list[int], receive: list[int],
                  nbytes: int) -> TopicReport:
    count = len(receive)
    stamps = np.asarray(header if header else receive, dtype=np.int64)
    source = 'header' if header else 'receive'
    rate = gap = first = last = None
    if count:
        first, last = int(stamps.min()), int(stamps.max())
    if count > 1:
        ordered = np.sort(stamps)
        span = (ordered[-1] - ordered[0]) / 1e9
        rate = round((count - 1) / span, 3) if span > 0 else None
        gap = round(float(np.diff(ordered).max()) / 1e9, 6)
    latency: dict[str, float] = {}
    if header:
        lat = (np.asarray(receive, dtype=np.int64) - np.asarray(header, dtype=np.int64)) / 1e6
        latency = {'p50': round(float(np.percentile(lat, 50)), 3),
                   'p99': round(float(np.percentile(lat, 99)), 3),
                   'max': round(float(lat.max()), 3)}
    return TopicReport(topic, msgtype, count, nbytes, rate, gap, first, last, latency, source)


def _reason(err: BaseException) -> str:
    """A reader library's error as a reason: its text, else what kind of damage."""
    text = ' '.join(str(err).split())
    if isinstance(err, MemoryError):
        return 'a record claims more bytes than can be held (a damaged length field)'
    return text or f'unreadable data ({type(err).__name__})'


def inspect_bag(path: str | Path) -> BagReport:
    """Read a bag and return its figures.

    Args:
        path: Bag folder (with metadata.yaml) or episode folder.

    Returns:
        The report.

    Raises:
        BagError: The bag is missing, truncated or unreadable, naming the path.

    """
    path = Path(path)
    check_bag_metadata(path)
    header: dict[str, list[int]] = {}
    receive: dict[str, list[int]] = {}
    sizes: dict[str, int] = {}
    types: dict[str, str] = {}
    events: list[EventBase] = []
    malformed = 0
    streams = _stream_topics(path)
    try:
        with Reader(path) as reader:
            for conn in reader.connections:
                types[conn.topic] = conn.msgtype
                header.setdefault(conn.topic, [])
                receive.setdefault(conn.topic, [])
                sizes.setdefault(conn.topic, 0)
            for conn, log_ns, raw in reader.messages():
                receive[conn.topic].append(log_ns)
                sizes[conn.topic] += len(raw)
                if conn.msgtype == EVENT_TYPE:
                    if conn.topic in streams:
                        continue       # a headerless stream: stamped by its receive time
                    try:
                        events.append(decode_event(string_payload(raw)))
                    except (DecodeError, EventError):
                        malformed += 1
                    continue
                try:
                    header[conn.topic].append(
                        header_stamp_ns(raw, STAMP_OFFSETS.get(conn.msgtype, 4)))
                except DecodeError as err:
                    raise BagError(f'{path}: topic {conn.topic}: {err}') from err
            duration = reader.duration / 1e9 if reader.message_count else 0.0
            total = reader.message_count
    except BagError:
        raise
    except Exception as err:  # the reader library trips over damaged bytes in many ways
        raise BagError(f'{path}: cannot read bag: {_reason(err)}') from err
    topics = [_topic_report(t, types[t], header[t], receive[t], sizes[t]) for t in sorted(types)]
    events.sort(key=lambda e: e.stamp_ns)
    return BagReport(str(path), round(duration, 3), total, topics, events, malformed)


def read_events(path: str | Path) -> tuple[list[EventBase], int]:
    """Read only the events of a bag, in stamp order, and count the malformed ones.

    Raises:
        BagError: The bag is missing, truncated or unreadable, naming the path.

    """
    path = Path(path)
    check_bag_metadata(path)
    events: list[EventBase] = []
    malformed = 0
    try:
        with Reader(path) as reader:
            streams = _stream_topics(path)
            conns = [c for c in reader.connections
                     if c.msgtype == EVENT_TYPE and c.topic not in streams]
            for _, _, raw in reader.messages(connections=conns):
                try:
                    events.append(decode_event(string_payload(raw)))
                except (DecodeError, EventError):
                    malformed += 1
    except Exception as err:  # the reader library trips over damaged bytes in many ways
        raise BagError(f'{path}: cannot read bag: {_reason(err)}') from err
    events.sort(key=lambda e: e.stamp_ns)
    return events, malformed
