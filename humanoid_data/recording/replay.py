"""The plan of a repair: what a salvaged file holds, and its messages as the recorder saw them.

``plan_replay`` reads the salvaged messages once to learn the file's topics, their
definitions, the episode's window and the operator's stop (an ``episode_end`` event that
made it into the file); ``Replay.items`` then yields each message again as a ``Received``
for the recorder's own ``OpenEpisode``, so a repaired episode.yaml has the same figures a
finished one would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

from humanoid_data.bag.episode_bag import BagTopic
from humanoid_data.bag.episode_reader import find_suite
from humanoid_data.bag.salvage import SalvageReader
from humanoid_data.bag.stamps import header_stamp_ns, string_payload
from humanoid_data.bag.typestore import msgdef
from humanoid_data.core.config import Reliability
from humanoid_data.core.events import EpisodeEnd, decode_event
from humanoid_data.core.topics import EVENTS_TYPE, TopicSpec, topics_for
from humanoid_data.errors import DecodeError, EventError, HumanoidDataError
from humanoid_data.recording.episode import Received


def _generic_spec(topic: BagTopic) -> TopicSpec:
    """A topic the session's suite does not know: recorded as is, no expected rate."""
    is_event = topic.msgtype == EVENTS_TYPE
    return TopicSpec(topic.topic, topic.msgtype, 'events' if is_event else topic.topic,
                     False, 0.0, Reliability.RELIABLE, 1, not is_event)


@dataclass
class Replay:
    """Topics, window and stop of a salvaged episode."""

    specs: list[TopicSpec] = field(default_factory=list)
    bag_topics: list[BagTopic] = field(default_factory=list)
    index: dict[int, int] = field(default_factory=dict)     # channel id -> topic index
    count: int = 0
    orphans: int = 0          # messages whose channel record was lost with a damaged chunk
    start_ns: int = 0
    preroll_ns: int = 0
    stop_ns: int = 0
    newest_stamp_ns: int | None = None
    outcome: str = ''
    failure_mode: str = ''
    note: str = 'recovered: the recorder stopped before closing the episode'
    compression: str = 'none'

    def stamp(self, index: int, log_ns: int, data: bytes) -> int:
        """The stamp the recorder would have read (header, event stamp, else receive)."""
        try:
            if self.specs[index].has_header:
                return header_stamp_ns(data, self.specs[index].stamp_offset)
            if self.specs[index].is_events:
                return decode_event(string_payload(data)).stamp_ns
        except (DecodeError, EventError):
            pass
        return log_ns

    def items(self, reader: SalvageReader) -> Iterator[Received]:
        """The salvaged messages again, as the recorder received them."""
        for message in reader.messages():
            index = self.index.get(message.channel_id)
            if index is not None:
                yield Received(index, message.log_ns,
                               self.stamp(index, message.log_ns, message.data), message.data)


def metadata_topics(folder: Path) -> dict[int, BagTopic]:
    """Channel id -> topic from metadata.yaml, for files whose definitions were lost.

    The recorder registers its topics in metadata.yaml's order, with channel ids 1..N,
    and writes metadata.yaml when the episode opens; definitions come from the type store.
    """
    try:
        data = yaml.safe_load((folder / 'metadata.yaml').read_text(encoding='utf-8'))
        entries = data['rosbag2_bagfile_information']['topics_with_message_count']
        named = [(e['topic_metadata']['name'], e['topic_metadata']['type']) for e in entries]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError):
        return {}
    out = {}
    for cid, (topic, msgtype) in enumerate(named, 1):
        try:
            definition, digest = msgdef(str(msgtype))
        except Exception:  # a type this machine does not know: its messages stay out
            continue
        out[cid] = BagTopic(str(topic), str(msgtype), definition, digest)
    return out


def _topics(folder: Path, reader: SalvageReader, plan: Replay) -> None:
    try:
        known = {s.topic: s for s in topics_for(find_suite(folder))}
    except HumanoidDataError:
        known = {}
    found = {**metadata_topics(folder), **reader.topics()}
    for cid, topic in sorted(found.items()):
        if cid in plan.index:
            continue
        spec = known.get(topic.topic)
        if spec is None or spec.msgtype != topic.msgtype:
            spec = _generic_spec(topic)
        plan.index[cid] = len(plan.specs)
        plan.specs.append(spec)
        plan.bag_topics.append(topic)


def plan_replay(folder: Path, reader: SalvageReader, meta: dict[str, Any]) -> Replay:
    """Read the salvaged file once and decide the repaired episode's shape."""
    plan = Replay()
    first: int | None = None
    end: EpisodeEnd | None = None
    for message in reader.messages():
        if message.channel_id not in plan.index:
            _topics(folder, reader, plan)
        index = plan.index.get(message.channel_id)
        if index is None:
            plan.orphans += 1
            continue
        plan.count += 1
        stamp = plan.stamp(index, message.log_ns, message.data)
        if plan.specs[index].has_header:
            first = stamp if first is None else min(first, stamp)
            if plan.newest_stamp_ns is None or stamp > plan.newest_stamp_ns:
                plan.newest_stamp_ns = stamp
        elif plan.specs[index].is_events:
            end = _episode_end(message.data) or end
    if not plan.specs:       # no message survived: keep the topics the file declared
        _topics(folder, reader, plan)
    plan.compression = reader.compression or 'none'
    start = meta.get('start_ns')
    plan.start_ns = start if isinstance(start, int) else (first or 0)
    preroll = meta.get('preroll_ns')
    plan.preroll_ns = preroll if isinstance(preroll, int) else 0
    stop = meta.get('stop_ns')
    plan.stop_ns = (end.stamp_ns if end is not None else stop if isinstance(stop, int)
                    else plan.newest_stamp_ns or plan.start_ns)
    if end is not None:
        plan.outcome, plan.failure_mode = end.outcome.value, end.failure_mode
        plan.note = f'{plan.note}; its stop event was recorded'
    elif isinstance(meta.get('outcome'), str):
        plan.outcome = meta['outcome']
    return plan


def _episode_end(data: bytes) -> EpisodeEnd | None:
    try:
        event = decode_event(string_payload(data))
    except (DecodeError, EventError):
        return None
    return event if isinstance(event, EpisodeEnd) else None
