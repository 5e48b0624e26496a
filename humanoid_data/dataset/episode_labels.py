"""An episode's labels: its task and instruction, phases and contacts, and their origin.

With the recorder's episode.yaml, a missing task is the taxonomy's default task (the
operator chose it when recording). Without it, the labels come from the episode events in
the bag, and an episode that names no task has none: its task and instruction stay empty
and it is flagged ``no_task_label``, never given a default text.

The labels from the bag are then replaced by the best label set saved for the episode
(``labels_source.choose_labels``): its phases, contacts, outcome and failure mode, and
instruction, each when the set has them; the task stays the episode's.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import numpy as np

from humanoid_data.bag.episode_reader import EpisodeReader
from humanoid_data.bag.metadata import EpisodeMeta
from humanoid_data.core.config import Modality
from humanoid_data.core.contact import channel_of, make_detector
from humanoid_data.core.contact_config import ContactConfig
from humanoid_data.core.events import Source
from humanoid_data.core.intervals import Interval, intervals_from_events
from humanoid_data.core.labels import (
    Segment, auto_segments, contact_disagreements, contact_flags, phase_index, phase_segments)
from humanoid_data.core.phases import TaskDef, Taxonomy
from humanoid_data.dataset.labels_source import LabelOrigin, choose_labels
from humanoid_data.labels.model import LabelSet, Verdict

if TYPE_CHECKING:
    from humanoid_data.dataset.episode import EpisodeData

#: Quality flags of an episode converted without the recorder's episode.yaml, and of one
#: that names no task (its task and instruction are empty, never a default).
NO_EPISODE_YAML = 'no_episode_yaml'
NO_TASK_LABEL = 'no_task_label'
#: Quality flag of an episode a person flagged in its label set.
LABEL_FLAG = 'flagged_by_annotator'


def resolve_task(meta: EpisodeMeta, taxonomy: Taxonomy) -> tuple[str, str, TaskDef | None]:
    """(task, instruction, its taxonomy entry) of an episode.

    With episode.yaml, the taxonomy's default task stands in for a missing one. Without
    it, an episode whose events name no task has none: no default text is made up.
    """
    known = {t.name: t for t in taxonomy.tasks}
    definition: TaskDef | None
    if meta.present:
        definition = known.get(meta.task) or taxonomy.task()
        return (meta.task or taxonomy.default_task,
                meta.instruction or definition.instruction, definition)
    definition = known.get(meta.task)
    instruction = meta.instruction or (definition.instruction if definition else '')
    return meta.task, instruction, definition


def flag_provenance(data: EpisodeData) -> None:
    """Flag an episode converted without episode.yaml, or one with no task of its own."""
    meta = data.meta
    if not meta.present:
        data.quality.flags.append(NO_EPISODE_YAML)
        data.notes.append(
            'no episode.yaml: window and labels from the episode_start / episode_end events '
            'in the bag' if meta.from_events else
            'no episode.yaml and no episode events in the bag: the window is the first to '
            'the last stamp of the required streams (a pre-roll is included), no labels')
    if not data.task:
        data.quality.flags.append(NO_TASK_LABEL)
        data.notes.append('no task label: the episode names no task; task and instruction '
                          'are left empty')


#: How late (after a newer stamp) a sample may be received and still be put in order.
REORDER_NS = 1_000_000_000


def in_stamp_order(blocks: Iterable[tuple[np.ndarray, np.ndarray]],
                   window_ns: int = REORDER_NS) -> Iterator[tuple[int, Any]]:
    """(stamp, value) of a stream's samples by stamp, though received out of stamp order.

    Bags store messages by receive time; a transport's jitter can deliver a sample
    after a newer one. Samples wait in a heap until ``window_ns`` of newer stamps have
    passed; one received later still, older than a sample already given out, is left
    out (the detectors need stamps in order).
    """
    heap: list[tuple[int, int, np.ndarray]] = []
    newest: int | None = None
    given = -2 ** 63
    order = itertools.count()
    for stamps, values in blocks:
        for stamp, value in zip(stamps.tolist(), values):
            if stamp < given:
                continue
            heapq.heappush(heap, (stamp, next(order), value))
            newest = stamp if newest is None else max(newest, stamp)
            while heap[0][0] < newest - window_ns:
                first = heapq.heappop(heap)
                given = first[0]
                yield first[0], first[2]
    while heap:
        first = heapq.heappop(heap)
        yield first[0], first[2]


def offline_contacts(reader: EpisodeReader, config: ContactConfig,
                     end_ns: int) -> list[Interval]:
    """Contacts re-detected from the bag's wrench and tactile streams (after ``scan``)."""
    changes = []
    for entry in reader.samples.values():
        stream = entry.stream
        if stream.modality not in (Modality.WRENCH, Modality.TACTILE) or not entry.count:
            continue
        detector = make_detector(stream, config)
        shape = (stream.height or 4, stream.width or 4)
        for stamp, value in in_stamp_order(entry.blocks()):
            sample = value[:3] if stream.modality == Modality.WRENCH else value.reshape(shape)
            changes.extend(detector.update(stamp, sample))
        changes.extend(detector.close())
    return intervals_from_events((c.to_event(source=Source.AUTO) for c in changes), end_ns=end_ns)


def label_episode(data: EpisodeData, task: TaskDef | None, contact_config: ContactConfig,
                  stop_ns: int) -> None:
    """Phase segments and index, contact intervals and flags of the episode's frames.

    An episode without a task gets only the phases its operator marked, in that order.
    """
    events = data.reader.events
    start = int(data.instants_ns[0]) if len(data.instants_ns) else 0
    recorded = intervals_from_events(events, Source.CONTACT_MONITOR, stop_ns)
    offline = offline_contacts(data.reader, contact_config, stop_ns)
    truth = intervals_from_events(events, Source.SIM_TRUTH, stop_ns)
    data.contacts = {'recorded': recorded, 'offline': offline}
    if truth:
        data.contacts['sim_truth'] = truth
    data.disagreements = contact_disagreements(recorded, offline)
    operator = phase_segments(events, Source.OPERATOR, stop_ns)
    if task is not None:
        data.phase_names = list(task.phase_names)
        data.segments = operator or auto_segments(recorded or offline, data.phase_names,
                                                  start, stop_ns)
    else:       # no task: only the phases the operator marked, in the order marked
        data.phase_names = list(dict.fromkeys(s.name for s in operator))
        data.segments = operator
    data.truth_segments = phase_segments(events, Source.SIM_TRUTH, stop_ns)
    data.phase_index = phase_index(data.instants_ns, data.segments, data.phase_names)
    data.channels = sorted({channel_of(s) for s in data.reader.suite.streams
                            if s.modality in (Modality.WRENCH, Modality.TACTILE)})
    data.contact = contact_flags(data.instants_ns, recorded or offline, data.channels, stop_ns)


def _phase_names(data: EpisodeData, labels: LabelSet, taxonomy: Taxonomy) -> list[str]:
    """The phases of the set's task, else of the episode's, else the set's in time order."""
    known = {t.name: t for t in taxonomy.tasks}
    task = known.get(labels.task) or known.get(data.task)
    return list(task.phase_names) if task else list(dict.fromkeys(labels.phase_names()))


def apply_label_set(data: EpisodeData, labels: LabelSet, taxonomy: Taxonomy,
                    stop_ns: int) -> tuple[str, ...]:
    """Replace the episode's labels by those ``labels`` has; return which were replaced.

    Phases (segments and the per-frame index), contacts (the per-frame flags; the
    intervals go beside the bag's as ``label_set``), outcome with failure mode, and the
    instruction (the first one given), each only when the set has it.
    """
    replaced = []
    if labels.phases:
        data.phase_names = _phase_names(data, labels, taxonomy)
        data.segments = [Segment(p.name, p.begin_ns, p.end_ns, p.source.value) for p in
                         sorted(labels.phases, key=lambda p: (p.begin_ns, p.end_ns))]
        data.phase_index = phase_index(data.instants_ns, data.segments, data.phase_names)
        replaced.append('phases')
    if labels.contacts:
        intervals = [Interval(c.channel, c.onset_ns, c.offset_ns) for c in labels.contacts]
        data.contacts['label_set'] = intervals
        data.contact = contact_flags(data.instants_ns, intervals, data.channels, stop_ns)
        replaced.append('contacts')
    if labels.outcome is not None:     # an outcome without a failure mode clears it
        data.outcome = labels.outcome.value
        data.failure_mode = labels.failure_mode.value if labels.failure_mode else ''
        replaced.append('outcome')
    elif labels.failure_mode is not None:
        data.failure_mode = labels.failure_mode.value
        replaced.append('failure_mode')
    instruction = next((t.text for t in labels.instructions if t.text.strip()), '')
    if instruction:
        data.instruction = instruction
        replaced.append('instruction')
    return tuple(replaced)


def label_from_store(data: EpisodeData, taxonomy: Taxonomy, stop_ns: int) -> None:
    """Use the best label set saved for the episode, if any; record where labels came from."""
    chosen = choose_labels(data.reader.path.parent, data.episode_id, taxonomy,
                           episode_uuid=data.meta.episode_uuid,
                           events_taxonomy=data.meta.taxonomy)
    provenance = chosen.provenance
    if chosen.label_set is not None:
        provenance = replace(provenance, replaced=apply_label_set(
            data, chosen.label_set, taxonomy, stop_ns))
    data.provenance = provenance
    data.notes.extend(provenance.notes)
    verdict = chosen.label_set.verdict if chosen.label_set is not None else None
    if verdict is not None and provenance.source in (LabelOrigin.ADJUDICATED,
                                                     LabelOrigin.ANNOTATOR):
        data.label_verdict = (verdict.value, verdict.reason, provenance.annotator)


def apply_verdict(data: EpisodeData) -> None:
    """A person's verdict on the episode: ``reject`` rejects it, ``flag`` flags it.

    Only human verdicts count (an annotator's or the adjudicated set's); the pre-labels'
    verdict only restates the quality figures the gates already judge.
    """
    if data.label_verdict is None:
        return
    value, reason, who = data.label_verdict
    if value == Verdict.REJECT.value:
        data.quality.rejected.append(f'rejected by {who}: {reason} (labels/{data.episode_id}/'
                                     f'{who}.json verdict)')
    elif value == Verdict.FLAG.value:
        data.quality.flags.append(LABEL_FLAG)
        data.notes.append(f'flagged by {who}: {reason}')
