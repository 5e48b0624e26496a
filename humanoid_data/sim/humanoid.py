"""The simulated humanoid as a message source, independent of ROS.

``SimulatedHumanoid.step(now_ns)`` returns every serialized message whose publish time has
come. All header stamps come from one clock: a stream's k-th stamp is ``start + k*period``,
and streams that share a ``trigger`` in the suite share their stamps (one camera trigger
for head RGB, depth and camera_info). Faults delay, shift, drop or silence streams.
Every message handed out is entered in a ledger (topic -> header stamps) so a run can be
compared message for message with what the recorder wrote.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple

import numpy as np

from humanoid_data.bag import encode
from humanoid_data.core.config import Modality, StreamConfig, SuiteConfig
from humanoid_data.core.events import Boundary, Contact, EventBase, Phase, Source, Transition
from humanoid_data.core.rigid import Transform
from humanoid_data.core.urdf import Robot
from humanoid_data.errors import ConfigError
from humanoid_data.sim import sensors
from humanoid_data.sim.body import Body, MountFault, load_body_robot, names_in
from humanoid_data.sim.faults import HEALTHY, StreamFault
from humanoid_data.sim.scenario import Scenario, SceneState
from humanoid_data.sim.scene import HeadView, LidarScan, WristView, camera_of


class Outgoing(NamedTuple):
    """A message ready to publish."""

    publish_ns: int
    seq: int
    topic: str
    stamp_ns: int
    data: bytes


@dataclass
class _Group:
    """Streams sampled at the same instants."""

    streams: list[StreamConfig]
    period_ns: float
    index: int = 0

    def stamp(self, start_ns: int) -> int:
        return start_ns + round(self.index * self.period_ns)


@dataclass
class Ledger:
    """Header stamps of every message handed out, per topic."""

    stamps: dict[str, list[int]] = field(default_factory=dict)

    def add(self, topic: str, stamp_ns: int) -> None:
        """Record one published message."""
        self.stamps.setdefault(topic, []).append(stamp_ns)

    def count_between(self, topic: str, begin_ns: int, end_ns: int) -> int:
        """Messages of ``topic`` stamped in ``[begin_ns, end_ns)``."""
        return self.count_in_windows(topic, [(begin_ns, end_ns)])[0]

    def count_in_windows(self, topic: str, windows: list[tuple[int, int]]) -> list[int]:
        """Messages of ``topic`` stamped in each ``[begin_ns, end_ns)`` window."""
        stamps = np.asarray(self.stamps.get(topic, []), dtype=np.int64)
        return [int(np.count_nonzero((stamps >= b) & (stamps < e))) for b, e in windows]


def _side(name: str) -> str:
    return 'left' if '_left' in name else 'right'


def _finger(name: str) -> str:
    return name.rsplit('_', 1)[-1]


@dataclass
class CameraTruth:
    """The true pose of a camera's optical frame (in ``base_footprint``) at each frame."""

    stamps: list[int] = field(default_factory=list)
    poses: list[np.ndarray] = field(default_factory=list)   # x y z qx qy qz qw

    def add(self, stamp_ns: int, pose: Transform) -> None:
        """Note the pose one frame was rendered from."""
        self.stamps.append(stamp_ns)
        self.poses.append(np.concatenate([pose.translation, pose.quat]))


class SimulatedHumanoid:
    """Serialized sensor messages of a simulated humanoid doing pick and place."""

    def __init__(self, suite: SuiteConfig, *, start_ns: int, seed: int = 0,
                 noise: float = 1.0, faults: Mapping[str, StreamFault] | None = None,
                 max_lag_ns: int = 500_000_000, robot: Robot | None = None,
                 mount_faults: Mapping[str, MountFault] | None = None) -> None:
        """Prepare renderers and schedules for every stream of ``suite``.

        ``robot`` is the URDF the body follows (default: config/humanoid.urdf);
        ``mount_faults`` move fixed sensor mounts in the rendering only.
        """
        self.suite = suite
        self.body = Body(robot or load_body_robot(), mount_faults)
        names = names_in(suite.joints, self.body.nominal)
        self._kinematics = sensors.JointKinematics(names, self.body)
        self._suite_columns = np.array([names.index(n) for n in suite.joints], dtype=int)
        self._moving = len(self.body.moving_names)
        self._positions_at: dict[int, np.ndarray] = {}
        self.camera_truth: dict[str, CameraTruth] = {}
        self.start_ns = start_ns
        self.noise = noise
        self.faults = dict(faults or {})
        self.scenario = Scenario()
        self.ledger = Ledger()
        self.max_lag_ns = max_lag_ns
        self.skipped = 0
        self._rng = np.random.default_rng(seed)
        self._pending: list[Outgoing] = []
        self._last_publish: dict[str, int] = {}
        self._seq = 0
        self._truth: list[EventBase] = []
        self._groups = self._make_groups(suite)
        self._frames: dict[tuple[str, int], object] = {}
        self._states: dict[int, SceneState] = {}
        # Latched streams (robot description, /tf_static) are published once by the node.
        self._builders = {s.name: self._builder(s) for s in suite.streamed}

    @staticmethod
    def _make_groups(suite: SuiteConfig) -> list[_Group]:
        groups: dict[str, _Group] = {}
        for stream in suite.streamed:
            key = stream.trigger or f'stream:{stream.name}'
            group = groups.get(key)
            if group is None:
                groups[key] = _Group([stream], 1e9 / stream.rate_hz)
            elif abs(group.period_ns - 1e9 / stream.rate_hz) > 1.0:
                raise ConfigError(f'{suite.source}: streams of trigger {key!r} must share '
                                  f'one rate; {stream.name} differs')
            else:
                group.streams.append(stream)
        return list(groups.values())

    # -- scheduling --------------------------------------------------------------------

    def play_cycle(self, start_ns: int) -> None:
        """Schedule one pick-and-place cycle and queue its ground-truth events."""
        self._states.clear()
        before = len(self.scenario.cycle_starts)
        self.scenario.schedule(start_ns)
        if len(self.scenario.cycle_starts) == before:
            return
        phases, contacts = self.scenario.truth()
        cycle_phases = [p for p in phases if p.begin_ns >= start_ns]
        cycle_contacts = [c for c in contacts if c.begin_ns >= start_ns]
        for p in cycle_phases:
            self._truth.append(Phase(p.begin_ns, Source.SIM_TRUTH, name=p.label,
                                     boundary=Boundary.BEGIN))
            self._truth.append(Phase(p.end_ns, Source.SIM_TRUTH, name=p.label,
                                     boundary=Boundary.END))
        for c in cycle_contacts:
            self._truth.append(Contact(c.begin_ns, Source.SIM_TRUTH, channel=c.label,
                                       transition=Transition.ONSET))
            self._truth.append(Contact(c.end_ns, Source.SIM_TRUTH, channel=c.label,
                                       transition=Transition.OFFSET))
        self._truth.sort(key=lambda e: e.stamp_ns)

    def truth_due(self, now_ns: int) -> list[EventBase]:
        """Pop the ground-truth events whose stamp has passed."""
        due = [e for e in self._truth if e.stamp_ns <= now_ns]
        self._truth = self._truth[len(due):]
        return due

    def next_sample_ns(self) -> int:
        """The stamp of the next sample of any stream."""
        return min(g.stamp(self.start_ns) for g in self._groups)

    def step(self, now_ns: int) -> list[Outgoing]:
        """Sample every group due by ``now_ns`` and return the messages due for publishing.

        A sample more than ``max_lag_ns`` overdue is skipped, as a real sensor cannot
        deliver a frame seconds late: a starved simulator shows gaps, not growing delay.
        Skipped samples are counted in ``skipped`` and never enter the ledger.
        """
        self.sample_until(now_ns, now_ns)
        out = []
        while self._pending and self._pending[0].publish_ns <= now_ns:
            item = heapq.heappop(self._pending)
            self.ledger.add(item.topic, item.stamp_ns)
            out.append(item)
        return out

    def sample_until(self, until_ns: int, now_ns: int) -> None:
        """Sample every group stamped by ``until_ns``, which may be ahead of ``now_ns``.

        Rendering ahead of the stamps lets a publisher send each message on time while
        the next frames are made (``take_pending``); skips count against ``now_ns``.
        """
        for group in self._groups:
            while (stamp := group.stamp(self.start_ns)) <= until_ns:
                if now_ns - stamp > self.max_lag_ns:
                    self.skipped += len(group.streams)
                else:
                    self._sample(group, stamp)
                group.index += 1
        self._frames.clear()
        self._positions_at.clear()

    def take_pending(self) -> list[Outgoing]:
        """Every sampled message not yet taken, in publish order.

        The caller publishes each at its ``publish_ns`` and notes it in ``ledger``.
        """
        out = sorted(self._pending)
        self._pending = []
        return out

    def _sample(self, group: _Group, stamp_ns: int) -> None:
        since_start = (stamp_ns - self.start_ns) / 1e9
        for stream in group.streams:
            fault = self.faults.get(stream.name, HEALTHY)
            if fault.silent(since_start):
                continue
            if fault.drop_rate and self._rng.random() < fault.drop_rate:
                continue
            header_ns = stamp_ns + fault.offset_ns
            data = self._builders[stream.name](stamp_ns, header_ns)
            self._seq += 1
            # A driver delays its messages but sends them in order: jitter never reorders.
            publish_ns = max(stamp_ns + fault.publish_delay_ns(self._rng),
                             self._last_publish.get(stream.name, 0))
            self._last_publish[stream.name] = publish_ns
            heapq.heappush(self._pending, Outgoing(publish_ns, self._seq, stream.topic,
                                                   header_ns, data))

    # -- message builders --------------------------------------------------------------

    def _state(self, t_ns: int) -> SceneState:
        # Streams sample at multiples of their periods; many share instants (all tactile
        # pads, both wrists), so the scene is evaluated once per instant.
        state = self._states.get(t_ns)
        if state is None:
            if len(self._states) > 256:
                self._states.clear()
            state = self._states[t_ns] = self.scenario.state(t_ns)
        return state

    def joint_positions(self, t_ns: int) -> np.ndarray:
        """True positions of the body's movable joints, then of the suite's other joints."""
        q = self._positions_at.get(t_ns)
        if q is None:
            q = self._positions_at[t_ns] = self._kinematics.positions(self._state(t_ns), t_ns)
        return q

    def true_pose(self, frame: str, t_ns: int) -> Transform:
        """Where ``frame`` truly is in ``base_footprint`` at ``t_ns`` (mount faults applied)."""
        names = self._kinematics.names
        return self.body.pose(frame, dict(zip(names, self.joint_positions(t_ns))))

    def _sensor_frame(self, stream: StreamConfig) -> str:
        """The body frame a stream is rendered from: its own, else its kind's nominal one."""
        own = f'{stream.name}_link'
        if own in self.body.nominal.links:
            return own
        if stream.modality == Modality.LIDAR:
            return 'lidar_link'
        if stream.name.startswith('head') or stream.modality == Modality.DEPTH:
            return 'head_rgb_link'
        return f'wrist_{_side(stream.name)}_rgb_link'

    def _truth_of(self, stream: StreamConfig) -> CameraTruth:
        return self.camera_truth.setdefault(stream.name, CameraTruth())

    def _camera_builder(self, stream: StreamConfig) -> Callable[[int, int], bytes]:
        """Images rendered from the camera's true pose, which is noted for the truth file."""
        frame = f'{stream.name}_link'
        m = stream.modality
        if stream.name.startswith('head') or m == Modality.DEPTH:
            # The head holds still: its view's static part is rendered once from its pose.
            body_frame = self._sensor_frame(stream)
            pose = self.true_pose(body_frame, self.start_ns)
            view = HeadView(stream.width, stream.height, pose)
            index = 0 if m == Modality.RGB else 1
            truth = self._truth_of(stream)

            def head(t: int, h: int) -> bytes:
                key = ('head', t)
                if key not in self._frames:
                    self._frames[key] = view.render(self._state(t))
                truth.add(h, pose)
                pixels = self._frames[key][index]  # type: ignore[index]
                if m == Modality.DEPTH and stream.encoding == '32FC1':
                    pixels = pixels.astype(np.float32) / 1000.0
                return encode.image(h, frame, pixels, stream.encoding)
            return head
        wrist = WristView(stream.width, stream.height)
        body_frame = self._sensor_frame(stream)
        truth = self._truth_of(stream)

        def wrist_image(t: int, h: int) -> bytes:
            pose = self.true_pose(body_frame, t)
            truth.add(h, pose)
            return encode.image(h, frame, wrist.render(self._state(t), pose),
                                stream.encoding)
        return wrist_image

    def _builder(self, stream: StreamConfig) -> Callable[[int, int], bytes]:
        frame = f'{stream.name}_link'
        rng = self._rng
        m = stream.modality
        if m in (Modality.RGB, Modality.DEPTH):
            return self._camera_builder(stream)
        if m == Modality.TRANSFORM:
            layout = encode.TfLayout([(j.parent, j.child) for j in self.body.moving])
            return lambda t, h: layout.fill(
                h, *self.body.moving_transforms(self.joint_positions(t)[:self._moving]))
        if m == Modality.CAMERA_INFO:
            # CameraInfo describes its image stream and carries the image's frame_id.
            f = camera_of(stream.name, stream.width, stream.height).f
            image_frame = f'{stream.name.removesuffix("_camera_info")}_rgb_link'
            if image_frame not in self.body.nominal.links:
                image_frame = frame
            return lambda t, h: encode.camera_info(h, image_frame, stream.width, stream.height,
                                                   f, f)
        if m == Modality.LIDAR:
            lidar = LidarScan(stream.points)
            lidar_frame = self._sensor_frame(stream)
            return lambda t, h: encode.point_cloud(
                h, frame, lidar.scan(self._state(t), self.noise,
                                     self.true_pose(lidar_frame, t)))
        columns = self._suite_columns
        if m == Modality.JOINT_STATE:
            states = encode.joint_state_layout(self.suite.joints)
            return lambda t, h: states.fill(
                h, *sensors.joint_state(self.joint_positions, t, rng, self.noise, columns))
        if m == Modality.COMMAND:
            commands = encode.joint_state_layout(self.suite.joints, with_state=False)
            return lambda t, h: commands.fill(
                h, sensors.joint_command(self.joint_positions, t)[columns])
        if m == Modality.WRENCH:
            side = _side(stream.name)
            wrenches = encode.wrench_layout(frame)
            return lambda t, h: wrenches.fill(
                h, *sensors.wrench(side, self._state(t), rng, self.noise))
        if m == Modality.TACTILE:
            side, finger = _side(stream.name), _finger(stream.name)
            pads = encode.float_image_layout(frame, stream.height, stream.width)
            return lambda t, h: pads.fill(
                h, sensors.tactile(side, finger, self._state(t), rng, self.noise,
                                   stream.height, stream.width).reshape(-1))
        if m == Modality.IMU:
            imus = encode.imu_layout(frame)
            return lambda t, h: imus.fill(
                h, *sensors.imu(self._state(t), t, rng, self.noise))
        raise ConfigError(f'{self.suite.source}: the simulator cannot produce {m.value} '
                          f'on {stream.msgtype} ({stream.name})')

    def static_transforms(self, stamp_ns: int) -> bytes:
        """A TFMessage of every fixed joint as the URDF states it (mount faults unseen)."""
        return encode.tf_message([(stamp_ns, parent, child, t.translation, t.quat)
                                  for parent, child, t in self.body.static_transforms()])
