"""Contact stamps at the baseline: where a rise begins and a fall ends, not the thresholds.

Properties on synthetic edges (any slope, any threshold), that the live event goes out no
later than the hysteresis alone would send it, and accuracy against the simulator's truth.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from humanoid_data.core.contact import (
    TactileContactDetector, WrenchContactDetector, channel_of)
from humanoid_data.core.contact_config import ContactConfig, WrenchThresholds
from humanoid_data.core.contact_stamps import ramp_bend
from humanoid_data.core.events import Transition
from humanoid_data.core.intervals import Interval, intervals_from_events, score_contacts
from humanoid_data.monitors.contact import ContactMonitor, run_offline
from humanoid_data.sim.humanoid import SimulatedHumanoid
from humanoid_data.sim.scenario import CYCLE_S

MS = 1_000_000


@given(st.integers(3, 60), st.floats(0.05, 50.0), st.floats(-0.9, 0.9))
def test_the_bend_of_a_clean_ramp_is_its_foot(before, slope, phase):
    x = np.arange(-before, 20, dtype=float)
    foot = phase                         # anywhere between two samples
    y = slope * np.clip(x - foot, 0.0, None)
    bend = ramp_bend(x, y)
    assert bend is not None and abs(bend - foot) <= 1.0


def test_a_step_bends_within_the_gap_before_it_and_flat_data_has_no_bend():
    x = np.arange(7, dtype=float)       # the fit ends at the crossing: here the step itself
    bend = ramp_bend(x, np.where(x >= 6, 5.0, 0.0))
    assert bend is not None and 5.0 <= bend <= 6.0
    assert ramp_bend(x, np.zeros(7)) is None
    assert ramp_bend(x[:1], np.zeros(1)) is None


def wrench_trace(rest_ms: int, rise_ms: int, plateau: float, hold_ms: int, fall_ms: int,
                 noise: float, seed: int) -> tuple[np.ndarray, int, int]:
    """|F| at 1 kHz: rest, a linear rise, a plateau, a linear fall, rest; foot and end (ms)."""
    rise = np.linspace(0.0, plateau, rise_ms + 1)[1:]
    fall = np.linspace(plateau, 0.0, fall_ms + 1)[1:]
    trace = np.concatenate([np.zeros(rest_ms), rise, np.full(hold_ms, plateau), fall,
                            np.zeros(200)])
    trace += np.random.default_rng(seed).normal(0.0, noise, len(trace))
    return trace, rest_ms - 1, rest_ms + rise_ms + hold_ms + fall_ms - 1


@settings(max_examples=60, deadline=None)
@given(rise_ms=st.integers(1, 60), plateau=st.floats(2.0, 30.0), on=st.floats(0.4, 1.5),
       fall_ms=st.integers(1, 60), seed=st.integers(0, 10_000))
def test_wrench_stamps_sit_at_the_feet_of_the_edges_whatever_the_slope_and_threshold(
        rise_ms, plateau, on, fall_ms, seed):
    config = ContactConfig(tare_s=0.1, wrench=WrenchThresholds(
        on_n=on, off_n=0.6 * on, slip_drop_fraction=0.0))   # a quick release is no slip here
    trace, foot, end = wrench_trace(300, rise_ms, plateau, 80, fall_ms, 0.02, seed)
    detector = WrenchContactDetector('wrist/right', config)
    sent, confirmed = {}, {}
    for i, value in enumerate(trace):
        was_active = detector.switch.active
        for change in detector.update(i * MS, [0.0, 0.0, value]):
            sent[change.transition] = (i, change.stamp_ns / MS)
        if detector.switch.active != was_active:      # the hysteresis alone decided here
            kind = Transition.ONSET if detector.switch.active else Transition.OFFSET
            confirmed.setdefault(kind, (i, detector.switch.crossing_ns / MS))
    sent.update({c.transition: (len(trace), c.stamp_ns / MS) for c in detector.close()})
    assert set(sent) == {Transition.ONSET, Transition.OFFSET}
    onset_at, onset = sent[Transition.ONSET]
    # The onset goes out on the very sample the hysteresis confirms it: no added latency.
    assert onset_at == confirmed[Transition.ONSET][0]
    assert onset <= confirmed[Transition.ONSET][1]          # never later than the crossing
    assert abs(onset - foot) <= 1.0, (onset, foot)          # within one sample of the foot
    offset_at, offset = sent[Transition.OFFSET]
    assert offset >= confirmed[Transition.OFFSET][1]        # never before the crossing
    # A slow fall ends inside the noise band: the last samples of it look like rest.
    hidden = 3 * 0.02 / (plateau / fall_ms)
    assert abs(offset - end) <= 1.0 + hidden, (offset, end)
    assert offset_at <= confirmed[Transition.OFFSET][0] + 200   # settle_s at most


def test_a_step_onto_a_pad_is_stamped_at_the_step_and_a_release_at_its_end():
    detector = TactileContactDetector('tactile/right/index', ContactConfig(tare_s=0.05))
    blob = np.zeros((4, 4))
    blob[1:3, 1:3] = 10.0
    frames = [np.zeros((4, 4))] * 20 + [0.5 * blob, blob] + [2 * blob] * 20 \
        + [blob, 0.3 * blob] + [np.zeros((4, 4))] * 20
    changes = []
    for i, frame in enumerate(frames):
        changes += detector.update(i * 5 * MS, frame)
    changes += detector.close()
    assert [c.transition for c in changes] == [Transition.ONSET, Transition.OFFSET]
    assert changes[0].stamp_ns == 20 * 5 * MS            # the first sample off the baseline
    assert changes[1].stamp_ns == 44 * 5 * MS            # the first sample back on it


def test_back_to_back_contacts_keep_their_order():
    config = ContactConfig(tare_s=0.05)
    detector = WrenchContactDetector('wrist/left', config)
    trace = np.concatenate([np.zeros(100), np.full(40, 5.0), np.zeros(15), np.full(40, 5.0),
                            np.zeros(300)])
    changes = []
    for i, value in enumerate(trace):
        changes += detector.update(i * MS, [value, 0.0, 0.0])
    changes += detector.close()
    kinds = [c.transition for c in changes]
    assert kinds == [Transition.ONSET, Transition.OFFSET] * 2
    stamps = [c.stamp_ns // MS for c in changes]
    assert stamps == sorted(stamps) and stamps == [100, 140, 155, 195]


def simulated(suite, noise: float, seed: int):
    """Three pick-and-place cycles of the wrench and tactile streams, at random phases."""
    keep = tuple(s for s in suite.streams if s.modality.value in ('wrench', 'tactile'))
    small = replace(suite, streams=keep)
    rng = np.random.default_rng(seed)
    t0 = 10 ** 12
    sim = SimulatedHumanoid(small, start_ns=t0, noise=noise, seed=seed)
    period = int((CYCLE_S + 0.8) * 1e9)
    for k in range(3):
        sim.play_cycle(t0 + 500 * MS + k * period + int(rng.integers(0, 5 * MS)))
    messages, now = [], t0
    while now < t0 + 500 * MS + 3.1 * period:
        now += MS
        messages.extend((m.topic, m.data) for m in sim.step(now))
    _, truth = sim.scenario.truth()
    return small, messages, [Interval(*t) for t in truth]


@pytest.mark.parametrize('seed', [3, 7])
def test_onsets_match_the_simulators_truth_at_the_default_noise(suite, contact_config, seed):
    small, messages, truth = simulated(suite, 1.0, seed)
    found = intervals_from_events(
        c.to_event() for c in run_offline(ContactMonitor(small, contact_config), messages))
    score = score_contacts(found, truth, tolerance_ns=10 * MS)
    assert score.true_count == 15 and score.precision == score.recall == 1.0, score.summary()
    periods = {channel_of(s): 1e3 / s.rate_hz for s in small.streams}
    for true in truth:
        [match] = [f for f in found if f.channel == true.channel
                   and abs(f.begin_ns - true.begin_ns) <= 10 * MS]
        error_ms = abs(match.begin_ns - true.begin_ns) / 1e6
        if true.channel.startswith('wrist/'):
            assert error_ms <= 10.0, (true, match)
        else:   # a pad: within one of its sample periods
            assert error_ms <= periods[true.channel], (true, match)


def test_at_three_times_the_noise_precision_and_recall_hold(suite, contact_config):
    small, messages, truth = simulated(suite, 3.0, 5)
    found = intervals_from_events(
        c.to_event() for c in run_offline(ContactMonitor(small, contact_config), messages))
    score = score_contacts(found, truth, tolerance_ns=10 * MS)
    assert score.precision >= 0.95 and score.recall >= 0.95, score.summary()
