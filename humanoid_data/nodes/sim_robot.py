"""sim_robot: publishes every stream of the sensor suite from the simulated humanoid.

Messages are rendered ahead of their stamps on one thread (``RENDER_AHEAD_S``, at most
``task_lead_s``) and published on another, which wakes at each message's time and sends
its pre-serialized CDR bytes; the executor thread only serves the events subscription
(an operator's episode_start makes the robot perform one pick and place). With both on
one thread, every camera, depth and LiDAR render held back the 1 kHz samples due
meanwhile, and every stream arrived up to 60 ms late once in a hundred samples
(``bench/sync_latency.py``).
"""

from __future__ import annotations

import heapq
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rclpy.node import Node
from std_msgs.msg import String

from humanoid_data.core.config import Modality, SuiteConfig, load_suite
from humanoid_data.core.events import EpisodeStart, Source, decode_event, encode_event
from humanoid_data.core.phases import load_taxonomy
from humanoid_data.core.settings import SimSettings
from humanoid_data.core.urdf import UrdfError, parse_urdf
from humanoid_data.errors import ConfigError, EventError
from humanoid_data.nodes.runtime import (
    declare_settings, events_qos, latched_qos, message_class, publisher_qos, run_node)
from humanoid_data.resources import default_suite, default_taxonomy, default_urdf
from humanoid_data.sim.body import parse_mount_faults
from humanoid_data.sim.faults import parse_faults
from humanoid_data.sim.humanoid import SimulatedHumanoid
from humanoid_data.sim.scenario import CYCLE_S
from humanoid_data.sim.truth import TruthLog

#: How far ahead of their stamps messages are rendered (capped by ``task_lead_s``: an
#: operator's cycle must start after what is already rendered).
RENDER_AHEAD_S = 0.1
#: Longest sleep of the publishing thread (s).
PUBLISH_POLL_S = 0.005


class SimRobot(Node):
    """The simulated humanoid."""

    def __init__(self) -> None:
        """Load the suite, create one publisher per stream and start the producer."""
        super().__init__('sim_robot')
        self.settings = declare_settings(self, SimSettings)
        suite = load_suite(self.settings.config or default_suite())
        if self.settings.rate_scale != 1.0:
            suite = suite.scaled(self.settings.rate_scale)
        faults = parse_faults(self.settings.faults, {s.name for s in suite.streams})
        self.urdf_path = Path(self.settings.urdf or default_urdf())
        try:
            self.urdf_text = self.urdf_path.read_text(encoding='utf-8')
        except (OSError, UnicodeDecodeError) as err:
            raise UrdfError(f'cannot read URDF {self.urdf_path}: {err}') from err
        # a robot description that does not parse: refused
        robot = parse_urdf(self.urdf_text, str(self.urdf_path))
        mounts = parse_mount_faults(self.settings.mount_faults, robot)
        self.sim = SimulatedHumanoid(suite, start_ns=time.time_ns(), seed=self.settings.seed,
                                     noise=self.settings.noise, faults=faults,
                                     max_lag_ns=int(self.settings.max_lag_s * 1e9),
                                     robot=robot, mount_faults=mounts)
        for joint, fault in mounts.items():
            self.get_logger().warning(
                f'mount fault on {joint}: rendered {fault.angle_deg:.2f} deg and '
                f'{fault.xyz_mm} mm off the URDF; /tf_static stays nominal')
        self.publishers_by_topic: dict[str, Any] = {
            s.topic: self.create_publisher(
                message_class(s.msgtype), s.topic,
                latched_qos() if s.latched
                else publisher_qos(s.qos.reliability, s.qos.depth, s.rate_hz))
            for s in suite.streams}
        self._publish_latched(suite)
        self.events = self.create_publisher(String, self.settings.events_topic, events_qos())
        self.create_subscription(String, self.settings.events_topic, self._on_event,
                                 events_qos())
        self.truth = TruthLog(Path(self.settings.truth_dir)) if self.settings.truth_dir else None
        # Ground truth is labelled under the default guideline, whose phases it follows.
        self.taxonomy = load_taxonomy(default_taxonomy()).version
        self._lock = threading.Lock()          # the simulation
        self._ready_lock = threading.Lock()    # rendered messages waiting for their time
        self._ready: list[Any] = []            # heap of Outgoing
        self._truth_ready: list[Any] = []      # ground-truth events, in stamp order
        self._ahead_ns = int(min(RENDER_AHEAD_S, self.settings.task_lead_s) * 1e9)
        self._running = True
        self._threads = [threading.Thread(target=self._render, name='sim_render', daemon=True),
                         threading.Thread(target=self._produce, name='sim_producer',
                                          daemon=True)]
        for thread in self._threads:
            thread.start()
        mode = 'looping cycles' if self.settings.autoplay else 'one cycle per episode start'
        self.get_logger().info(f'simulating {len(suite.streams)} streams of {suite.robot}, '
                               f'{mode}')

    def _publish_latched(self, suite: SuiteConfig) -> None:
        """Publish the robot description and the fixed mounts once (transient local).

        A late joiner (a recorder started minutes later) still receives them.
        """
        for stream in suite.streams:
            if not stream.latched:
                continue
            publisher = self.publishers_by_topic[stream.topic]
            stamp_ns = time.time_ns()
            if stream.modality == Modality.DESCRIPTION:
                publisher.publish(String(data=self.urdf_text))
                what = str(self.urdf_path)
            elif stream.modality == Modality.TRANSFORM:
                publisher.publish(self.sim.static_transforms(stamp_ns))
                what = f'{len(self.sim.body.static_transforms())} fixed transforms'
            else:
                raise ConfigError(f'{suite.source}: stream {stream.name}: the simulator '
                                  f'publishes no latched {stream.modality.value}')
            # The ledger holds the publish time (a headerless description is stamped
            # with its receive time by the recorder); it counts one published message.
            self.sim.ledger.add(stream.topic, stamp_ns)
            self.get_logger().info(f'published {what} on {stream.topic} (latched)')

    def _on_event(self, msg: String) -> None:
        try:
            event = decode_event(msg.data)
        except EventError:
            return  # the recorder counts malformed events; the robot ignores them
        if isinstance(event, EpisodeStart) and event.source != Source.SIM_TRUTH:
            lead_ns = int(self.settings.task_lead_s * 1e9)
            with self._lock:
                self.sim.play_cycle(max(event.stamp_ns, time.time_ns()) + lead_ns)

    def _render(self) -> None:
        gap_ns = int((CYCLE_S + self.settings.cycle_gap_s) * 1e9)
        next_cycle = self.sim.start_ns + int(self.settings.cycle_gap_s * 1e9)
        while self._running:
            now = time.time_ns()
            with self._lock:
                if self.settings.autoplay and now >= next_cycle - gap_ns // 2:
                    self.sim.play_cycle(next_cycle)
                    next_cycle += gap_ns
                self.sim.sample_until(now + self._ahead_ns, now)
                rendered = self.sim.take_pending()
                truth = self.sim.truth_due(now + self._ahead_ns)
                wake = self.sim.next_sample_ns() - self._ahead_ns
            with self._ready_lock:
                for item in rendered:
                    heapq.heappush(self._ready, item)
                self._truth_ready.extend(truth)
            delay = (wake - time.time_ns()) / 1e9
            if delay > 0:
                time.sleep(min(delay, 0.05))

    def _produce(self) -> None:
        skipped = 0
        # Samples stamped before publishing began (the node's set-up) go out at once and
        # are not lateness.
        started = time.time_ns()
        while self._running:
            now = time.time_ns()
            out, truth = [], []
            with self._ready_lock:
                while self._ready and self._ready[0].publish_ns <= now:
                    out.append(heapq.heappop(self._ready))
                while self._truth_ready and self._truth_ready[0].stamp_ns <= now:
                    truth.append(self._truth_ready.pop(0))
                wake = self._ready[0].publish_ns if self._ready else now + int(
                    PUBLISH_POLL_S * 1e9)
            for item in out:
                self.publishers_by_topic[item.topic].publish(item.data)
                self.sim.ledger.add(item.topic, item.stamp_ns)
            late = next((item.publish_ns for item in out if item.publish_ns >= started), None)
            behind_ms = (time.time_ns() - late) / 1e6 if late is not None else 0.0
            if behind_ms > 100 or self.sim.skipped > skipped:
                skipped = self.sim.skipped
                self.get_logger().warning(
                    f'simulation fell {behind_ms:.0f} ms behind real time; {skipped} samples '
                    'skipped so far (CPU starved)', throttle_duration_sec=2.0)
            for event in truth:
                event = replace(event, taxonomy=self.taxonomy)
                self.events.publish(String(data=encode_event(event)))
                if self.truth is not None:
                    self.truth.write(event)
            time.sleep(min(max((wake - time.time_ns()) / 1e9, 0.0), PUBLISH_POLL_S))

    def close(self) -> None:
        """Stop producing and write the publish ledger."""
        self._running = False
        for thread in self._threads:
            thread.join()
        if self.truth is not None:
            path = self.truth.save_ledger(self.sim.ledger)
            with self._lock:
                self.truth.save_camera_poses(self.sim.camera_truth)
            self.truth.close()
            self.get_logger().info(f'wrote ground truth and publish ledger to {path.parent}')


def main(args: list[str] | None = None) -> int:
    """Run the simulated humanoid until interrupted."""
    return run_node(SimRobot, args)


if __name__ == '__main__':
    raise SystemExit(main())
