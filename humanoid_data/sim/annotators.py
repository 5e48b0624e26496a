"""Simulated annotators: label sets made from the simulator's ground truth with known faults.

The truth of an episode (phase and contact events of ``Source.SIM_TRUTH``, plus an
outcome) becomes a ``LabelSet`` of role MACHINE by ``truth_label_set``. An
``AnnotatorProfile`` says how one simulated person departs from it: phase edges moved by
a bias and Gaussian noise, contacts missed or invented at given rates, onsets and offsets
jittered, one failure mode taken for another, the outcome flipped. ``annotate`` applies a
profile to a truth, seeded per (seed, profile name, episode id, fault), so every fault
draws from its own stream and changing one rate leaves the other draws as they were.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from humanoid_data.core.events import Boundary, Contact, EventBase, Phase, Source, Transition
from humanoid_data.core.intervals import intervals_from_events
from humanoid_data.core.labels import phase_segments
from humanoid_data.core.phases import Taxonomy
from humanoid_data.errors import ConfigError
from humanoid_data.labels.model import (
    Choice, ContactLabel, EpisodeRef, LabelSet, LabelSource, PhaseLabel, Role, TextLabel,
    Verdict)
from humanoid_data.sim.scenario import CYCLE_S, Scenario

TRUTH_ANNOTATOR = 'sim_truth'
MIN_GAP_NS = 1_000_000            # moved edges and jittered contacts stay this far apart
EXTRA_DURATION_MS = (100.0, 400.0)
_FLIP = {'success': 'failure', 'failure': 'success'}
_PHASES, _MISSES, _JITTER, _EXTRAS, _CHOICES = range(5)


@dataclass(frozen=True)
class AnnotatorProfile:
    """How one simulated annotator departs from the truth."""

    name: str
    boundary_bias_ms: float = 0.0      # positive: late
    boundary_sd_ms: float = 0.0
    contact_miss_rate: float = 0.0     # chance a true contact is left out
    contact_extra_rate: float = 0.0    # chance, per true contact, of an invented one
    onset_sd_ms: float = 0.0
    offset_sd_ms: float = 0.0
    confused_failure: tuple[str, str] | None = None   # (true mode, mode written instead)
    confusion_rate: float = 0.0
    outcome_flip_rate: float = 0.0     # success <-> failure

    def __post_init__(self) -> None:
        """A name, rates within 0..1, spreads >= 0, a finite bias."""
        where = f'annotator profile {self.name!r}'
        if not self.name:
            raise ConfigError('annotator profile: name must not be empty')
        if not math.isfinite(self.boundary_bias_ms):
            raise ConfigError(f'{where}: boundary_bias_ms must be finite')
        for key in ('contact_miss_rate', 'contact_extra_rate', 'confusion_rate',
                    'outcome_flip_rate'):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f'{where}: {key} must be within 0..1, got '
                                  f'{getattr(self, key)!r}')
        for key in ('boundary_sd_ms', 'onset_sd_ms', 'offset_sd_ms'):
            if not 0.0 <= getattr(self, key) < math.inf:
                raise ConfigError(f'{where}: {key} must be a finite value >= 0, got '
                                  f'{getattr(self, key)!r}')
        pair = self.confused_failure
        if pair is not None and (len(pair) != 2 or not all(pair) or pair[0] == pair[1]):
            raise ConfigError(f'{where}: confused_failure must be two different failure '
                              f'modes (true, written), got {pair!r}')


def scenario_truth_events(scenario: Scenario) -> list[EventBase]:
    """Ground-truth phase and contact events of every scheduled cycle, in time order."""
    phases, contacts = scenario.truth()
    events: list[EventBase] = []
    for p in phases:
        events += [Phase(p.begin_ns, Source.SIM_TRUTH, name=p.label, boundary=Boundary.BEGIN),
                   Phase(p.end_ns, Source.SIM_TRUTH, name=p.label, boundary=Boundary.END)]
    for c in contacts:
        events += [Contact(c.begin_ns, Source.SIM_TRUTH, channel=c.label,
                           transition=Transition.ONSET),
                   Contact(c.end_ns, Source.SIM_TRUTH, channel=c.label,
                           transition=Transition.OFFSET)]
    return sorted(events, key=lambda e: e.stamp_ns)


def truth_label_set(episode: EpisodeRef, events: Sequence[EventBase], end_ns: int, *,
                    taxonomy: str, task: str = '', outcome: str | None = 'success',
                    failure_mode: str | None = None, instruction: str = '') -> LabelSet:
    """The truth of one episode as a label set (role MACHINE, source SIM_TRUTH).

    Args:
        episode: Which episode.
        events: The episode's events; only those of ``Source.SIM_TRUTH`` are used.
        end_ns: Episode end: closes a phase left open; a contact left open stays open.
        taxonomy: Taxonomy version the truth is labelled under.
        task: Task name.
        outcome: True outcome (None: not known).
        failure_mode: True failure mode (None: none).
        instruction: The language instruction, if any.

    Returns:
        The truth label set, verdict ``keep``.

    """
    truth = LabelSource.SIM_TRUTH
    phases = tuple(PhaseLabel(s.name, s.begin_ns, s.end_ns, source=truth)
                   for s in phase_segments(events, Source.SIM_TRUTH, end_ns))
    contacts = tuple(ContactLabel(i.channel, i.begin_ns, i.end_ns, source=truth)
                     for i in intervals_from_events(events, Source.SIM_TRUTH))
    return LabelSet(
        episode, TRUTH_ANNOTATOR, Role.MACHINE, taxonomy, task=task, phases=phases,
        contacts=contacts, outcome=Choice(outcome, truth) if outcome else None,
        failure_mode=Choice(failure_mode, truth) if failure_mode else None,
        verdict=Choice(Verdict.KEEP.value, truth),
        instructions=(TextLabel(instruction, truth),) if instruction else ())


def simulate_truth(count: int, taxonomy: Taxonomy, *, seed: int = 0, failure_rate: float = 0.3,
                   task: str = '', start_ns: int = 10 ** 12,
                   pause_s: float = 0.5) -> tuple[LabelSet, ...]:
    """Truth label sets of ``count`` episodes, one scripted cycle each, back to back.

    A share ``failure_rate`` of the episodes fails, with a failure mode drawn uniformly
    from the taxonomy's list (the motion itself is the scripted one in every episode).
    """
    rng = np.random.default_rng(seed)
    task_def = taxonomy.task(task)
    out = []
    for index in range(count):
        scenario = Scenario()
        begin = start_ns + index * int((CYCLE_S + 2 * pause_s) * 1e9)
        scenario.schedule(begin + int(pause_s * 1e9))
        failed = bool(rng.random() < failure_rate)
        mode = str(rng.choice(taxonomy.failure_names)) if failed else None
        out.append(truth_label_set(
            EpisodeRef(f'episode_{index:04d}'), scenario_truth_events(scenario),
            begin + int((CYCLE_S + 2 * pause_s) * 1e9), taxonomy=taxonomy.version,
            task=task_def.name, outcome='failure' if failed else 'success',
            failure_mode=mode, instruction=task_def.instruction))
    return tuple(out)


def _move_edges(phases: Sequence[PhaseLabel], profile: AnnotatorProfile,
                rng: np.random.Generator) -> tuple[PhaseLabel, ...]:
    """Shift every distinct phase edge once, keeping edges in order (so phases stay apart)."""
    stamps = sorted({s for p in phases for s in (p.begin_ns, p.end_ns)})
    shifts = rng.normal(profile.boundary_bias_ms, profile.boundary_sd_ms, len(stamps)) * 1e6
    moved: dict[int, int] = {}
    floor = 0
    for stamp, shift in zip(stamps, shifts):
        moved[stamp] = max(int(round(stamp + shift)), floor)
        floor = moved[stamp] + MIN_GAP_NS
    return tuple(replace(p, begin_ns=moved[p.begin_ns], end_ns=moved[p.end_ns],
                         source=LabelSource.HUMAN, confidence=None) for p in phases)


def _jitter(contact: ContactLabel, profile: AnnotatorProfile,
            rng: np.random.Generator) -> ContactLabel:
    onset_shift, offset_shift = rng.normal(0.0, 1.0, 2) * 1e6
    onset = max(0, int(round(contact.onset_ns + onset_shift * profile.onset_sd_ms)))
    offset = None
    if contact.offset_ns is not None:
        offset = max(onset + MIN_GAP_NS,
                     int(round(contact.offset_ns + offset_shift * profile.offset_sd_ms)))
    end = math.inf if offset is None else offset
    return ContactLabel(contact.channel, onset, offset,
                        tuple(s for s in contact.slips_ns if onset <= s <= end))


def _invented(channel: str, busy: Sequence[tuple[int, int]], span: tuple[int, int],
              rng: np.random.Generator) -> ContactLabel | None:
    """A short contact where the channel has none, or None when no free place is found."""
    for _ in range(20):
        length = int(rng.uniform(*EXTRA_DURATION_MS) * 1e6)
        if span[1] - span[0] <= length:
            return None
        onset = int(rng.uniform(span[0], span[1] - length))
        if all(onset + length <= b or onset >= e for b, e in busy):
            return ContactLabel(channel, onset, onset + length)
    return None


def _contacts(truth: LabelSet, profile: AnnotatorProfile,
              rngs: Sequence[np.random.Generator]) -> tuple[ContactLabel, ...]:
    contacts = sorted(truth.contacts, key=lambda c: (c.onset_ns, c.channel))
    stamps = [s for c in contacts for s in (c.onset_ns, c.offset_ns) if s is not None]
    stamps += [s for p in truth.phases for s in (p.begin_ns, p.end_ns)]
    span = (min(stamps, default=0), max(stamps, default=0))
    end = span[1]
    busy: dict[str, list[tuple[int, int]]] = {}
    for c in contacts:
        busy.setdefault(c.channel, []).append(
            (c.onset_ns - MIN_GAP_NS, (end if c.offset_ns is None else c.offset_ns) + MIN_GAP_NS))
    misses = rngs[_MISSES].random(len(contacts))
    out = [_jitter(c, profile, rngs[_JITTER])
           for c, draw in zip(contacts, misses) if draw >= profile.contact_miss_rate]
    for contact in contacts:
        if rngs[_EXTRAS].random() < profile.contact_extra_rate:
            extra = _invented(contact.channel, busy[contact.channel], span, rngs[_EXTRAS])
            if extra is not None and extra.offset_ns is not None:
                out.append(extra)
                busy[contact.channel].append((extra.onset_ns, extra.offset_ns))
    return tuple(sorted(out, key=lambda c: (c.onset_ns, c.channel)))


def _choices(truth: LabelSet, profile: AnnotatorProfile,
             rng: np.random.Generator) -> tuple[Choice | None, Choice | None]:
    """The annotator's outcome and failure mode."""
    flip_draw, confusion_draw = rng.random(2)
    true_outcome = truth.outcome.value if truth.outcome else None
    outcome = true_outcome
    if outcome in _FLIP and flip_draw < profile.outcome_flip_rate:
        outcome = _FLIP[outcome]
    mode = truth.failure_mode.value if truth.failure_mode else None
    if outcome != 'failure' or true_outcome != 'failure':
        mode = None         # flipped into a failure: the annotator names no mode
    elif (profile.confused_failure and mode == profile.confused_failure[0]
          and confusion_draw < profile.confusion_rate):
        mode = profile.confused_failure[1]
    return (Choice(outcome) if outcome else None, Choice(mode) if mode else None)


def _stable(text: str) -> int:
    return zlib.crc32(text.encode('utf-8'))


def annotate(truth: LabelSet, profile: AnnotatorProfile, seed: int = 0) -> LabelSet:
    """The label set ``profile`` makes of one episode whose truth is ``truth``.

    Args:
        truth: The episode's truth label set.
        profile: The simulated annotator.
        seed: Seed of the whole simulation; mixed with the profile name and episode id.

    Returns:
        A label set of role ANNOTATOR, every label of source HUMAN.

    """
    key = [seed, _stable(profile.name), _stable(truth.episode.episode_id)]
    rngs = [np.random.default_rng([*key, fault]) for fault in range(_CHOICES + 1)]
    outcome, failure_mode = _choices(truth, profile, rngs[_CHOICES])
    verdict = replace(truth.verdict, source=LabelSource.HUMAN) if truth.verdict else None
    return replace(
        truth, annotator=profile.name, role=Role.ANNOTATOR,
        phases=_move_edges(truth.phases, profile, rngs[_PHASES]),
        contacts=_contacts(truth, profile, rngs), outcome=outcome, failure_mode=failure_mode,
        verdict=verdict, instructions=tuple(TextLabel(t.text) for t in truth.instructions),
        notes=(), decisions=())


def simulate_annotators(truths: Sequence[LabelSet], profiles: Sequence[AnnotatorProfile],
                        seed: int = 0) -> tuple[LabelSet, ...]:
    """Label sets of every profile for every episode, profile by profile.

    Raises:
        ConfigError: Two profiles share a name.

    """
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise ConfigError(f'annotator profiles need distinct names, got {names}')
    return tuple(annotate(t, p, seed) for p in profiles for t in truths)
