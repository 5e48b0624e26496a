"""Agreement on categorical labels (outcome, failure mode, verdict), by the standard libraries.

Cohen's kappa of a pair comes from scikit-learn, Fleiss' kappa of many raters from
statsmodels, Krippendorff's alpha (nominal) from the ``krippendorff`` package; nothing
here re-derives them. A missing label (an annotator who did not set a value) is handled
by an explicit ``MissingPolicy``:

- ``DROP``: Cohen's kappa uses the items both raters labelled; Fleiss' kappa the subjects
  every rater labelled; Krippendorff's alpha treats the value as missing, which it is
  built for.
- ``CATEGORY``: "unset" is a category of its own, so leaving a value out is a
  disagreement with anyone who set one.

A statistic that is undefined (fewer than two categories in play, nothing to compare)
is None, never NaN. The confusion matrix always shows "unset" when it occurs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Sequence

import krippendorff
import numpy as np

from humanoid_data.errors import LabelError
from humanoid_data.labels.model import LabelSet

# scikit-learn and statsmodels are imported in the functions that use them: together they
# take seconds to import, which every user of this package would otherwise pay.

UNSET = '(unset)'


class CategoricalField(str, Enum):
    """A categorical label of a label set."""

    OUTCOME = 'outcome'
    FAILURE_MODE = 'failure_mode'
    VERDICT = 'verdict'


class MissingPolicy(str, Enum):
    """What a missing label means to the agreement statistics."""

    DROP = 'drop'           # left out of the comparison
    CATEGORY = 'category'   # "unset" is a category of its own


def choice_value(labels: LabelSet, field: CategoricalField) -> str | None:
    """The value of one categorical label; None when the annotator did not set it."""
    choice = getattr(labels, field.value)
    return None if choice is None or not choice.value else str(choice.value)


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of (reference value, other value); rows are the reference."""

    labels: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]

    def to_json(self) -> dict[str, Any]:
        """Labels and rows for a report."""
        return {'labels': list(self.labels), 'counts': [list(r) for r in self.counts]}


@dataclass(frozen=True)
class PairKappa:
    """Agreement of two raters on one categorical label over many items."""

    items: int
    compared: int          # items that entered kappa (all, under MissingPolicy.CATEGORY)
    agreed: int
    kappa: float | None    # Cohen's kappa; None where undefined
    confusion: ConfusionMatrix

    @property
    def observed_agreement(self) -> float | None:
        """Share of compared items where both raters gave the same value."""
        return self.agreed / self.compared if self.compared else None

    def to_json(self) -> dict[str, Any]:
        """Figures and the confusion matrix for a report."""
        return {'items': self.items, 'compared': self.compared, 'agreed': self.agreed,
                'observed_agreement': self.observed_agreement, 'cohen_kappa': self.kappa,
                'confusion': self.confusion.to_json()}


@dataclass(frozen=True)
class RatersAgreement:
    """Agreement of many raters on one categorical label over many subjects."""

    subjects: int
    raters: int
    fleiss_subjects: int             # subjects every rater labelled (or all, CATEGORY)
    fleiss_kappa: float | None
    krippendorff_alpha: float | None

    def to_json(self) -> dict[str, Any]:
        """Figures for a report."""
        return {'subjects': self.subjects, 'raters': self.raters,
                'fleiss_subjects': self.fleiss_subjects, 'fleiss_kappa': self.fleiss_kappa,
                'krippendorff_alpha': self.krippendorff_alpha}


def _fill(values: Sequence[str | None], missing: MissingPolicy) -> list[str | None]:
    return [UNSET if v is None and missing == MissingPolicy.CATEGORY else v for v in values]


def _confusion(reference: Sequence[str | None], other: Sequence[str | None]) -> ConfusionMatrix:
    ref = [UNSET if v is None else v for v in reference]
    oth = [UNSET if v is None else v for v in other]
    labels = sorted(set(ref) | set(oth))
    if len(labels) < 2:     # scikit-learn warns about a one-label matrix; it is just a count
        return ConfusionMatrix(tuple(labels), ((len(ref),),) if labels else ())
    from sklearn.metrics import confusion_matrix
    table = confusion_matrix(ref, oth, labels=labels)
    return ConfusionMatrix(tuple(labels), tuple(tuple(int(c) for c in row) for row in table))


def cohen_kappa(reference: Sequence[str | None], other: Sequence[str | None], *,
                missing: MissingPolicy = MissingPolicy.DROP) -> PairKappa:
    """Cohen's kappa of two raters (``sklearn.metrics.cohen_kappa_score``).

    Args:
        reference: One value per item; None where the rater set none.
        other: The other rater's values, item for item.
        missing: What a missing value means.

    Returns:
        Counts, kappa (None when undefined: no item compared, or one category in all)
        and the confusion matrix.

    Raises:
        LabelError: The two sequences differ in length.

    """
    if len(reference) != len(other):
        raise LabelError(f'cohen_kappa: {len(reference)} reference values but '
                         f'{len(other)} other values')
    pairs = [(a, b) for a, b in zip(_fill(reference, missing), _fill(other, missing))
             if a is not None and b is not None]
    kappa: float | None = None
    if len({v for pair in pairs for v in pair}) >= 2:
        from sklearn.metrics import cohen_kappa_score
        left, right = [a for a, _ in pairs], [b for _, b in pairs]
        kappa = float(cohen_kappa_score(left, right, labels=sorted(set(left) | set(right))))
    return PairKappa(len(reference), len(pairs), sum(a == b for a, b in pairs), kappa,
                     _confusion(reference, other))


def _codes(ratings: Sequence[Sequence[str | None]]) -> tuple[np.ndarray, int]:
    """Ratings as float codes (NaN where missing) and the number of categories."""
    widths = {len(row) for row in ratings}
    if len(widths) > 1:
        raise LabelError(f'ratings: every subject needs one entry per rater (None where '
                         f'missing), got rows of lengths {sorted(widths)}')
    categories = sorted({v for row in ratings for v in row if v is not None})
    index = {c: float(i) for i, c in enumerate(categories)}
    codes = np.array([[np.nan if v is None else index[v] for v in row] for row in ratings],
                     dtype=np.float64).reshape(len(ratings), widths.pop() if widths else 0)
    return codes, len(categories)


def fleiss_kappa(ratings: Sequence[Sequence[str | None]], *,
                 missing: MissingPolicy = MissingPolicy.DROP) -> float | None:
    """Fleiss' kappa of subjects x raters (statsmodels ``aggregate_raters``, ``fleiss_kappa``).

    Under ``DROP`` only subjects every rater labelled take part. None when undefined
    (no such subject, fewer than two raters, or a single category in use).

    Raises:
        LabelError: Rows of different lengths.

    """
    codes, _ = _codes([_fill(row, missing) for row in ratings])
    complete = codes[~np.isnan(codes).any(axis=1)] if codes.size else codes
    if complete.shape[0] == 0 or complete.shape[1] < 2 or len(np.unique(complete)) < 2:
        return None
    from statsmodels.stats import inter_rater
    table, _ = inter_rater.aggregate_raters(complete.astype(np.int64))
    return float(inter_rater.fleiss_kappa(table, method='fleiss'))


def krippendorff_alpha(ratings: Sequence[Sequence[str | None]], *,
                       missing: MissingPolicy = MissingPolicy.DROP) -> float | None:
    """Krippendorff's alpha, nominal, of subjects x raters (the ``krippendorff`` package).

    None when undefined: no subject with two values, or one value in all of those.

    Raises:
        LabelError: Rows of different lengths.

    """
    codes, count = _codes([_fill(row, missing) for row in ratings])
    pairable = codes[(~np.isnan(codes)).sum(axis=1) >= 2] if codes.size else codes
    if pairable.shape[0] == 0 or len(np.unique(pairable[~np.isnan(pairable)])) < 2:
        return None
    return float(krippendorff.alpha(reliability_data=codes.T, value_domain=list(range(count)),
                                    level_of_measurement='nominal'))


def raters_agreement(ratings: Sequence[Sequence[str | None]], *,
                     missing: MissingPolicy = MissingPolicy.DROP) -> RatersAgreement:
    """Fleiss' kappa and Krippendorff's alpha of subjects x raters, with the counts used."""
    codes, _ = _codes([_fill(row, missing) for row in ratings])
    complete = int((~np.isnan(codes)).all(axis=1).sum()) if codes.size else 0
    return RatersAgreement(len(ratings), codes.shape[1] if codes.ndim == 2 else 0, complete,
                           fleiss_kappa(ratings, missing=missing),
                           krippendorff_alpha(ratings, missing=missing))
