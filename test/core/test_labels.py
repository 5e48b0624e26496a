"""Phase segments from markers, automatic segments from contacts, per-frame labels."""

from __future__ import annotations

import numpy as np

from humanoid_data.core.intervals import Interval
from humanoid_data.core.events import Boundary, Phase, Source
from humanoid_data.core.labels import (
    MANIPULATION, Segment, auto_segments, contact_disagreements, contact_flags, phase_index,
    phase_segments)

PHASES = ('reach', 'grasp', 'lift')


def marker(stamp, name, boundary, source=Source.OPERATOR):
    return Phase(stamp, source, name=name, boundary=boundary)


def test_markers_pair_into_segments_and_open_ones_close():
    events = [marker(0, 'reach', Boundary.BEGIN), marker(10, 'reach', Boundary.END),
              marker(10, 'grasp', Boundary.BEGIN), marker(25, 'lift', Boundary.BEGIN),
              marker(5, 'reach', Boundary.BEGIN, Source.SIM_TRUTH)]
    segments = phase_segments(events, Source.OPERATOR, end_ns=40)
    assert segments == [Segment('reach', 0, 10, 'operator'), Segment('grasp', 10, 25, 'operator'),
                        Segment('lift', 25, 40, 'operator')]
    index = phase_index(np.arange(0, 45, 5), segments, PHASES)
    assert index.tolist() == [0, 0, 1, 1, 1, 2, 2, 2, -1]


def test_auto_segments_from_contacts_keep_their_source():
    contacts = [Interval('wrist/right', 100, 300), Interval('tactile/right/thumb', 110, 290)]
    segments = auto_segments(contacts, PHASES, 0, 400)
    assert segments == [Segment('reach', 0, 100, 'auto'), Segment(MANIPULATION, 100, 300, 'auto'),
                        Segment('lift', 300, 400, 'auto')]
    assert auto_segments([], PHASES, 0, 400) == []


def test_contact_flags_and_disagreements():
    recorded = [Interval('a', 10, 20), Interval('b', 15, None)]
    flags = contact_flags(np.array([5, 12, 18, 25]), recorded, ['a', 'b'], end_ns=30)
    assert flags.tolist() == [[False, False], [True, False], [True, True], [False, True]]
    offline = [Interval('a', 11, 20), Interval('a', 50, 60)]
    report = contact_disagreements(recorded, offline, tolerance_ns=5)
    assert report['matched'] == 1 and report['only_recorded'] == 1
    assert report['only_offline'] == 1
