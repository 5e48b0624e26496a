"""Language agreement: normalized exact match of instructions."""

from __future__ import annotations

import pytest

from humanoid_data.labels.agreement import instruction_agreement, normalize_text
from humanoid_data.labels.model import EpisodeRef, LabelSet, Role, TextLabel


def labels(*texts: str, annotator='a') -> LabelSet:
    return LabelSet(EpisodeRef('ep'), annotator, Role.ANNOTATOR, 'test/1',
                    instructions=tuple(TextLabel(t) for t in texts))


@pytest.mark.parametrize('text, expected', [
    ('Pick up the cube, and put it on the target.', 'pick up the cube and put it on the target'),
    ('  pick   up\tthe  cube  ', 'pick up the cube'),
    ("Don't drop it!", 'dont drop it'),
    ('« Prends le cube »', 'prends le cube'),      # Unicode punctuation too
    ('', ''),
])
def test_normalization(text, expected):
    assert normalize_text(text) == expected


def test_exact_match_rate_after_normalization_with_missing_counted_apart():
    pairs = [
        (labels('Pick up the cube.'), labels('pick up the cube', annotator='b')),
        (labels('pick up the cube'), labels('pick up the red cube', annotator='b')),
        (labels('pick up the cube'), labels(annotator='b')),
        (labels('  '), labels('pick', annotator='b')),         # blank is no instruction
    ]
    result = instruction_agreement(pairs)
    assert (result.compared, result.matched, result.missing) == (2, 1, 2)
    assert result.rate == 0.5
    assert instruction_agreement([]).rate is None
