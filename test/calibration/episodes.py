"""Short episodes of the simulated humanoid for the calibration tests, without DDS.

The test rig (test/recording/rig.py) feeds the recorder engine on a fake clock; the
latched streams (/robot_description, /tf_static) are offered by hand, as the simulator
node would publish them once. ``record_episode`` keeps only the streams the checks read:
the head RGB-D camera and its camera_info, the right wrist camera, the LiDAR, the joint
states and /tf, so an episode of 2.5 s records in a few seconds.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Mapping

from humanoid_data.bag import encode
from humanoid_data.core.config import SuiteConfig, load_suite
from humanoid_data.resources import default_suite, default_urdf
from humanoid_data.sim.body import MountFault, load_body_robot, with_faults
from humanoid_data.sim.humanoid import SimulatedHumanoid
from test.recording.rig import T0, Rig

KEEP = ('head_rgb', 'head_camera_info', 'head_depth', 'wrist_right_rgb',
        'wrist_right_camera_info', 'lidar', 'joint_states', 'tf', 'tf_static',
        'robot_description')


def calibration_suite() -> SuiteConfig:
    """The default suite cut down to the streams the calibration checks read."""
    suite = load_suite(default_suite())
    return replace(suite, streams=tuple(s for s in suite.streams if s.name in KEEP))


def record_episode(root: Path, mount_faults: Mapping[str, MountFault] | None = None,
                   seconds: float = 2.5,
                   published: Mapping[str, MountFault] | None = None) -> Path:
    """Record one episode (a pick-and-place cycle's start) into ``root``; its folder.

    ``mount_faults`` move sensors in the rendering only (/tf_static stays nominal);
    ``published`` changes the mounts /tf_static says (a recalibrated robot), not the
    rendering.
    """
    suite = calibration_suite()
    rig = Rig(root, suite, preroll_s=0.2)
    rig.sim = SimulatedHumanoid(suite, start_ns=T0, mount_faults=dict(mount_faults or {}))
    rig.run_ms(50)
    robot = with_faults(load_body_robot(), dict(published or {}))
    rig.engine.offer(rig.index['/tf_static'], encode.tf_message(
        [(rig.now, parent, child, t.translation, t.quat) for parent, child, t in robot.fixed()]))
    rig.engine.offer(rig.index['/robot_description'],
                     encode.string(default_urdf().read_text(encoding='utf-8')))
    rig.run_ms(300)
    rig.sim.play_cycle(rig.now + 100_000_000)
    episode_id = rig.engine.start_episode()
    rig.run_ms(int(seconds * 1000))
    rig.engine.stop_episode()
    rig.run_ms(200)
    rig.finish()
    return Path(rig.session.path) / episode_id
