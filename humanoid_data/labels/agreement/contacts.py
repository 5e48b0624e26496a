"""Contact agreement per channel: intervals matched one to one by IoU, and their timing.

An interval still open (``offset_ns`` None) is clipped at the episode end for its IoU; its
offset is not a labelled moment, so a pair with an open side has no offset error. Pairs
of one channel whose IoU reaches the threshold are taken greedily, highest IoU first,
each interval used once. Errors are signed, other minus reference, in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

from humanoid_data.errors import LabelError
from humanoid_data.labels.agreement.counts import MatchCounts, mean_or_none, ms, sum_counts
from humanoid_data.labels.model import LabelSet

DEFAULT_IOU_THRESHOLDS = (0.5,)


class ContactSpan(NamedTuple):
    """A contact interval with its end clipped at the episode end when it was open."""

    channel: str
    onset_ns: int
    end_ns: int
    open: bool

    @property
    def duration_ms(self) -> float:
        """Length of the (clipped) interval."""
        return ms(self.end_ns - self.onset_ns)


def span_iou(a: ContactSpan, b: ContactSpan) -> float:
    """Intersection over union of two spans (identical empty spans: 1)."""
    inter = min(a.end_ns, b.end_ns) - max(a.onset_ns, b.onset_ns)
    union = max(a.end_ns, b.end_ns) - min(a.onset_ns, b.onset_ns)
    if union <= 0:
        return 1.0 if (a.onset_ns, a.end_ns) == (b.onset_ns, b.end_ns) else 0.0
    return max(inter, 0) / union


class ContactPair(NamedTuple):
    """A reference interval and the other annotator's interval matched to it."""

    reference: ContactSpan
    other: ContactSpan
    iou: float

    @property
    def onset_error_ms(self) -> float:
        """Other onset minus reference onset."""
        return ms(self.other.onset_ns - self.reference.onset_ns)

    @property
    def offset_error_ms(self) -> float | None:
        """Other offset minus reference offset; None when either was open."""
        if self.reference.open or self.other.open:
            return None
        return ms(self.other.end_ns - self.reference.end_ns)


@dataclass(frozen=True)
class ChannelAgreement:
    """Matched and unmatched intervals of one channel."""

    channel: str
    pairs: tuple[ContactPair, ...]
    unmatched_reference: tuple[ContactSpan, ...]
    unmatched_other: tuple[ContactSpan, ...]

    @property
    def counts(self) -> MatchCounts:
        """Reference, other and matched interval counts."""
        matched = len(self.pairs)
        return MatchCounts(matched + len(self.unmatched_reference),
                           matched + len(self.unmatched_other), matched)

    @property
    def onset_errors_ms(self) -> tuple[float, ...]:
        """Signed onset errors of the matched pairs."""
        return tuple(p.onset_error_ms for p in self.pairs)

    @property
    def offset_errors_ms(self) -> tuple[float, ...]:
        """Signed offset errors of the matched pairs whose ends were both labelled."""
        return tuple(e for e in (p.offset_error_ms for p in self.pairs) if e is not None)

    def to_json(self) -> dict[str, Any]:
        """Counts and mean signed errors for a report."""
        return {**self.counts.to_json(),
                'onset_mean_ms': mean_or_none(self.onset_errors_ms),
                'offset_mean_ms': mean_or_none(self.offset_errors_ms)}


@dataclass(frozen=True)
class ContactAgreement:
    """Contact agreement at one IoU threshold, per channel (channels sorted by name)."""

    iou_threshold: float
    channels: tuple[ChannelAgreement, ...]

    @property
    def counts(self) -> MatchCounts:
        """Counts summed over channels."""
        return sum_counts(c.counts for c in self.channels)

    def channel(self, name: str) -> ChannelAgreement:
        """Agreement on the named channel; empty when neither side labelled it."""
        for entry in self.channels:
            if entry.channel == name:
                return entry
        return ChannelAgreement(name, (), (), ())

    def to_json(self) -> dict[str, Any]:
        """Totals and per-channel figures for a report."""
        return {'iou_threshold': self.iou_threshold, **self.counts.to_json(),
                'channels': {c.channel: c.to_json() for c in self.channels}}


def episode_end_ns(*label_sets: LabelSet) -> int:
    """The latest stamp any of the label sets holds (where open contacts are clipped)."""
    stamps = [0]
    for labels in label_sets:
        stamps += [p.end_ns for p in labels.phases]
        stamps += [c.onset_ns if c.offset_ns is None else c.offset_ns for c in labels.contacts]
        stamps += [t.stamp_ns for t in (*labels.instructions, *labels.notes)
                   if t.stamp_ns is not None]
    return max(stamps)


def contact_spans(labels: LabelSet, end_ns: int) -> dict[str, list[ContactSpan]]:
    """A label set's contacts per channel in onset order, open ones clipped at ``end_ns``."""
    out: dict[str, list[ContactSpan]] = {}
    for contact in sorted(labels.contacts, key=lambda c: (c.onset_ns, c.channel)):
        end = max(end_ns, contact.onset_ns) if contact.offset_ns is None else contact.offset_ns
        out.setdefault(contact.channel, []).append(
            ContactSpan(contact.channel, contact.onset_ns, end, contact.offset_ns is None))
    return out


def match_spans(channel: str, reference: Sequence[ContactSpan], other: Sequence[ContactSpan],
                iou_threshold: float) -> ChannelAgreement:
    """Match one channel's intervals one to one, highest IoU first, IoU >= threshold.

    Raises:
        LabelError: A threshold outside (0, 1].

    """
    if not 0.0 < iou_threshold <= 1.0:
        raise LabelError(f'IoU threshold must be within (0, 1], got {iou_threshold!r}')
    candidates = sorted(
        ((-iou, i, j) for i, r in enumerate(reference) for j, o in enumerate(other)
         for iou in (span_iou(r, o),) if iou >= iou_threshold))
    used_reference: dict[int, tuple[int, float]] = {}
    used_other: set[int] = set()
    for negative_iou, i, j in candidates:
        if i not in used_reference and j not in used_other:
            used_reference[i] = (j, -negative_iou)
            used_other.add(j)
    pairs = tuple(ContactPair(reference[i], other[j], iou)
                  for i, (j, iou) in sorted(used_reference.items()))
    return ChannelAgreement(
        channel, pairs, tuple(r for i, r in enumerate(reference) if i not in used_reference),
        tuple(o for j, o in enumerate(other) if j not in used_other))


def compare_contacts(reference: LabelSet, other: LabelSet, *,
                     iou_thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS,
                     end_ns: int | None = None) -> tuple[ContactAgreement, ...]:
    """Contact agreement of ``other`` against ``reference`` at each IoU threshold.

    Args:
        reference: The reference label set.
        other: The label set compared with it.
        iou_thresholds: Smallest IoU of a match, each within (0, 1].
        end_ns: Episode end where open intervals are clipped (default: the latest stamp
            either label set holds).

    Returns:
        One ``ContactAgreement`` per threshold, in the order given.

    Raises:
        LabelError: A threshold outside (0, 1].

    """
    end = episode_end_ns(reference, other) if end_ns is None else end_ns
    ref_spans, other_spans = contact_spans(reference, end), contact_spans(other, end)
    channels = sorted(set(ref_spans) | set(other_spans))
    return tuple(
        ContactAgreement(threshold, tuple(
            match_spans(c, ref_spans.get(c, []), other_spans.get(c, []), threshold)
            for c in channels))
        for threshold in iou_thresholds)


def combine_contacts(results: Sequence[ContactAgreement]) -> ContactAgreement:
    """Pool contact agreements of many episodes at one threshold, per channel.

    Raises:
        LabelError: No results, or results at different thresholds.

    """
    if not results:
        raise LabelError('no contact agreements to combine')
    thresholds = {r.iou_threshold for r in results}
    if len(thresholds) != 1:
        raise LabelError(f'contact agreements at different IoU thresholds '
                         f'{sorted(thresholds)} cannot be combined')
    pooled: dict[str, list[ChannelAgreement]] = {}
    for result in results:
        for entry in result.channels:
            pooled.setdefault(entry.channel, []).append(entry)
    return ContactAgreement(results[0].iou_threshold, tuple(
        ChannelAgreement(name,
                         tuple(p for e in entries for p in e.pairs),
                         tuple(s for e in entries for s in e.unmatched_reference),
                         tuple(s for e in entries for s in e.unmatched_other))
        for name, entries in sorted(pooled.items())))
