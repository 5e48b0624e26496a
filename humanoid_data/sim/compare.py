"""Compare what the simulated humanoid published with what the recorder wrote."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import yaml

from humanoid_data.bag.inspect import read_events
from humanoid_data.core.config import StreamConfig, SuiteConfig
from humanoid_data.core.events import Boundary, Phase, Source
from humanoid_data.core.intervals import ContactScore, intervals_from_events, score_contacts
from humanoid_data.sim.humanoid import Ledger


class TopicComparison(NamedTuple):
    """Published vs recorded messages of one topic, summed over episodes."""

    topic: str
    stream: str
    required: bool
    published: int
    recorded: int
    dropped: int
    missing_by_stamps: int
    megabytes: float

    @property
    def missing(self) -> int:
        """Published messages the bags do not hold."""
        return self.published - self.recorded

    @property
    def lost(self) -> bool:
        """Whether the recording lost messages: any drop, or more than one missing.

        Stamp gaps alone are not counted here: with the published count known, a gap
        whose messages were never published is the simulator skipping a sample.
        """
        return self.dropped > 0 or abs(self.missing) > 1


def load_episodes(session: Path) -> list[dict]:
    """Read every kept episode.yaml of a session, in episode order."""
    return [yaml.safe_load(p.read_text())
            for p in sorted(session.glob('episode_*/episode.yaml'))]


def compare(suite: SuiteConfig, episodes: list[dict], ledger: Ledger) -> list[TopicComparison]:
    """Sum, per stream, published stamps inside the episode windows and recorded counts.

    A latched stream is published once and repeated into every episode: its row compares
    the messages published up to the last stop with the distinct messages the episodes
    hold (written live or repeated), so a copy in each episode is not an extra message.
    """
    windows = [(e['start_ns'] - e['preroll_ns'], e['stop_ns'] + 1) for e in episodes]
    rows = []
    for stream in suite.streams:
        if stream.latched:
            rows.append(_latched_row(stream, episodes, ledger))
            continue
        published = sum(ledger.count_in_windows(stream.topic, windows))
        recorded = dropped = gaps = nbytes = 0
        for episode in episodes:
            entry = episode['topics'].get(stream.topic, {})
            recorded += entry.get('written', 0)
            dropped += entry.get('dropped', 0)
            gaps += entry.get('missing_by_stamps', 0)
            nbytes += entry.get('bytes', 0)
        rows.append(TopicComparison(stream.topic, stream.name, stream.required, published,
                                    recorded, dropped, gaps, round(nbytes / 1e6, 2)))
    return rows


def _latched_row(stream: StreamConfig, episodes: list[dict],
                 ledger: Ledger) -> TopicComparison:
    """Published vs distinct recorded messages of a latched stream."""
    last_stop = max((e['stop_ns'] for e in episodes), default=0)
    published = ledger.count_between(stream.topic, 0, last_stop + 1) if episodes else 0
    held: set[int] = set()       # stamps: a repeated copy keeps the original's
    extra = dropped = nbytes = 0
    for episode in episodes:
        for copy in episode.get('repeated_latched') or ():
            if copy.get('topic') == stream.topic:
                held.add(int(copy['stamp_ns']))
        entry = episode['topics'].get(stream.topic, {})
        written = entry.get('written', 0)
        dropped += entry.get('dropped', 0)
        nbytes += entry.get('bytes', 0)
        # Written live: the first and last stamps are known, any between are distinct
        # messages of their own.
        ends = {entry.get('first_stamp_ns'), entry.get('last_stamp_ns')} - {None}
        held |= ends
        extra += max(0, written - len(ends))
    return TopicComparison(stream.topic, stream.name, stream.required, published,
                           len(held) + extra, dropped, 0, round(nbytes / 1e6, 2))


class EpisodeLabels(NamedTuple):
    """What one recorded episode carries as labels, scored against the ground truth."""

    episode_id: str
    outcome: str
    markers: int                 # operator phase events
    marker_error_ms: float       # median |operator phase begin - true begin|
    contact: ContactScore        # contact_monitor against sim_truth
    sync_level: str


def label_report(session: Path) -> list[EpisodeLabels]:
    """Score every kept episode's operator markers and detected contacts against truth."""
    rows = []
    for meta in load_episodes(session):
        events, _ = read_events(session / meta['episode_id'])
        begin, end = meta['start_ns'] - meta['preroll_ns'], meta['stop_ns']
        inside = [e for e in events if begin <= e.stamp_ns <= end]
        truth = intervals_from_events(inside, Source.SIM_TRUTH, end)
        found = intervals_from_events(inside, Source.CONTACT_MONITOR, end)
        true_begin = {e.name: e.stamp_ns for e in inside if isinstance(e, Phase)
                      and e.source == Source.SIM_TRUTH and e.boundary == Boundary.BEGIN}
        markers = [e for e in inside if isinstance(e, Phase) and e.source == Source.OPERATOR]
        errors = [abs(e.stamp_ns - true_begin[e.name]) / 1e6 for e in markers
                  if e.boundary == Boundary.BEGIN and e.name in true_begin]
        rows.append(EpisodeLabels(
            meta['episode_id'], meta.get('outcome') or '', len(markers),
            float(np.median(errors)) if errors else float('nan'),
            score_contacts(found, truth), (meta.get('sync') or {}).get('level', '')))
    return rows
