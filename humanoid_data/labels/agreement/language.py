"""Agreement on language instructions: exact match after normalization.

Normalization follows the SQuAD evaluation's answer normalization without its article
removal: lowercase, remove punctuation (any Unicode punctuation), collapse whitespace.
An episode's instruction is the tuple of its normalized instruction texts in order; an
episode one of the two annotators left without instruction is not compared but counted.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Iterable, NamedTuple

from humanoid_data.labels.model import LabelSet


def normalize_text(text: str) -> str:
    """Lowercase, punctuation removed, whitespace collapsed to single spaces."""
    kept = ''.join(ch for ch in text.lower() if not unicodedata.category(ch).startswith('P'))
    return ' '.join(kept.split())


def instruction_key(labels: LabelSet) -> tuple[str, ...] | None:
    """Normalized instruction texts in order; None when there is none (or all are blank)."""
    texts = tuple(normalize_text(t.text) for t in labels.instructions)
    return texts if any(texts) else None


class LanguageAgreement(NamedTuple):
    """Normalized exact matches of instructions over episodes."""

    compared: int
    matched: int
    missing: int        # episodes where one or both annotators gave no instruction

    @property
    def rate(self) -> float | None:
        """Matched over compared episodes; None when none was compared."""
        return self.matched / self.compared if self.compared else None

    def to_json(self) -> dict[str, Any]:
        """Figures for a report."""
        return {'compared': self.compared, 'matched': self.matched, 'missing': self.missing,
                'exact_match_rate': self.rate}


def instructions_match(reference: LabelSet, other: LabelSet) -> bool | None:
    """Whether the normalized instructions are equal; None when either side has none."""
    left, right = instruction_key(reference), instruction_key(other)
    if left is None or right is None:
        return None
    return left == right


def instruction_agreement(pairs: Iterable[tuple[LabelSet, LabelSet]]) -> LanguageAgreement:
    """Exact-match rate of normalized instructions over (reference, other) pairs."""
    compared = matched = missing = 0
    for reference, other in pairs:
        same = instructions_match(reference, other)
        if same is None:
            missing += 1
        else:
            compared += 1
            matched += same
    return LanguageAgreement(compared, matched, missing)
