"""Pre-labels: the automatic label set of an episode, read from its bag, with confidences.

Data flow::

    episode folder --EpisodeReader.scan--> events (operator markers, live contacts,
                                           episode start/end/outcome) + small streams
      --> live contact intervals (contact_monitor) and offline re-detection (same detector)
      --> phases: the operator's markers, else automatic segmentation from contacts
      --> confidence per label (below) --> LabelSet(annotator 'prelabel', role machine)

Confidence (0..1) says how likely a person will leave the label as it is:

- a contact found live and offline with onsets within ``AGREE_MS``: 0.95, less the more
  the two onsets differ; found by only one of them: 0.5 (live) or 0.4 (offline);
- an operator's phase boundary: 0.8, 0.9 when a contact changes within ``NEAR_CONTACT_MS``
  of it (a marker that sits on a physical event is rarely moved); an automatic phase: 0.4;
- outcome and failure mode as the operator set them: 0.9; none set: no label;
- every confidence is multiplied by the episode's trust: 0.6 with a sync ERROR, 0.8 with
  a WARN, 0.9 with drops or stamp gaps, 0.7 for a recovered episode;
- the verdict is ``flag`` (with the reason) for a sync ERROR or a recovered episode, else
  ``keep``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from humanoid_data.bag.episode_reader import EpisodeReader
from humanoid_data.bag.metadata import load_yaml_file
from humanoid_data.core.contact_config import ContactConfig
from humanoid_data.core.events import Contact, EventBase, Source, Transition
from humanoid_data.core.intervals import Interval, intervals_from_events
from humanoid_data.core.labels import Segment, auto_segments, phase_segments
from humanoid_data.core.phases import Taxonomy
from humanoid_data.dataset.episode_labels import offline_contacts, resolve_task
from humanoid_data.errors import HumanoidDataError
from humanoid_data.labels.model import (
    Choice, ContactLabel, EpisodeRef, LabelSet, LabelSource, PhaseLabel, Role, TextLabel,
    Verdict)

PRELABEL = 'prelabel'
AGREE_MS = 50.0
NEAR_CONTACT_MS = 300.0
_SOURCES = {'operator': LabelSource.OPERATOR, 'auto': LabelSource.AUTO,
            'sim_truth': LabelSource.SIM_TRUTH}


def episode_trust(folder: Path) -> tuple[float, list[str]]:
    """How far the recording itself can be trusted (a factor) and why it is not 1."""
    try:
        data = load_yaml_file(folder / 'episode.yaml')
    except HumanoidDataError:
        return 1.0, []
    if not isinstance(data, dict):
        return 1.0, []
    factor, why = 1.0, []
    sync = data.get('sync')
    level = sync.get('level') if isinstance(sync, dict) else None
    raw_flags = data.get('flags')
    flags: list[Any] = raw_flags if isinstance(raw_flags, list) else []
    for present, weight, reason in (
            (level == 'ERROR', 0.6, 'sync ERROR'), (level == 'WARN', 0.8, 'sync WARN'),
            ('drops' in flags or 'stamp_gaps' in flags, 0.9, 'drops or stamp gaps'),
            (data.get('state') == 'recovered', 0.7, 'recovered after a crash')):
        if present:
            factor *= weight
            why.append(reason)
    return factor, why


def _slips(events: Sequence[EventBase], interval: Interval) -> tuple[int, ...]:
    end = interval.end_ns if interval.end_ns is not None else 2 ** 63 - 1
    return tuple(sorted(e.stamp_ns for e in events if isinstance(e, Contact)
                        and e.source == Source.CONTACT_MONITOR
                        and e.channel == interval.channel
                        and e.transition == Transition.SLIP
                        and interval.begin_ns <= e.stamp_ns <= end))


def contact_labels(events: Sequence[EventBase], live: Sequence[Interval],
                   offline: Sequence[Interval], trust: float) -> list[ContactLabel]:
    """Live and offline contacts merged per channel, each with its confidence."""
    labels = []
    unmatched = list(offline)
    for interval in live:
        twin = min((o for o in unmatched if o.channel == interval.channel),
                   key=lambda o: abs(o.begin_ns - interval.begin_ns), default=None)
        gap_ms = abs(twin.begin_ns - interval.begin_ns) / 1e6 if twin else float('inf')
        if twin is not None and gap_ms <= AGREE_MS:
            unmatched.remove(twin)
            confidence = 0.95 - 0.45 * gap_ms / AGREE_MS
        else:
            confidence = 0.5
        labels.append(ContactLabel(interval.channel, interval.begin_ns, interval.end_ns,
                                   _slips(events, interval), LabelSource.CONTACT_MONITOR,
                                   round(confidence * trust, 3)))
    labels += [ContactLabel(o.channel, o.begin_ns, o.end_ns, (), LabelSource.OFFLINE,
                            round(0.4 * trust, 3)) for o in unmatched]
    return sorted(labels, key=lambda c: (c.onset_ns, c.channel))


def phase_labels(segments: Sequence[Segment], contacts: Sequence[ContactLabel],
                 trust: float) -> list[PhaseLabel]:
    """Phase segments with a confidence: near a contact change, the operator is trusted."""
    changes = [c.onset_ns for c in contacts] + [c.offset_ns for c in contacts
                                                if c.offset_ns is not None]
    out = []
    for seg in segments:
        source = _SOURCES.get(seg.source, LabelSource.AUTO)
        if source == LabelSource.AUTO:
            base = 0.4
        else:
            near = any(abs(t - seg.begin_ns) <= NEAR_CONTACT_MS * 1e6 for t in changes)
            base = 0.9 if near else 0.8
        out.append(PhaseLabel(seg.name, seg.begin_ns, max(seg.end_ns, seg.begin_ns), source,
                              round(base * trust, 3)))
    return out


def prelabel_episode(folder: str | Path, taxonomy: Taxonomy, contact_config: ContactConfig,
                     scratch: Path | None = None) -> LabelSet:
    """The automatic label set of one episode.

    Raises:
        HumanoidDataError: The bag cannot be read (named), or its metadata is damaged.

    """
    folder = Path(folder)
    reader = EpisodeReader(folder, scratch=scratch)
    reader.scan()
    try:
        return _label_set(folder, reader, taxonomy, contact_config)
    finally:
        reader.close_samples()


def _label_set(folder: Path, reader: EpisodeReader, taxonomy: Taxonomy,
               contact_config: ContactConfig) -> LabelSet:
    meta = reader.meta
    events = reader.events
    stamps = [int(e.header_ns[-1]) for e in reader.samples.values() if len(e.header_ns)]
    stop = meta.stop_ns or max(stamps, default=0)
    start = meta.start_ns or 0
    trust, why = episode_trust(folder)
    live = intervals_from_events(events, Source.CONTACT_MONITOR, stop)
    offline = offline_contacts(reader, contact_config, stop)
    contacts = contact_labels(events, live, offline, trust)
    task, instruction, definition = resolve_task(meta, taxonomy)
    segments = phase_segments(events, Source.OPERATOR, stop)
    if not segments and definition is not None:
        segments = auto_segments(live or offline, list(definition.phase_names), start, stop)
    notes = [TextLabel(f'pre-labels trusted less: {", ".join(why)}', LabelSource.AUTO)] \
        if why else []
    return LabelSet(
        EpisodeRef(meta.episode_id or folder.name, folder.parent.name, meta.episode_uuid),
        PRELABEL, Role.MACHINE, meta.taxonomy or taxonomy.version, task,
        phases=tuple(phase_labels(segments, contacts, trust)), contacts=tuple(contacts),
        outcome=_choice(meta.outcome, trust), failure_mode=_choice(meta.failure_mode, trust),
        verdict=_verdict(why), notes=tuple(notes),
        instructions=(TextLabel(instruction, LabelSource.OPERATOR),) if instruction else ())


def _choice(value: str, trust: float) -> Choice | None:
    return Choice(value, LabelSource.OPERATOR, round(0.9 * trust, 3)) if value else None


def _verdict(why: list[str]) -> Choice:
    """Flag what a person must look at (a sync ERROR, a recovered episode); keep the rest."""
    serious = [w for w in why if w in ('sync ERROR', 'recovered after a crash')]
    if serious:
        return Choice(Verdict.FLAG.value, LabelSource.AUTO, 0.5, '; '.join(serious))
    return Choice(Verdict.KEEP.value, LabelSource.AUTO, 0.7 if not why else 0.6)


def uncertainty(label_set: LabelSet) -> float:
    """How much a person should look at these pre-labels: 1 minus the mean confidence."""
    values: list[Any] = [p.confidence for p in label_set.phases]
    values += [c.confidence for c in label_set.contacts]
    known = [float(v) for v in values if v is not None]
    return round(1.0 - sum(known) / len(known), 4) if known else 1.0
