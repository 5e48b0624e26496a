"""Categorical agreement: published worked examples, perfect agreement, missing labels."""

from __future__ import annotations

import pytest

from humanoid_data.errors import LabelError
from humanoid_data.labels.agreement import (
    CategoricalField, MissingPolicy, choice_value, cohen_kappa, fleiss_kappa,
    krippendorff_alpha, raters_agreement)
from humanoid_data.labels.model import Choice, EpisodeRef, LabelSet, Role


def two_raters(yes_yes: int, yes_no: int, no_yes: int, no_no: int):
    """Item-level ratings of two raters from a 2x2 table of counts."""
    first = ['yes'] * (yes_yes + yes_no) + ['no'] * (no_yes + no_no)
    second = ['yes'] * yes_yes + ['no'] * yes_no + ['yes'] * no_yes + ['no'] * no_no
    return first, second


@pytest.mark.parametrize('table, kappa', [
    # Wikipedia, "Cohen's kappa", simple example: 50 grant proposals read by two readers;
    # p_o = 0.7, p_e = 0.5, kappa = 0.4.
    ((20, 5, 10, 15), 0.4),
    # Same article, "same percentages but different numbers": p_o = 0.60 both times,
    # kappa = 0.1304 and 0.2593.
    ((45, 15, 25, 15), 0.1304),
    ((25, 35, 5, 35), 0.2593),
])
def test_cohen_kappa_equals_the_worked_examples(table, kappa):
    first, second = two_raters(*table)
    result = cohen_kappa(first, second)
    assert result.kappa == pytest.approx(kappa, abs=5e-5)
    assert result.compared == sum(table)
    assert result.confusion.labels == ('no', 'yes')
    assert result.confusion.counts == ((table[3], table[2]), (table[1], table[0]))


# Wikipedia, "Fleiss' kappa", worked example (after Fleiss 1971): 10 subjects, 14 raters,
# 5 categories; n_ij counts per subject. P-bar = 0.378, P-bar_e = 0.213, kappa = 0.210.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_equals_the_worked_example():
    ratings = [[f'c{k}' for k, n in enumerate(row, 1) for _ in range(n)]
               for row in FLEISS_TABLE]
    assert fleiss_kappa(ratings) == pytest.approx(0.210, abs=5e-4)


# Krippendorff, K. (2011). "Computing Krippendorff's Alpha-Reliability", section C
# (nominal data, any number of observers, missing data): 4 observers, 12 units, '.'
# missing; alpha_nominal = 0.743.
KRIPPENDORFF_2011 = [
    '1 2 3 3 2 1 4 1 2 . . .',
    '1 2 3 3 2 2 4 1 2 5 . 3',
    '. 3 3 3 2 3 4 2 2 5 1 .',
    '1 2 3 3 2 4 4 1 2 5 1 .',
]


def test_krippendorff_alpha_equals_the_worked_example():
    observers = [[None if v == '.' else v for v in row.split()] for row in KRIPPENDORFF_2011]
    units = [list(u) for u in zip(*observers)]
    assert krippendorff_alpha(units) == pytest.approx(0.743, abs=5e-4)


def test_identical_ratings_agree_perfectly_and_one_category_is_undefined():
    values = ['success', 'failure', 'success', 'aborted', 'failure']
    assert cohen_kappa(values, values).kappa == 1.0
    rows = [[v, v, v] for v in values]
    assert fleiss_kappa(rows) == 1.0 and krippendorff_alpha(rows) == 1.0
    same = ['keep'] * 4
    assert cohen_kappa(same, same).kappa is None
    assert cohen_kappa(same, same).observed_agreement == 1.0
    assert fleiss_kappa([[v, v] for v in same]) is None
    assert krippendorff_alpha([[v, v] for v in same]) is None


def test_missing_labels_are_dropped_or_counted_as_a_category():
    first = ['a', 'b', 'a', None, 'b', 'a']
    second = ['a', 'b', 'a', 'b', None, 'b']
    dropped = cohen_kappa(first, second)
    assert (dropped.items, dropped.compared, dropped.agreed) == (6, 4, 3)
    expected = cohen_kappa(['a', 'b', 'a', 'a'], ['a', 'b', 'a', 'b']).kappa
    assert dropped.kappa == pytest.approx(expected)
    category = cohen_kappa(first, second, missing=MissingPolicy.CATEGORY)
    assert (category.compared, category.agreed) == (6, 3)
    assert category.kappa is not None and category.kappa < dropped.kappa
    assert '(unset)' in dropped.confusion.labels       # shown whatever the policy


def test_fleiss_drops_incomplete_subjects_and_alpha_uses_what_there_is():
    rows = [['a', 'a', 'a'], ['b', 'b', 'b'], ['a', 'b', None], ['b', 'b', 'a']]
    summary = raters_agreement(rows)
    assert (summary.subjects, summary.raters, summary.fleiss_subjects) == (4, 3, 3)
    assert summary.fleiss_kappa == pytest.approx(fleiss_kappa(
        [r for r in rows if None not in r]))
    assert summary.krippendorff_alpha is not None
    assert raters_agreement(rows, missing=MissingPolicy.CATEGORY).fleiss_subjects == 4
    with pytest.raises(LabelError, match='one entry per rater'):
        fleiss_kappa([['a', 'b'], ['a']])
    with pytest.raises(LabelError, match='reference values'):
        cohen_kappa(['a'], ['a', 'b'])


def test_choice_values_of_a_label_set():
    labels = LabelSet(EpisodeRef('ep'), 'a', Role.ANNOTATOR, 'test/1',
                      outcome=Choice('failure'), failure_mode=Choice(''))
    assert choice_value(labels, CategoricalField.OUTCOME) == 'failure'
    assert choice_value(labels, CategoricalField.FAILURE_MODE) is None
    assert choice_value(labels, CategoricalField.VERDICT) is None
