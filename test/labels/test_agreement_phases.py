"""Phase agreement: boundary matching at tolerances, segmental F1@k, edit score, frames."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from humanoid_data.core.labels import Segment
from humanoid_data.errors import LabelError
from humanoid_data.labels.agreement import (
    PhaseBoundary, PhaseSettings, combine_phases, compare_phases, edit_score,
    frame_agreement, levenshtein, match_boundaries, phase_boundaries, segmental_counts,
    top_level_segments)
from humanoid_data.labels.model import EpisodeRef, LabelSet, PhaseLabel, Role

MS = 1_000_000
NAMES = ('reach', 'grasp', 'lift', 'transport', 'place', 'release', 'retreat')
#: Edges (ms) of seven contiguous phases; the shortest phase lasts 500 ms.
EDGES = (0, 1400, 2100, 2900, 4500, 5400, 5900, 7000)


def labels(spans, annotator='a') -> LabelSet:
    """A label set with phases given as (name, begin_ms, end_ms)."""
    return LabelSet(EpisodeRef('ep'), annotator, Role.ANNOTATOR, 'test/1',
                    phases=tuple(PhaseLabel(n, b * MS, e * MS) for n, b, e in spans))


def contiguous(edges=EDGES, names=NAMES, annotator='a') -> LabelSet:
    return labels([(n, b, e) for n, b, e in zip(names, edges, edges[1:])], annotator)


def seg(name, begin_ms, end_ms) -> Segment:
    return Segment(name, begin_ms * MS, end_ms * MS, 'human')


def test_identical_sets_agree_perfectly():
    result = compare_phases(contiguous(), contiguous(annotator='b'))
    assert all(s.counts.f1 == 1.0 for s in result.boundaries)
    assert [s.counts.matched for s in result.boundaries] == [6, 6, 6]
    assert all(s.counts.f1 == 1.0 for s in result.segmental)
    assert result.edit == 100.0
    assert result.frames.accuracy == 1.0 and result.frames.total == 700
    assert result.mean_offset_ms == 0.0
    assert [p.phase for p in result.per_phase] == list(NAMES[1:])


@pytest.mark.parametrize('tolerance', [50.0, 100.0, 250.0])
@pytest.mark.parametrize('sign', [1, -1])
def test_a_boundary_moved_inside_the_tolerance_changes_nothing(tolerance, sign):
    edges = list(EDGES)
    edges[3] += sign * int(tolerance)          # inclusive: exactly the tolerance still counts
    result = compare_phases(contiguous(), contiguous(edges), PhaseSettings((tolerance,)))
    assert result.boundary(tolerance) == (6, 6, 6)


@pytest.mark.parametrize('tolerance', [50.0, 100.0, 250.0])
def test_a_boundary_moved_outside_the_tolerance_costs_exactly_one_match(tolerance):
    edges = list(EDGES)
    edges[3] += int(tolerance) + 1
    counts = compare_phases(contiguous(), contiguous(edges),
                            PhaseSettings((tolerance,))).boundary(tolerance)
    n = len(EDGES) - 2
    assert counts == (n, n, n - 1)
    assert counts.precision == pytest.approx(1 - 1 / n)
    assert counts.recall == pytest.approx(1 - 1 / n)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(-250, 250), st.sampled_from([50, 100, 250]))
def test_one_moved_boundary_matches_exactly_when_within_tolerance(index, shift, tolerance):
    edges = list(EDGES)
    edges[index] += shift          # at most 250 ms: never past a neighbour (>= 500 ms away)
    counts = match_boundaries(phase_boundaries(top_level_segments(contiguous())),
                              phase_boundaries(top_level_segments(contiguous(edges))),
                              tolerance).counts
    assert counts.matched == (6 if abs(shift) <= tolerance else 5)


def test_matching_is_greedy_by_smallest_distance_and_one_to_one():
    ref = [PhaseBoundary(100 * MS, 'a', 'b'), PhaseBoundary(180 * MS, 'b', 'c')]
    other = [PhaseBoundary(170 * MS, 'a', 'b')]
    match = match_boundaries(ref, other, 100.0)
    assert [(p.reference.stamp_ns, p.offset_ns) for p in match.pairs] == [(180 * MS, -10 * MS)]
    assert match.unmatched_reference == (ref[0],)
    both = match_boundaries(ref, [PhaseBoundary(140 * MS, 'a', 'b')] * 2, 100.0)
    assert both.counts == (2, 2, 2)     # the second copy takes the other reference boundary


def test_a_late_annotator_shows_as_a_positive_mean_offset_per_phase():
    late = contiguous(tuple(e + 30 for e in EDGES))
    result = compare_phases(contiguous(), late)
    assert result.mean_offset_ms == pytest.approx(30.0)
    assert all(p.mean_ms == pytest.approx(30.0) for p in result.per_phase)
    assert result.boundary(50.0).f1 == 1.0


def test_segmental_f1_at_k_equals_the_hand_computed_values():
    reference = [seg('A', 0, 100), seg('B', 100, 200), seg('C', 200, 300)]
    other = [seg('A', 0, 40), seg('B', 40, 190), seg('D', 190, 195), seg('C', 195, 300)]
    # IoUs with the same-label reference segment: A 40/100 = 0.40, B 90/160 = 0.5625,
    # D none, C 100/105 = 0.952. At k = 0.5: TP B, C; FP A, D; FN A -> P 2/4, R 2/3.
    half = segmental_counts(reference, other, 0.50)
    assert half == (3, 4, 2)
    assert half.f1 == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))   # 4/7
    for k in (0.10, 0.25):          # A counts too: P 3/4, R 1, F1 6/7
        assert segmental_counts(reference, other, k).f1 == pytest.approx(6 / 7)


def test_a_reference_segment_is_matched_once_then_a_second_hit_is_a_false_positive():
    reference = [seg('A', 0, 100)]
    other = [seg('A', 0, 50), seg('A', 55, 100)]     # IoU 0.50, then 0.45 with the same one
    assert segmental_counts(reference, other, 0.10) == (1, 2, 1)


def test_edit_score_equals_the_hand_computed_values():
    abc = [seg('A', 0, 1), seg('B', 1, 2), seg('C', 2, 3)]
    assert levenshtein('kitten', 'sitting') == 3
    assert edit_score(abc, abc) == 100.0
    # [A, B, D, C] against [A, B, C]: one insertion over max length 4.
    assert edit_score(abc, [*abc[:2], seg('D', 2, 2), abc[2]]) == pytest.approx(75.0)
    # [B, A, C]: two substitutions over 3.
    assert edit_score(abc, [abc[1], abc[0], abc[2]]) == pytest.approx(100 / 3)
    assert edit_score([], []) == 100.0 and edit_score(abc, []) == 0.0


def test_frame_accuracy_on_a_grid_and_on_given_instants():
    reference = [seg('A', 0, 100), seg('B', 100, 200)]
    other = [seg('A', 0, 150), seg('B', 150, 200)]
    frames = frame_agreement(reference, other, step_ms=10.0)
    assert frames == (15, 20)       # instants 100..140 ms disagree
    assert frame_agreement(reference, other,
                           instants_ns=np.array([0, 120, 160]) * MS) == (2, 3)
    gap = [seg('A', 0, 50), seg('B', 150, 200)]    # nothing 50..150: "no phase" both ways
    assert frame_agreement(gap, gap, step_ms=10.0) == (20, 20)


def test_sub_phases_are_left_out_and_touching_same_phases_merge():
    one = labels([('reach', 0, 100), ('grasp', 100, 200), ('grasp/close', 150, 200)])
    two = labels([('reach', 0, 60), ('reach', 60, 100), ('grasp', 100, 200)])
    assert [s.name for s in top_level_segments(one)] == ['reach', 'grasp']
    assert top_level_segments(two)[0].end_ns == 100 * MS
    assert compare_phases(one, two).edit == 100.0


def test_combining_episodes_sums_counts_and_averages_edit():
    edges = list(EDGES)
    edges[2] += 400
    results = [compare_phases(contiguous(), contiguous()),
               compare_phases(contiguous(), contiguous(edges))]
    total = combine_phases(results)
    assert total.episodes == 2
    assert total.boundary(250.0) == (12, 12, 11)
    assert total.edit == 100.0
    assert len(total.offsets_ms) == 11
    assert total.frames.total == 1400


def test_bad_settings_and_mixed_results_are_rejected():
    with pytest.raises(LabelError, match='overlaps'):
        PhaseSettings(overlaps=(0.0,))
    with pytest.raises(LabelError, match='tolerances_ms'):
        PhaseSettings(tolerances_ms=(-1.0,))
    with pytest.raises(LabelError, match='different settings'):
        combine_phases([compare_phases(contiguous(), contiguous()),
                        compare_phases(contiguous(), contiguous(), PhaseSettings((10.0,)))])
    with pytest.raises(LabelError, match='no boundary score at 7'):
        compare_phases(contiguous(), contiguous()).boundary(7.0)
