"""Agreement between annotators: phases, contacts, categorical labels, language, audit.

ROS-free. ``agreement_report`` compares many label sets at once; the modules below give
the single measures: ``phases`` (boundary P/R/F1 at tolerances, segmental F1@k, edit
score, frame accuracy, signed offsets), ``contacts`` (IoU matching per channel),
``categorical`` (Cohen's and Fleiss' kappa, Krippendorff's alpha, confusion matrices),
``language`` (normalized exact match) and ``audit`` (disagreements ranked).
"""

from __future__ import annotations

from humanoid_data.labels.agreement.audit import (
    AuditItem, AuditKind, DisagreementAudit, EpisodeDisagreement, GroupDisagreement,
    audit_pair)
from humanoid_data.labels.agreement.boundaries import (
    BoundaryMatch, BoundaryPair, PhaseBoundary, match_boundaries, phase_boundaries,
    top_level_segments)
from humanoid_data.labels.agreement.categorical import (
    CategoricalField, ConfusionMatrix, MissingPolicy, PairKappa, RatersAgreement,
    choice_value, cohen_kappa, fleiss_kappa, krippendorff_alpha, raters_agreement)
from humanoid_data.labels.agreement.contacts import (
    ChannelAgreement, ContactAgreement, ContactPair, ContactSpan, combine_contacts,
    compare_contacts, episode_end_ns)
from humanoid_data.labels.agreement.counts import MatchCounts, sum_counts
from humanoid_data.labels.agreement.language import (
    LanguageAgreement, instruction_agreement, normalize_text)
from humanoid_data.labels.agreement.phases import (
    BoundaryScore, PhaseAgreement, PhaseOffsets, PhaseSettings, SegmentalScore,
    combine_phases, compare_phases)
from humanoid_data.labels.agreement.report_data import (
    AgreementReport, AgreementSettings, PairReport, agreement_report, compare_pair)
from humanoid_data.labels.agreement.segmental import (
    FrameCounts, edit_score, frame_agreement, levenshtein, segmental_counts)

__all__ = [
    'AgreementReport', 'AgreementSettings', 'AuditItem', 'AuditKind', 'BoundaryMatch',
    'BoundaryPair', 'BoundaryScore', 'CategoricalField', 'ChannelAgreement',
    'ConfusionMatrix', 'ContactAgreement', 'ContactPair', 'ContactSpan', 'DisagreementAudit',
    'EpisodeDisagreement', 'FrameCounts', 'GroupDisagreement', 'LanguageAgreement',
    'MatchCounts', 'MissingPolicy', 'PairKappa', 'PairReport', 'PhaseAgreement',
    'PhaseBoundary', 'PhaseOffsets', 'PhaseSettings', 'RatersAgreement', 'SegmentalScore',
    'agreement_report', 'audit_pair', 'choice_value', 'cohen_kappa', 'combine_contacts',
    'combine_phases', 'compare_contacts', 'compare_pair', 'compare_phases', 'edit_score',
    'episode_end_ns', 'fleiss_kappa', 'frame_agreement', 'instruction_agreement',
    'krippendorff_alpha', 'levenshtein', 'match_boundaries', 'normalize_text',
    'phase_boundaries', 'raters_agreement', 'segmental_counts', 'sum_counts',
    'top_level_segments',
]
