"""Agreement of many annotators over many episodes: the figures an agreement report shows.

Label sets are grouped by episode. Pairs are either every annotator against a named
reference (the simulator's truth, an adjudicated set) or every unordered pair of
annotators (the first by name as reference). For each pair, phase and contact agreement
are summed over the episodes both labelled; categorical labels get Cohen's kappa per
pair and Fleiss' kappa and Krippendorff's alpha over all annotators; instructions their
normalized exact-match rate; and every comparison goes into the disagreement audit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Sequence

from humanoid_data.errors import LabelError
from humanoid_data.labels.agreement.audit import AuditItem, DisagreementAudit, audit_pair
from humanoid_data.labels.agreement.categorical import (
    UNSET, CategoricalField, MissingPolicy, PairKappa, RatersAgreement, choice_value,
    cohen_kappa, raters_agreement)
from humanoid_data.labels.agreement.contacts import (
    DEFAULT_IOU_THRESHOLDS, ContactAgreement, combine_contacts, compare_contacts,
    episode_end_ns)
from humanoid_data.labels.agreement.language import LanguageAgreement, instruction_agreement
from humanoid_data.labels.agreement.phases import (
    PhaseAgreement, PhaseSettings, combine_phases, compare_phases)
from humanoid_data.labels.model import LabelSet


@dataclass(frozen=True)
class AgreementSettings:
    """Everything that decides how label sets are compared."""

    phases: PhaseSettings = PhaseSettings()
    iou_thresholds: tuple[float, ...] = DEFAULT_IOU_THRESHOLDS
    missing: MissingPolicy = MissingPolicy.DROP

    def __post_init__(self) -> None:
        """At least one IoU threshold, each within (0, 1]."""
        if not self.iou_thresholds or any(not 0 < t <= 1 for t in self.iou_thresholds):
            raise LabelError(f'iou_thresholds must be one or more values within (0, 1], '
                             f'got {self.iou_thresholds!r}')


@dataclass(frozen=True)
class PairReport:
    """Agreement of one annotator with a reference over the episodes both labelled."""

    reference: str
    other: str
    episodes: tuple[str, ...]
    phases: PhaseAgreement
    contacts: tuple[ContactAgreement, ...]     # one per IoU threshold
    categorical: tuple[tuple[CategoricalField, PairKappa], ...]
    language: LanguageAgreement
    audit: DisagreementAudit

    def kappa(self, field: CategoricalField) -> PairKappa:
        """Cohen's kappa figures of one categorical field."""
        return dict(self.categorical)[field]

    def to_json(self) -> dict[str, Any]:
        """Figures for a report."""
        return {'reference': self.reference, 'other': self.other,
                'episodes': len(self.episodes), 'phases': self.phases.to_json(),
                'contacts': [c.to_json() for c in self.contacts],
                'categorical': {f.value: k.to_json() for f, k in self.categorical},
                'language': self.language.to_json(), 'audit': self.audit.to_json()}


@dataclass(frozen=True)
class AgreementReport:
    """Agreement of every pair and of every categorical field over all raters."""

    annotators: tuple[str, ...]
    episodes: tuple[str, ...]
    settings: AgreementSettings
    pairs: tuple[PairReport, ...]
    raters: tuple[tuple[CategoricalField, RatersAgreement], ...]

    @property
    def audit(self) -> DisagreementAudit:
        """The disagreement audit of every pair together."""
        return DisagreementAudit(tuple(i for p in self.pairs for i in p.audit.items))

    def pair(self, reference: str, other: str) -> PairReport:
        """The report of one pair.

        Raises:
            LabelError: No such pair.

        """
        for entry in self.pairs:
            if (entry.reference, entry.other) == (reference, other):
                return entry
        raise LabelError(f'no pair {reference!r} / {other!r}; pairs: '
                         f'{", ".join(f"{p.reference}/{p.other}" for p in self.pairs)}')

    def to_json(self) -> dict[str, Any]:
        """The whole report as JSON-ready values (null where a figure is undefined)."""
        return {'annotators': list(self.annotators), 'episodes': len(self.episodes),
                'missing_policy': self.settings.missing.value,
                'pairs': [p.to_json() for p in self.pairs],
                'raters': {f.value: r.to_json() for f, r in self.raters}}

    def to_json_text(self) -> str:
        """``to_json`` serialized, indented."""
        return json.dumps(self.to_json(), indent=2, sort_keys=False)


def index_label_sets(label_sets: Sequence[LabelSet]) -> dict[str, dict[str, LabelSet]]:
    """Label sets by episode id, then annotator.

    Raises:
        LabelError: Two label sets of one annotator for one episode.

    """
    out: dict[str, dict[str, LabelSet]] = {}
    for labels in label_sets:
        by_annotator = out.setdefault(labels.episode.episode_id, {})
        if labels.annotator in by_annotator:
            raise LabelError(f'episode {labels.episode.episode_id!r}: two label sets of '
                             f'annotator {labels.annotator!r}')
        by_annotator[labels.annotator] = labels
    return out


def _rating(sets: dict[str, LabelSet], annotator: str, field: CategoricalField,
            missing: MissingPolicy) -> str | None:
    """One rating; an episode the annotator never labelled is missing under any policy."""
    if annotator not in sets:
        return None
    value = choice_value(sets[annotator], field)
    return UNSET if value is None and missing == MissingPolicy.CATEGORY else value


def compare_pair(reference: str, other: str, by_episode: dict[str, dict[str, LabelSet]],
                 settings: AgreementSettings = AgreementSettings()) -> PairReport | None:
    """Agreement of ``other`` with ``reference`` over the episodes both labelled (or None)."""
    both = [(e[reference], e[other]) for _, e in sorted(by_episode.items())
            if reference in e and other in e]
    if not both:
        return None
    phases: list[PhaseAgreement] = []
    contacts: list[tuple[ContactAgreement, ...]] = []
    items: list[AuditItem] = []
    for ref, oth in both:
        end_ns = episode_end_ns(ref, oth)
        phases.append(compare_phases(ref, oth, settings.phases))
        contacts.append(compare_contacts(ref, oth, iou_thresholds=settings.iou_thresholds,
                                         end_ns=end_ns))
        items += audit_pair(ref, oth, tolerance_ms=settings.phases.offset_tolerance,
                            iou_threshold=settings.iou_thresholds[0], end_ns=end_ns,
                            missing=settings.missing)
    categorical = tuple(
        (field, cohen_kappa([choice_value(r, field) for r, _ in both],
                            [choice_value(o, field) for _, o in both],
                            missing=settings.missing))
        for field in CategoricalField)
    return PairReport(
        reference, other, tuple(r.episode.episode_id for r, _ in both), combine_phases(phases),
        tuple(combine_contacts([c[i] for c in contacts])
              for i in range(len(settings.iou_thresholds))),
        categorical, instruction_agreement(both), DisagreementAudit(tuple(items)))


def agreement_report(label_sets: Sequence[LabelSet], *, reference: str | None = None,
                     settings: AgreementSettings = AgreementSettings()) -> AgreementReport:
    """Agreement of annotators over episodes, pair by pair and all together.

    Args:
        label_sets: One label set per (episode, annotator).
        reference: Compare everyone with this annotator; None: every unordered pair.
        settings: Tolerances, overlaps, IoU thresholds, missing-label policy.

    Returns:
        The report; Fleiss' kappa and Krippendorff's alpha are over every annotator
        given, the reference included (leave it out of ``label_sets`` to exclude it).

    Raises:
        LabelError: Duplicate label sets, or a reference no label set names.

    """
    by_episode = index_label_sets(label_sets)
    annotators = tuple(sorted({s.annotator for s in label_sets}))
    if reference is not None and reference not in annotators:
        raise LabelError(f'reference annotator {reference!r} labelled nothing; annotators: '
                         f'{", ".join(annotators)}')
    couples = ([(reference, a) for a in annotators if a != reference] if reference
               else list(combinations(annotators, 2)))
    pairs = [p for p in (compare_pair(r, o, by_episode, settings) for r, o in couples)
             if p is not None]
    episodes = tuple(sorted(by_episode))
    raters = tuple((field, raters_agreement(
        [[_rating(by_episode[e], a, field, settings.missing) for a in annotators]
         for e in episodes], missing=MissingPolicy.DROP)) for field in CategoricalField)
    return AgreementReport(annotators, episodes, settings, tuple(pairs), raters)
