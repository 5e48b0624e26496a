"""Two simulated annotators label a recorded demo session from the simulator's truth.

The simulated humanoid logs its ground truth (``sim_truth/truth.jsonl``); for each
episode of the session, the truth inside the episode's window becomes a truth label set,
and two annotators with known habits label it: a careful one (small noise) and a hurried
one (late by 60 ms, misses a fifth of the contacts, now and then flips the outcome). The
demo then shows how ``humanoid-data qa`` sees them, and how the pre-labels compare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from humanoid_data.bag.metadata import read_episode_yaml
from humanoid_data.core.phases import Taxonomy
from humanoid_data.labels.model import EpisodeRef, LabelSet
from humanoid_data.labels.store import LabelStore
from humanoid_data.sim.annotators import AnnotatorProfile, annotate, truth_label_set
from humanoid_data.sim.truth import load_truth

PROFILES = (
    AnnotatorProfile('sim_careful', boundary_sd_ms=15.0, onset_sd_ms=5.0, offset_sd_ms=10.0),
    AnnotatorProfile('sim_hurried', boundary_bias_ms=60.0, boundary_sd_ms=30.0,
                     contact_miss_rate=0.2, onset_sd_ms=15.0, offset_sd_ms=25.0,
                     outcome_flip_rate=0.1),
)


def annotate_session(session: Path, taxonomy: Taxonomy,
                     profiles: Sequence[AnnotatorProfile] = PROFILES,
                     seed: int = 0) -> list[LabelSet]:
    """Save a label set of every profile for every finished episode of ``session``.

    Raises:
        HumanoidDataError: The truth file or an episode.yaml cannot be read.

    """
    truth_events = load_truth(session / 'sim_truth')
    store = LabelStore(session)
    saved = []
    for folder in sorted(session.glob('episode_*')):
        meta = read_episode_yaml(folder)
        if meta is None or meta.start_ns is None or meta.stop_ns is None:
            continue
        begin, end = meta.start_ns, meta.stop_ns
        events = [e for e in truth_events if begin <= e.stamp_ns <= end]
        truth = truth_label_set(
            EpisodeRef(folder.name, session.name, meta.episode_uuid), events, end,
            taxonomy=meta.taxonomy or taxonomy.version, task=meta.task,
            outcome=meta.outcome or None, failure_mode=meta.failure_mode or None,
            instruction=meta.instruction)
        for profile in profiles:
            label_set = annotate(truth, profile, seed)
            store.save(label_set, note='simulated annotator')
            saved.append(label_set)
    return saved
