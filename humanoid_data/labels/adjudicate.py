"""Adjudication: a consensus proposal from several label sets, and what only a person settles.

For each phase name, the annotators' boundaries that lie within ``tolerance_ns`` of each
other are merged (their median); a spread beyond it is an open question, proposed at the
median. Contacts are grouped per channel by onset; a contact that a majority marked is
kept at the median onset and offset, one that only a minority marked is an open question.
Categorical labels (outcome, failure mode, verdict) take the majority; a tie is an open
question. An adjudicator answers open questions (``Decision``: who, what, why); the result
is the episode's adjudicated label set, each decision recorded in it.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, replace
from typing import Mapping, NamedTuple, Sequence

from humanoid_data.errors import LabelError
from humanoid_data.labels.model import (
    Choice, ContactLabel, EpisodeRef, LabelSet, LabelSource, PhaseLabel, Role, TextLabel)
from humanoid_data.labels.store import ADJUDICATED

DEFAULT_TOLERANCE_NS = 100_000_000


class Question(NamedTuple):
    """Something the annotators disagree on beyond the tolerance: a person decides."""

    key: str          # e.g. 'phase grasp begin', 'contact wrist/right @12.345 s', 'outcome'
    proposal: str     # what the consensus proposes
    options: tuple[str, ...]   # what the annotators said, by annotator
    why: str
    contact: int = -1          # the consensus contact an offset question is about


class Decision(NamedTuple):
    """An adjudicator's answer to a question: the value chosen, by whom, and why."""

    key: str
    value: str
    adjudicator: str
    why: str


@dataclass(frozen=True)
class Proposal:
    """The consensus label set and the questions left open."""

    label_set: LabelSet
    questions: tuple[Question, ...]


def _median(values: Sequence[int]) -> int:
    return int(statistics.median(values))


def _spread_ok(values: Sequence[int], tolerance_ns: int) -> bool:
    return max(values) - min(values) <= tolerance_ns


def _phases(sets: Mapping[str, LabelSet], tolerance_ns: int
            ) -> tuple[list[PhaseLabel], list[Question]]:
    by_name: dict[str, list[tuple[str, PhaseLabel]]] = {}
    for who, ls in sets.items():
        for phase in ls.phases:
            by_name.setdefault(phase.name, []).append((who, phase))
    quorum = len(sets) / 2
    phases, questions = [], []
    for name, marks in by_name.items():
        if len(marks) <= quorum:
            questions.append(Question(
                f'phase {name}', 'leave out', tuple(f'{w}: marked' for w, _ in marks),
                f'marked by {len(marks)} of {len(sets)} annotators'))
            continue
        for edge in ('begin', 'end'):
            values = [getattr(p, f'{edge}_ns') for _, p in marks]
            if not _spread_ok(values, tolerance_ns):
                questions.append(Question(
                    f'phase {name} {edge}', str(_median(values)),
                    tuple(f'{w}: {getattr(p, f"{edge}_ns")}' for w, p in marks),
                    f'spread {(max(values) - min(values)) / 1e6:.0f} ms beyond the '
                    f'{tolerance_ns / 1e6:.0f} ms tolerance'))
        phases.append(PhaseLabel(name, _median([p.begin_ns for _, p in marks]),
                                 _median([p.end_ns for _, p in marks]),
                                 LabelSource.CONSENSUS))
    return _contiguous(phases), questions


def _contiguous(phases: list[PhaseLabel]) -> list[PhaseLabel]:
    """Medians of ends and begins may overlap by a little: the next phase's begin wins."""
    ordered = sorted(phases, key=lambda p: (p.begin_ns, p.name))
    out: list[PhaseLabel] = []
    for phase in ordered:
        if out and '/' not in phase.name and phase.begin_ns < out[-1].end_ns:
            out[-1] = replace(out[-1], end_ns=max(out[-1].begin_ns, phase.begin_ns))
        out.append(phase)
    return out


def _groups(sets: Mapping[str, LabelSet], tolerance_ns: int
            ) -> list[list[tuple[str, ContactLabel]]]:
    """Contacts of all annotators grouped by channel and onset (within the tolerance)."""
    items = sorted(((who, c) for who, ls in sets.items() for c in ls.contacts),
                   key=lambda wc: (wc[1].channel, wc[1].onset_ns))
    groups: list[list[tuple[str, ContactLabel]]] = []
    for who, contact in items:
        last = groups[-1] if groups else None
        if last and last[-1][1].channel == contact.channel \
                and contact.onset_ns - last[0][1].onset_ns <= tolerance_ns \
                and who not in {w for w, _ in last}:
            last.append((who, contact))
        else:
            groups.append([(who, contact)])
    return groups


def _contacts(sets: Mapping[str, LabelSet], tolerance_ns: int
              ) -> tuple[list[ContactLabel], list[Question]]:
    contacts, questions = [], []
    for group in _groups(sets, tolerance_ns):
        first = group[0][1]
        key = f'contact {first.channel} @{first.onset_ns / 1e9:.3f} s'
        if len(group) <= len(sets) / 2:
            questions.append(Question(key, 'leave out', tuple(w for w, _ in group),
                                      f'marked by {len(group)} of {len(sets)} annotators'))
            continue
        offsets = [c.offset_ns for _, c in group if c.offset_ns is not None]
        contacts.append(ContactLabel(first.channel, _median([c.onset_ns for _, c in group]),
                                     _median(offsets) if offsets else None, (),
                                     LabelSource.CONSENSUS))
        if offsets and not _spread_ok(offsets, tolerance_ns):
            questions.append(Question(f'{key} offset', str(_median(offsets)),
                                      tuple(f'{w}: {c.offset_ns}' for w, c in group),
                                      'offsets spread beyond the tolerance',
                                      len(contacts) - 1))
    return contacts, questions


def _majority(sets: Mapping[str, LabelSet], attr: str
              ) -> tuple[Choice | None, Question | None]:
    said = {who: getattr(ls, attr) for who, ls in sets.items()}
    votes = Counter(c.value for c in said.values() if c is not None)
    if not votes:
        return None, None
    ranked = votes.most_common()
    options = tuple(f'{w}: {c.value if c else "-"}' for w, c in said.items())
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None, Question(attr, ranked[0][0], options, 'a tie')
    value = ranked[0][0]
    reasons = [c.reason for c in said.values() if c is not None and c.value == value]
    return Choice(value, LabelSource.CONSENSUS, reason=next((r for r in reasons if r), '')), \
        None


def propose(sets: Mapping[str, LabelSet], tolerance_ns: int = DEFAULT_TOLERANCE_NS
            ) -> Proposal:
    """The consensus of ``sets`` (annotator -> label set of one episode) and open questions.

    Raises:
        LabelError: No label set, or sets of different episodes or taxonomy versions.

    """
    if not sets:
        raise LabelError('nothing to adjudicate: no label set')
    first = next(iter(sets.values()))
    for who, ls in sets.items():
        if ls.episode.episode_id != first.episode.episode_id:
            raise LabelError(f'{who}: labels episode {ls.episode.episode_id}, not '
                             f'{first.episode.episode_id}')
        if ls.taxonomy != first.taxonomy:
            raise LabelError(f'{who}: labelled under taxonomy {ls.taxonomy}, others under '
                             f'{first.taxonomy}: not mixed')
    phases, questions = _phases(sets, tolerance_ns)
    contacts, contact_questions = _contacts(sets, tolerance_ns)
    questions += contact_questions
    chosen = {}
    for attr in ('outcome', 'failure_mode', 'verdict'):
        chosen[attr], question = _majority(sets, attr)
        if question is not None:
            questions.append(question)
    label_set = LabelSet(
        EpisodeRef(first.episode.episode_id, first.episode.session, first.episode.episode_uuid),
        ADJUDICATED, Role.ADJUDICATOR, first.taxonomy, first.task, tuple(phases),
        tuple(contacts), chosen['outcome'], chosen['failure_mode'], chosen['verdict'],
        instructions=first.instructions)
    return Proposal(label_set, tuple(questions))


def settle(proposal: Proposal, decisions: Sequence[Decision]) -> LabelSet:
    """The adjudicated label set: the proposal with every open question decided.

    A decision's value is a stamp in nanoseconds for a boundary or an offset, ``keep`` or
    ``leave out`` for a phase or contact marked by a minority (keeping one needs it to be
    re-marked, so only ``leave out`` is applied here), or the chosen value of a categorical
    label. Every decision is recorded in the result with who decided and why.

    Raises:
        LabelError: A question is left undecided, or a decision does not fit its question.

    """
    answers = {d.key: d for d in decisions}
    missing = [q.key for q in proposal.questions if q.key not in answers]
    if missing:
        raise LabelError(f'undecided: {", ".join(missing)}')
    ls = proposal.label_set
    phases = {p.name: p for p in ls.phases}
    contacts = list(ls.contacts)
    chosen = {a: getattr(ls, a) for a in ('outcome', 'failure_mode', 'verdict')}
    for question in proposal.questions:
        decision = answers[question.key]
        parts = question.key.split(' ')
        if parts[0] == 'phase' and len(parts) == 3 and parts[1] in phases:
            phase = phases[parts[1]]
            phases[parts[1]] = (replace(phase, begin_ns=_stamp(decision))
                                if parts[2] == 'begin' else
                                replace(phase, end_ns=_stamp(decision)))
        elif question.contact >= 0:
            contacts[question.contact] = replace(contacts[question.contact],
                                                 offset_ns=_stamp(decision))
        elif question.key in chosen:
            chosen[question.key] = Choice(decision.value, LabelSource.HUMAN,
                                          reason=decision.why)
    notes = tuple(TextLabel(f'{d.adjudicator}: {d.key} = {d.value} ({d.why})',
                            LabelSource.HUMAN) for d in decisions)
    return replace(ls, phases=tuple(_contiguous(list(phases.values()))),
                   contacts=tuple(contacts), outcome=chosen['outcome'],
                   failure_mode=chosen['failure_mode'], verdict=chosen['verdict'],
                   decisions=notes)


def _stamp(decision: Decision) -> int:
    try:
        return int(decision.value)
    except ValueError:
        raise LabelError(f'{decision.key}: expected a stamp in nanoseconds, got '
                         f'{decision.value!r}') from None
