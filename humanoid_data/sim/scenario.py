"""The scripted pick-and-place task of the simulated humanoid, and its ground truth.

A cycle moves the right hand through reach, grasp, lift, transport, place, release and
retreat. Everything every sensor shows is derived from ``Scenario.state(t_ns)``, so the
modalities agree with each other: the wrist force rises when the fingers close on the
object, the tactile pads of the fingers that touch it light up, the object moves with the
hand in the images and in the LiDAR cloud. The same object yields the true phase
boundaries and contact intervals that detectors are scored against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

FINGERS = ('thumb', 'index', 'middle', 'ring', 'pinky')
#: Pads of the right hand that touch the object, and how late each one closes (s).
CONTACT_PADS = {'thumb': 0.00, 'index': 0.02, 'middle': 0.04, 'ring': 0.07}
OBJECT_MASS_KG = 0.45
GRAVITY = 9.81


@dataclass(frozen=True)
class PhaseSpec:
    """One phase of the task and how long it lasts."""

    name: str
    duration_s: float


PHASES = (
    PhaseSpec('reach', 1.4),
    PhaseSpec('grasp', 0.7),
    PhaseSpec('lift', 0.8),
    PhaseSpec('transport', 1.6),
    PhaseSpec('place', 0.9),
    PhaseSpec('release', 0.5),
    PhaseSpec('retreat', 1.1),
)
CYCLE_S = sum(p.duration_s for p in PHASES)

HOME = np.array([0.25, -0.30, 0.95])        # right hand at rest, base_footprint frame (m)
PICK = np.array([0.55, -0.15, 0.80])        # object centre at the pick spot
PLACE = np.array([0.50, 0.15, 0.80])
LIFT_HEIGHT = 0.15
TABLE_Z = 0.75


class SceneState(NamedTuple):
    """Everything the sensors need at one instant."""

    phase: str                 # '' when idle
    hand: np.ndarray           # right hand position (3,)
    hand_velocity: np.ndarray  # (3,)
    closure: float             # 0 open .. 1 closed on the object
    obj: np.ndarray            # object centre (3,)
    holding: bool              # the object is off the table, carried by the hand
    pads: dict[str, float]     # right-hand pad -> contact pressure scale 0..1
    load_n: np.ndarray         # force the object exerts on the right wrist (3,), N
    cycle_s: float = -1.0      # time into the current cycle (s); -1 when idle


class TruthInterval(NamedTuple):
    """A true interval on the robot clock."""

    label: str
    begin_ns: int
    end_ns: int


def _min_jerk(s: float) -> float:
    s = min(max(s, 0.0), 1.0)
    return s ** 3 * (10 - 15 * s + 6 * s * s)


def _waypoints() -> list[tuple[np.ndarray, np.ndarray]]:
    above_pick = PICK + [0, 0, 0.02]
    lifted = PICK + [0, 0, LIFT_HEIGHT]
    above_place = PLACE + [0, 0, LIFT_HEIGHT]
    return [
        (HOME, above_pick),          # reach
        (above_pick, above_pick),    # grasp
        (above_pick, lifted),        # lift
        (lifted, above_place),       # transport
        (above_place, PLACE + [0, 0, 0.02]),  # place
        (PLACE + [0, 0, 0.02], PLACE + [0, 0, 0.02]),  # release
        (PLACE + [0, 0, 0.02], HOME),  # retreat
    ]


class Scenario:
    """Pick-and-place cycles starting at given robot-clock times."""

    def __init__(self) -> None:
        """Create a scenario with no cycle scheduled."""
        self._starts: list[int] = []
        self._segments = _waypoints()
        self._edges_s = np.cumsum([0.0] + [p.duration_s for p in PHASES])

    def schedule(self, start_ns: int) -> None:
        """Play one cycle beginning at ``start_ns`` (ignored if it overlaps the last one)."""
        if self._starts and start_ns < self._starts[-1] + int(CYCLE_S * 1e9):
            return
        self._starts.append(start_ns)

    @property
    def cycle_starts(self) -> tuple[int, ...]:
        """Start stamps of every scheduled cycle."""
        return tuple(self._starts)

    def _cycle_time(self, t_ns: int) -> tuple[float, int] | None:
        for index in range(len(self._starts) - 1, -1, -1):
            start = self._starts[index]
            if t_ns >= start:
                t = (t_ns - start) / 1e9
                return (t, index) if t < CYCLE_S else None
        return None

    def state(self, t_ns: int) -> SceneState:
        """Return the scene at robot-clock time ``t_ns``."""
        located = self._cycle_time(t_ns)
        last_place = bool(self._starts) and t_ns >= self._starts[-1]
        rest_obj = (PLACE if last_place and located is None else PICK).copy()
        if located is None:
            return SceneState('', HOME.copy(), np.zeros(3), 0.0, rest_obj, False,
                              dict.fromkeys(FINGERS, 0.0), np.zeros(3))
        t, _ = located
        k = int(np.searchsorted(self._edges_s, t, side='right') - 1)
        k = min(k, len(PHASES) - 1)
        phase = PHASES[k]
        s = (t - self._edges_s[k]) / phase.duration_s
        a, b = self._segments[k]
        hand = a + (b - a) * _min_jerk(s)
        ds = 1e-3
        hand_next = a + (b - a) * _min_jerk(s + ds / phase.duration_s)
        velocity = (hand_next - hand) / ds
        closure = self._closure(phase.name, s)
        holding = phase.name in ('lift', 'transport', 'place') or (
            phase.name == 'grasp' and s >= 0.999)
        in_hand = phase.name in ('grasp', 'lift', 'transport', 'place', 'release')
        if phase.name in ('reach', 'grasp'):
            obj = PICK.copy()
        elif in_hand and phase.name != 'release':
            obj = hand - [0, 0, 0.02]
        else:
            obj = PLACE.copy()
        pads = dict.fromkeys(FINGERS, 0.0)
        for finger, delay in CONTACT_PADS.items():
            pads[finger] = self._pad_pressure(phase.name, t - self._edges_s[k], delay,
                                              phase.duration_s)
        load = np.zeros(3)
        if holding:
            load = np.array([0.0, 0.0, -OBJECT_MASS_KG * GRAVITY])
        squeeze = max(pads.values())
        load = load + np.array([0.0, 2.5 * squeeze, 0.0])  # grip reaction on the wrist
        return SceneState(phase.name, hand, velocity, closure, obj, holding, pads, load, t)

    @staticmethod
    def _closure(phase: str, s: float) -> float:
        if phase == 'grasp':
            return _min_jerk(s / 0.6)
        if phase in ('lift', 'transport', 'place'):
            return 1.0
        if phase == 'release':
            return 1.0 - _min_jerk(s / 0.6)
        return 0.0

    @staticmethod
    def _pad_pressure(phase: str, t_in: float, delay: float, duration: float) -> float:
        """Pressure scale of one pad; fingers touch at 40 % of the grasp closure."""
        touch = 0.4 * 0.6 * PHASES[1].duration_s + delay
        if phase == 'grasp':
            return 0.0 if t_in < touch else min(1.0, (t_in - touch) / 0.15)
        if phase in ('lift', 'transport', 'place'):
            return 1.0
        if phase == 'release':
            lift_off = 0.25 * duration - delay / 2
            return 0.0 if t_in >= lift_off else 1.0 - t_in / lift_off * 0.5
        return 0.0

    def truth(self) -> tuple[list[TruthInterval], list[TruthInterval]]:
        """Return true phase intervals and true contact intervals of every cycle.

        Contact labels are the contact monitor's channel names: ``tactile/right/<finger>``
        and ``wrist/right``.
        """
        phases: list[TruthInterval] = []
        contacts: list[TruthInterval] = []
        for start in self._starts:
            for k, spec in enumerate(PHASES):
                phases.append(TruthInterval(spec.name, start + int(self._edges_s[k] * 1e9),
                                            start + int(self._edges_s[k + 1] * 1e9)))
            grasp0 = start + int(self._edges_s[1] * 1e9)
            release0 = start + int(self._edges_s[5] * 1e9)
            release_len = PHASES[5].duration_s
            for finger, delay in CONTACT_PADS.items():
                onset = grasp0 + int((0.4 * 0.6 * PHASES[1].duration_s + delay) * 1e9)
                offset = release0 + int((0.25 * release_len - delay / 2) * 1e9)
                contacts.append(TruthInterval(f'tactile/right/{finger}', onset, offset))
            first = min(c.begin_ns for c in contacts[-len(CONTACT_PADS):])
            last = max(c.end_ns for c in contacts[-len(CONTACT_PADS):])
            contacts.append(TruthInterval('wrist/right', first, last))
        return phases, contacts
