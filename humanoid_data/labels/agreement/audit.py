"""A disagreement audit: where two annotators differ, ranked, per episode, phase and channel.

``audit_pair`` lists every comparison of one episode as an ``AuditItem``: each boundary
(matched with its offset, or unmatched), each contact (matched with its larger timing
error, or unmatched), each categorical label and the instruction. ``DisagreementAudit``
ranks them: unmatched spans first, then the largest offsets; episodes by how many things
do not match, then by total offset; phases, channels and fields by the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable, NamedTuple

from humanoid_data.labels.agreement.boundaries import (
    PhaseBoundary, match_boundaries, phase_boundaries, top_level_segments)
from humanoid_data.labels.agreement.categorical import (
    CategoricalField, MissingPolicy, choice_value)
from humanoid_data.labels.agreement.contacts import compare_contacts
from humanoid_data.labels.agreement.counts import mean_or_none, ms
from humanoid_data.labels.agreement.language import instructions_match
from humanoid_data.labels.model import LabelSet


class AuditKind(str, Enum):
    """What an audit item compares."""

    BOUNDARY = 'boundary'
    CONTACT = 'contact'
    CATEGORICAL = 'categorical'
    INSTRUCTION = 'instruction'


class AuditItem(NamedTuple):
    """One comparison of two annotators on one episode."""

    episode_id: str
    reference: str           # annotator names
    other: str
    kind: AuditKind
    where: str               # phase that begins, contact channel, or label field
    agreed: bool             # matched (boundary, contact) or equal (label)
    size_ms: float           # |offset| or larger |timing error|; unmatched: see audit_pair
    begin_ns: int | None     # where in the episode; None for episode-level labels
    end_ns: int | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        """The item for a report."""
        return {**self._asdict(), 'kind': self.kind.value}


class EpisodeDisagreement(NamedTuple):
    """How much two annotators disagree on one episode."""

    episode_id: str
    reference: str
    other: str
    unmatched: int           # boundaries, contacts and labels that do not match
    offset_ms: float         # sum of |offsets| of matched boundaries and contacts


class GroupDisagreement(NamedTuple):
    """Disagreement of one phase, contact channel or label field over every episode."""

    name: str
    matched: int
    unmatched: int
    mean_abs_ms: float | None    # over matched items
    max_abs_ms: float | None


def _nearest_ms(boundary: PhaseBoundary, others: Iterable[PhaseBoundary]) -> float:
    return min((ms(abs(o.stamp_ns - boundary.stamp_ns)) for o in others), default=0.0)


def _boundary_items(reference: LabelSet, other: LabelSet,
                    tolerance_ms: float) -> list[AuditItem]:
    ref = phase_boundaries(top_level_segments(reference))
    oth = phase_boundaries(top_level_segments(other))
    match = match_boundaries(ref, oth, tolerance_ms)
    head = (reference.episode.episode_id, reference.annotator, other.annotator,
            AuditKind.BOUNDARY)
    items = [AuditItem(*head, p.reference.after, True, ms(abs(p.offset_ns)),
                       p.reference.stamp_ns, p.other.stamp_ns, f'{ms(p.offset_ns):+.1f} ms')
             for p in match.pairs]
    items += [AuditItem(*head, b.after, False, _nearest_ms(b, oth), b.stamp_ns, None,
                        f'{b.before} -> {b.after} only in {reference.annotator}')
              for b in match.unmatched_reference]
    items += [AuditItem(*head, b.after, False, _nearest_ms(b, ref), b.stamp_ns, None,
                        f'{b.before} -> {b.after} only in {other.annotator}')
              for b in match.unmatched_other]
    return items


def _contact_items(reference: LabelSet, other: LabelSet, iou_threshold: float,
                   end_ns: int | None) -> list[AuditItem]:
    (agreement,) = compare_contacts(reference, other, iou_thresholds=(iou_threshold,),
                                    end_ns=end_ns)
    head = (reference.episode.episode_id, reference.annotator, other.annotator,
            AuditKind.CONTACT)
    items = []
    for channel in agreement.channels:
        for pair in channel.pairs:
            errors = [pair.onset_error_ms, pair.offset_error_ms]
            size = max(abs(e) for e in errors if e is not None)
            items.append(AuditItem(*head, channel.channel, True, size, pair.reference.onset_ns,
                                   pair.reference.end_ns, f'IoU {pair.iou:.2f}, onset '
                                   f'{pair.onset_error_ms:+.1f} ms'))
        for who, spans in ((reference.annotator, channel.unmatched_reference),
                           (other.annotator, channel.unmatched_other)):
            items += [AuditItem(*head, channel.channel, False, s.duration_ms, s.onset_ns,
                                s.end_ns, f'only in {who}') for s in spans]
    return items


def _label_items(reference: LabelSet, other: LabelSet,
                 missing: MissingPolicy) -> list[AuditItem]:
    episode = reference.episode.episode_id
    items = []
    for field in CategoricalField:
        left, right = choice_value(reference, field), choice_value(other, field)
        if missing == MissingPolicy.DROP and (left is None or right is None):
            continue
        items.append(AuditItem(episode, reference.annotator, other.annotator,
                               AuditKind.CATEGORICAL, field.value, left == right, 0.0, None,
                               None, f'{left or "(unset)"} vs {right or "(unset)"}'))
    same = instructions_match(reference, other)
    if same is not None:
        items.append(AuditItem(episode, reference.annotator, other.annotator,
                               AuditKind.INSTRUCTION, 'instruction', same, 0.0, None, None,
                               '' if same else 'normalized instructions differ'))
    return items


def audit_pair(reference: LabelSet, other: LabelSet, *, tolerance_ms: float = 250.0,
               iou_threshold: float = 0.5, end_ns: int | None = None,
               missing: MissingPolicy = MissingPolicy.DROP) -> tuple[AuditItem, ...]:
    """Every comparison of two label sets of one episode.

    The size of an unmatched boundary is its distance to the nearest boundary of the
    other side (0 when the other side has none); of an unmatched contact, its duration.

    Args:
        reference: The reference label set.
        other: The label set compared with it.
        tolerance_ms: Boundary matching tolerance.
        iou_threshold: Contact matching IoU threshold.
        end_ns: Episode end where open contacts are clipped (default: latest stamp).
        missing: Whether a label one side left unset is a disagreement.

    Returns:
        Boundary, contact, categorical and instruction items.

    """
    return tuple(_boundary_items(reference, other, tolerance_ms)
                 + _contact_items(reference, other, iou_threshold, end_ns)
                 + _label_items(reference, other, missing))


def _group(items: Iterable[AuditItem]) -> tuple[GroupDisagreement, ...]:
    grouped: dict[str, list[AuditItem]] = {}
    for item in items:
        grouped.setdefault(item.where, []).append(item)
    out = []
    for name, members in grouped.items():
        sizes = [m.size_ms for m in members if m.agreed]
        out.append(GroupDisagreement(name, len(sizes), len(members) - len(sizes),
                                     mean_or_none(sizes), max(sizes, default=None)))
    return tuple(sorted(out, key=lambda g: (-g.unmatched, -(g.mean_abs_ms or 0.0), g.name)))


@dataclass(frozen=True)
class DisagreementAudit:
    """Audit items of many episodes and pairs, with rankings."""

    items: tuple[AuditItem, ...]

    @property
    def spans(self) -> tuple[AuditItem, ...]:
        """Boundary and contact disagreements: unmatched first, then largest offsets."""
        timed = [i for i in self.items if i.kind in (AuditKind.BOUNDARY, AuditKind.CONTACT)
                 and (not i.agreed or i.size_ms > 0)]
        return tuple(sorted(timed, key=lambda i: (i.agreed, -i.size_ms, i.episode_id)))

    @property
    def labels(self) -> tuple[AuditItem, ...]:
        """Categorical and instruction disagreements, by episode."""
        return tuple(sorted((i for i in self.items if not i.agreed and i.kind in (
            AuditKind.CATEGORICAL, AuditKind.INSTRUCTION)), key=lambda i: i.episode_id))

    @property
    def episodes(self) -> tuple[EpisodeDisagreement, ...]:
        """Episode and pair, most unmatched first, then largest total offset."""
        totals: dict[tuple[str, str, str], tuple[int, float]] = {}
        for item in self.items:
            key = (item.episode_id, item.reference, item.other)
            unmatched, offset = totals.get(key, (0, 0.0))
            totals[key] = (unmatched + (not item.agreed),
                           offset + (item.size_ms if item.agreed else 0.0))
        rows = [EpisodeDisagreement(*key, *value) for key, value in totals.items()]
        return tuple(sorted(rows, key=lambda r: (-r.unmatched, -r.offset_ms, r.episode_id)))

    def groups(self, kind: AuditKind) -> tuple[GroupDisagreement, ...]:
        """Per phase (BOUNDARY), channel (CONTACT) or field: most unmatched first."""
        return _group(i for i in self.items if i.kind == kind)

    def to_json(self, limit: int = 20) -> dict[str, Any]:
        """The top ``limit`` spans, labels and episodes, and every group, for a report."""
        return {
            'spans': [i.to_json() for i in self.spans[:limit]],
            'labels': [i.to_json() for i in self.labels[:limit]],
            'episodes': [e._asdict() for e in self.episodes[:limit]],
            'phases': [g._asdict() for g in self.groups(AuditKind.BOUNDARY)],
            'channels': [g._asdict() for g in self.groups(AuditKind.CONTACT)],
            'fields': [g._asdict() for g in self.groups(AuditKind.CATEGORICAL)],
        }
