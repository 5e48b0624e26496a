"""Contact detectors: properties of the hysteresis, slip, tare, config, ground-truth score."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from humanoid_data.core.contact import Hysteresis, TactileContactDetector, WrenchContactDetector
from humanoid_data.core.contact_config import (
    ContactConfig, load_contact_config, parse_contact_config)
from humanoid_data.core.events import Transition
from humanoid_data.core.intervals import Interval, intervals_from_events, score_contacts
from humanoid_data.errors import ConfigError
from humanoid_data.monitors.contact import ContactMonitor, run_offline
from humanoid_data.sim.humanoid import SimulatedHumanoid
from humanoid_data.sim.scenario import CYCLE_S

MS = 1_000_000
ON, OFF = 1.0, 0.5
levels = st.floats(0.0, 3.0, allow_nan=False)


def switch(min_on: int = 3, min_off: int = 3) -> Hysteresis:
    return Hysteresis(ON, OFF, min_on * MS, min_off * MS)


def run(h: Hysteresis, values, start: int = 0):
    out = []
    for i, v in enumerate(values):
        t = h.update((start + i) * MS, v)
        if t is not None:
            out.append((t, h.crossing_ns // MS))
    return out


@given(st.lists(st.floats(0.0, ON, exclude_max=True), max_size=300))
def test_values_below_on_never_start_a_contact(values):
    assert run(switch(), values) == []


@given(st.integers(0, 50), st.lists(st.floats(ON, 3.0), min_size=4, max_size=40))
def test_onset_is_stamped_at_the_crossing_sample(quiet, held):
    events = run(switch(min_on=3), [0.0] * quiet + held)
    assert events[0] == (Transition.ONSET, quiet)


@given(st.lists(st.floats(OFF, ON, exclude_max=True), max_size=200),
       st.lists(st.floats(OFF, 3.0), max_size=200))
def test_between_thresholds_the_state_never_changes(idle_band, active_band):
    assert run(switch(), idle_band) == []          # never reaches on: stays off
    h = switch(min_on=0)
    assert run(h, [2.0]) == [(Transition.ONSET, 0)]
    assert run(h, active_band, start=1) == []      # never below off: stays on


@given(st.lists(levels, max_size=400), st.integers(0, 5), st.integers(0, 5))
def test_onsets_and_offsets_alternate_and_close_at_the_end(values, min_on, min_off):
    detector = WrenchContactDetector('wrist/right', ContactConfig(
        tare_s=0.001, wrench=replace(ContactConfig().wrench, on_n=ON, off_n=OFF,
                                     min_on_s=min_on / 1e3, min_off_s=min_off / 1e3,
                                     slip_drop_fraction=0.0)))
    changes = []
    for i, v in enumerate([0.0, 0.0] + values):
        changes += detector.update(i * MS, [v, 0.0, 0.0])
    changes += detector.close()
    kinds = [c.transition for c in changes]
    assert kinds == [Transition.ONSET, Transition.OFFSET] * (len(kinds) // 2)
    stamps = [c.stamp_ns for c in changes]
    assert stamps == sorted(stamps)


@settings(max_examples=50)
@given(st.floats(0.0, 0.2), st.integers(0, 2**32 - 1))
def test_wrench_noise_below_threshold_never_fires(scale, seed):
    config = ContactConfig()
    rng = np.random.default_rng(seed)
    bias = np.array([0.6, -0.3, 1.1])
    detector = WrenchContactDetector('wrist/left', config)
    # Noise bounded by 0.2 N per axis stays below on_n = 0.5 N after the tare, whatever
    # the bias error: |f - b| <= |noise| + |mean noise| < 0.5.
    limit = config.wrench.on_n / (2 * np.sqrt(3))
    noise = np.clip(rng.normal(0, scale, (2000, 3)), -limit, limit)
    changes = []
    for i, n in enumerate(noise):
        changes += detector.update(i * MS, bias + n)
    assert detector.tared and changes == []


def test_wrench_slip_needs_a_sudden_drop_while_still_loaded():
    config = ContactConfig(tare_s=0.005)
    detector = WrenchContactDetector('wrist/right', config)
    series = [0.0] * 10 + [5.0] * 50 + [1.0] * 30 + list(np.linspace(1.0, 0.0, 50)) + [0.0] * 30
    changes = []
    for i, fz in enumerate(series):
        changes += detector.update(i * MS, [0.0, 0.0, fz])
    kinds = [c.transition for c in changes]
    assert kinds == [Transition.ONSET, Transition.SLIP, Transition.OFFSET]
    assert changes[1].stamp_ns == 60 * MS and changes[1].value == pytest.approx(4.0)
    # A gradual fade out through the band is a release, not a slip.
    fade = WrenchContactDetector('wrist/right', config)
    changes = []
    for i, fz in enumerate([0.0] * 10 + [5.0] * 50 + list(np.linspace(5.0, 0.0, 300))):
        changes += fade.update(i * MS, [0.0, 0.0, fz])
    assert [c.transition for c in changes] == [Transition.ONSET, Transition.OFFSET]


def _blob(centre: tuple[float, float], peak: float) -> np.ndarray:
    rows, cols = np.meshgrid(np.arange(4), np.arange(4), indexing='ij')
    return peak * np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / 2.0)


def test_tactile_contact_and_centroid_slip():
    detector = TactileContactDetector('tactile/right/index', ContactConfig(tare_s=0.02))
    frames = ([np.zeros((4, 4))] * 10 + [_blob((1.5, 1.5), 30.0)] * 10
              + [_blob((1.5, 1.5 + 0.2 * k), 30.0) for k in range(8)]
              + [np.zeros((4, 4))] * 10)
    changes = []
    for i, frame in enumerate(frames):
        changes += detector.update(i * 5 * MS, frame)
    kinds = [c.transition for c in changes]
    assert kinds[0] == Transition.ONSET and kinds[-1] == Transition.OFFSET
    assert Transition.SLIP in kinds
    assert changes[0].stamp_ns == 10 * 5 * MS


def test_single_active_taxel_is_not_a_contact():
    detector = TactileContactDetector('tactile/right/index', ContactConfig(tare_s=0.02))
    spike = np.zeros((4, 4))
    spike[0, 0] = 100.0     # one hot taxel (a stuck sensor element)
    changes = []
    for i in range(40):
        changes += detector.update(i * 5 * MS, np.zeros((4, 4)) if i < 10 else spike)
    assert changes == []


def test_nan_samples_are_skipped_and_counted():
    detector = WrenchContactDetector('wrist/right', ContactConfig(tare_s=0.002))
    changes = []
    for i in range(30):
        force = [np.nan, 0.0, 0.0] if i % 4 == 3 else [0.0, 0.0, 5.0 if i > 8 else 0.0]
        changes += detector.update(i * MS, force)
    assert detector.invalid == 7
    assert [c.transition for c in changes] == [Transition.ONSET]


def test_tare_on_request_follows_a_new_bias():
    detector = WrenchContactDetector('wrist/right', ContactConfig(tare_s=0.005))
    changes = []
    for i in range(20):
        changes += detector.update(i * MS, [0.0, 0.0, 0.0])
    detector.tare()
    for i in range(20, 40):   # the bias moved by 0.45 N: below on, so no contact
        changes += detector.update(i * MS, [0.0, 0.45, 0.0])
    for i in range(40, 60):   # +0.45 N more would be a contact against the old bias
        changes += detector.update(i * MS, [0.0, 0.9, 0.0])
    assert changes == []


def test_contact_config_errors_name_file_and_key(tmp_path):
    path = tmp_path / 'contact.yaml'
    path.write_text('wrench: {on_n: 0.2, off_n: 0.3}\n')
    with pytest.raises(ConfigError, match=r'contact\.yaml.*on_n'):
        load_contact_config(path)
    with pytest.raises(ConfigError, match="unknown parameter 'onn'"):
        parse_contact_config({'tactile': {'onn': 3}}, 'c.yaml')
    with pytest.raises(ConfigError, match='unknown key'):
        parse_contact_config({'wrist': {}}, 'c.yaml')
    path.write_text('wrench: [1, 2\n')
    with pytest.raises(ConfigError, match='not valid YAML'):
        load_contact_config(path)


def test_intervals_and_score():
    truth = [Interval('a', 100, 200), Interval('b', 100, 300), Interval('a', 500, 600)]
    found = [Interval('a', 110, 205), Interval('a', 900, 950), Interval('b', 90, None)]
    score = score_contacts(found, truth, tolerance_ns=50)
    assert (score.matched, score.precision, score.recall) == (2, 2 / 3, 2 / 3)
    assert score.onset_errors_ms == (10 / 1e6, -10 / 1e6)
    assert score.offset_errors_ms == (5 / 1e6,)


@pytest.mark.parametrize('noise', [1.0, 3.0])
def test_detection_matches_simulated_ground_truth(suite, contact_config, noise):
    keep = tuple(s for s in suite.streams if s.modality.value in ('wrench', 'tactile'))
    small = replace(suite, streams=keep)
    t0 = 10 ** 12
    sim = SimulatedHumanoid(small, start_ns=t0, noise=noise, seed=7)
    for k in range(3):
        sim.play_cycle(t0 + 500 * MS + k * int((CYCLE_S + 0.8) * 1e9))
    messages, now = [], t0
    while now < t0 + 500 * MS + 3 * int((CYCLE_S + 0.8) * 1e9):
        now += MS
        messages.extend((m.topic, m.data) for m in sim.step(now))
    changes = run_offline(ContactMonitor(small, contact_config), messages)
    detected = intervals_from_events(c.to_event() for c in changes)
    _, truth = sim.scenario.truth()
    score = score_contacts(detected, [Interval(*t) for t in truth])
    assert score.true_count == 3 * 5
    assert score.precision >= 0.99 and score.recall >= 0.99, score.summary()
    assert max(abs(e) for e in score.onset_errors_ms) < 50
    assert not any(c.transition == Transition.SLIP for c in changes)
