"""Contact agreement: per-channel IoU matching, timing errors, open intervals."""

from __future__ import annotations

import pytest

from humanoid_data.errors import LabelError
from humanoid_data.labels.agreement import (
    combine_contacts, compare_contacts, episode_end_ns)
from humanoid_data.labels.model import ContactLabel, EpisodeRef, LabelSet, PhaseLabel, Role

MS = 1_000_000


def labels(contacts, annotator='a', end_ms=10_000) -> LabelSet:
    """A label set with contacts (channel, onset_ms, offset_ms or None), one phase to the end."""
    return LabelSet(EpisodeRef('ep'), annotator, Role.ANNOTATOR, 'test/1',
                    phases=(PhaseLabel('task', 0, end_ms * MS),),
                    contacts=tuple(ContactLabel(c, on * MS, None if off is None else off * MS)
                                   for c, on, off in contacts))


TRUTH = [('wrist', 1000, 3000), ('thumb', 1100, 2900), ('index', 1150, 2950),
         ('wrist', 5000, 6000)]


def test_identical_sets_agree_perfectly():
    (result,) = compare_contacts(labels(TRUTH), labels(TRUTH, 'b'))
    assert result.counts == (4, 4, 4) and result.counts.f1 == 1.0
    assert [c.channel for c in result.channels] == ['index', 'thumb', 'wrist']
    wrist = result.channel('wrist')
    assert wrist.onset_errors_ms == (0.0, 0.0) and wrist.offset_errors_ms == (0.0, 0.0)


def test_signed_onset_and_offset_errors_of_matched_pairs():
    other = [('wrist', 1040, 2980), ('thumb', 1100, 2900), ('index', 1150, 2950),
             ('wrist', 4990, 6100)]
    wrist = compare_contacts(labels(TRUTH), labels(other, 'b'))[0].channel('wrist')
    assert wrist.onset_errors_ms == (40.0, -10.0)
    assert wrist.offset_errors_ms == (-20.0, 100.0)


def test_the_iou_threshold_decides_a_match():
    # Reference 1000..3000 (2 s). Other 1000..2000: IoU 0.5 exactly; 1000..1990: 0.495.
    at = compare_contacts(labels([('wrist', 1000, 3000)]), labels([('wrist', 1000, 2000)]),
                          iou_thresholds=(0.5, 0.6))
    assert [r.counts.matched for r in at] == [1, 0]
    (below,) = compare_contacts(labels([('wrist', 1000, 3000)]),
                                labels([('wrist', 1000, 1990)]))
    assert below.counts == (1, 1, 0)
    assert below.channel('wrist').unmatched_reference[0].onset_ns == 1000 * MS


def test_same_times_on_another_channel_do_not_match():
    (result,) = compare_contacts(labels([('wrist', 1000, 2000)]),
                                 labels([('thumb', 1000, 2000)]))
    assert result.counts == (1, 1, 0)


def test_matching_is_one_to_one_by_highest_iou():
    ref = [('wrist', 1000, 2000)]
    other = [('wrist', 1100, 2000), ('wrist', 1000, 2050)]     # IoU 0.90, then 0.952
    wrist = compare_contacts(labels(ref), labels(other))[0].channel('wrist')
    assert len(wrist.pairs) == 1 and wrist.pairs[0].other.end_ns == 2050 * MS
    assert wrist.counts == (1, 2, 1) and wrist.counts.extra == 1


def test_an_open_interval_is_clipped_at_the_episode_end():
    ref = labels([('wrist', 8000, None)])
    closed = labels([('wrist', 8000, 10_000)], 'b')
    (result,) = compare_contacts(ref, closed)
    pair = result.channel('wrist').pairs[0]
    assert pair.iou == 1.0 and pair.offset_error_ms is None
    assert episode_end_ns(ref, closed) == 10_000 * MS
    (short,) = compare_contacts(ref, labels([('wrist', 8000, 9000)], 'b'), end_ns=12_000 * MS)
    assert short.counts.matched == 0        # 1 s of the 4 s to the given end


def test_combining_episodes_pools_per_channel():
    one = compare_contacts(labels(TRUTH), labels(TRUTH[:2], 'b'))[0]
    two = compare_contacts(labels(TRUTH), labels(TRUTH, 'b'))[0]
    total = combine_contacts([one, two])
    assert total.counts == (8, 6, 6)
    assert total.channel('wrist').counts == (4, 3, 3)
    assert total.channel('index').counts.missed == 1
    assert total.to_json()['channels']['wrist']['recall'] == 0.75


def test_bad_thresholds_and_mixed_results_are_rejected():
    with pytest.raises(LabelError, match='IoU threshold'):
        compare_contacts(labels(TRUTH), labels(TRUTH), iou_thresholds=(0.0,))
    at_half = compare_contacts(labels(TRUTH), labels(TRUTH), iou_thresholds=(0.5, 0.7))
    with pytest.raises(LabelError, match='different IoU thresholds'):
        combine_contacts(list(at_half))
