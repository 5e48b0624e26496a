"""Bags as other recorders write them, with the truth to check a conversion against.

A small arm under its own topic names: a 15 Hz camera (each picture one grey level that
numbers it), a 100 Hz joint state whose positions are linear in time (so interpolation
is exact), a 50 Hz joint command, a 200 Hz wrist wrench. Receive times lag the stamps
by a jitter larger than the wrench's period, so messages arrive out of stamp order, and
some camera frames are missing. The same messages go into a rosbag2 MCAP folder, a
rosbag2 SQLite3 folder, a single .mcap file and a ROS 1 .bag, without any project file.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MS = 1_000_000
T0 = 1_700_000_000 * 10 ** 9
JOINTS = ('shoulder', 'elbow', 'wrist')
CAMERA = '/front_cam/color/image_raw'
STATE = '/arm/joint_states'
COMMAND = '/arm/joint_command'
WRENCH = '/wrist/wrench'
WIDTH, HEIGHT = 32, 24


@dataclass
class Truth:
    """What was sent: the camera's stamps and grey levels, the motion's formula."""

    seconds: float
    camera_ns: list[int] = field(default_factory=list)
    grey: dict[int, int] = field(default_factory=dict)          # stamp -> grey level
    missing: list[int] = field(default_factory=list)            # frame numbers not sent
    command_ns: list[int] = field(default_factory=list)

    @staticmethod
    def position(t_ns: np.ndarray) -> np.ndarray:
        """Joint positions at stamps (rad): linear in time, one slope per joint."""
        t = (np.asarray(t_ns, dtype=np.int64) - T0) / 1e9
        return np.stack([0.1 + 0.2 * t, -0.3 + 0.05 * t, 0.5 - 0.1 * t], axis=-1)

    @staticmethod
    def command(index: int) -> np.ndarray:
        """The ``index``-th command's joint targets."""
        return np.array([index * 0.01, -index * 0.02, 1.0 + index * 0.001])


def _messages(store, seconds: float, seed: int, missing: tuple[int, ...]):
    """(topic, msgtype, log_ns, message) in receive order, and the truth."""
    Header = store.types['std_msgs/msg/Header']
    Time = store.types['builtin_interfaces/msg/Time']
    Image = store.types['sensor_msgs/msg/Image']
    JointState = store.types['sensor_msgs/msg/JointState']
    Wrench = store.types['geometry_msgs/msg/Wrench']
    WrenchStamped = store.types['geometry_msgs/msg/WrenchStamped']
    Vector3 = store.types['geometry_msgs/msg/Vector3']
    ros1 = 'seq' in [name for name, _ in store.fielddefs['std_msgs/msg/Header'][1]]

    def header(stamp: int, frame: str):
        extra = {'seq': 0} if ros1 else {}
        return Header(**extra, stamp=Time(sec=stamp // 10 ** 9, nanosec=stamp % 10 ** 9),
                      frame_id=frame)

    rng = np.random.default_rng(seed)
    truth = Truth(seconds)
    out = []
    for k in range(int(seconds * 15)):
        stamp = T0 + round(k * 1e9 / 15)
        if k in missing:
            truth.missing.append(k)
            continue
        grey = (17 * k + 5) % 250
        truth.camera_ns.append(stamp)
        truth.grey[stamp] = grey
        pixels = np.full((HEIGHT, WIDTH, 3), grey, dtype=np.uint8)
        msg = Image(header=header(stamp, 'front_cam_optical'), height=HEIGHT, width=WIDTH,
                    encoding='rgb8', is_bigendian=0, step=WIDTH * 3, data=pixels.ravel())
        out.append((CAMERA, Image.__msgtype__, stamp + int(rng.integers(20, 45)) * MS, msg))
    for k in range(int(seconds * 100)):
        stamp = T0 + k * 10 * MS
        msg = JointState(header=header(stamp, ''), name=list(JOINTS),
                         position=Truth.position(np.array([stamp]))[0],
                         velocity=np.zeros(3), effort=np.zeros(3))
        out.append((STATE, JointState.__msgtype__, stamp + int(rng.integers(1, 15)) * MS, msg))
    for k in range(int(seconds * 50)):
        stamp = T0 + k * 20 * MS + 3 * MS
        truth.command_ns.append(stamp)
        msg = JointState(header=header(stamp, ''), name=list(JOINTS),
                         position=Truth.command(k), velocity=np.zeros(0),
                         effort=np.zeros(0))
        out.append((COMMAND, JointState.__msgtype__, stamp + int(rng.integers(1, 8)) * MS, msg))
    for k in range(int(seconds * 200)):
        stamp = T0 + k * 5 * MS
        msg = WrenchStamped(header=header(stamp, 'wrist'), wrench=Wrench(
            force=Vector3(x=float(k), y=0.0, z=-1.0), torque=Vector3(x=0.0, y=0.0, z=0.0)))
        out.append((WRENCH, WrenchStamped.__msgtype__,
                    stamp + int(rng.integers(1, 12)) * MS, msg))
    out.sort(key=lambda m: m[2])
    return out, truth


def write_rosbag2(folder: Path, storage: str = 'mcap', seconds: float = 4.0, seed: int = 1,
                  missing: tuple[int, ...] = (7, 8)) -> Truth:
    """A rosbag2 folder written like ``ros2 bag record`` (rosbags' writer); the truth."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    store = get_typestore(Stores.ROS2_HUMBLE)
    messages, truth = _messages(store, seconds, seed, missing)
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    with Writer(folder, version=8, storage_plugin=plugin) as writer:
        _write_all(writer, store, messages, store.serialize_cdr)
    return truth


def _write_all(writer, store, messages, serialize) -> None:
    """Write ``messages`` in their order, a connection per topic as it first appears."""
    conns = {}
    for topic, msgtype, log_ns, msg in messages:
        if topic not in conns:
            conns[topic] = writer.add_connection(topic, msgtype, typestore=store)
        writer.write(conns[topic], log_ns, serialize(msg, msgtype))


def write_mcap_file(path: Path, **kwargs) -> Truth:
    """One .mcap file on its own (no metadata.yaml beside it); the truth."""
    folder = path.with_suffix('.tmpbag')
    truth = write_rosbag2(folder, 'mcap', **kwargs)
    shutil.move(str(next(folder.glob('*.mcap'))), path)
    shutil.rmtree(folder)
    return truth


def write_ros1(path: Path, seconds: float = 4.0, seed: int = 1,
               missing: tuple[int, ...] = (7, 8)) -> Truth:
    """A ROS 1 bag (rosbags' ROS 1 writer, Noetic types); the truth."""
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore
    store = get_typestore(Stores.ROS1_NOETIC)
    messages, truth = _messages(store, seconds, seed, missing)
    with Writer(path) as writer:
        _write_all(writer, store, messages, store.serialize_ros1)
    return truth


def write_camera_bag(folder: Path, frames: int = 90) -> None:
    """A bag as a camera driver and robot_state_publisher leave it.

    JPEG images on
    image_transport's compressed topic beside camera_info, /tf_static and /tf with no
    base_link (odom -> base_footprint -> torso -> camera), /rosout (a type the converter
    does not take), and no joint command.
    """
    import cv2
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    store = get_typestore(Stores.ROS2_HUMBLE)
    types = store.types

    def header(stamp: int, frame: str):
        return types['std_msgs/msg/Header'](stamp=types['builtin_interfaces/msg/Time'](
            sec=stamp // 10 ** 9, nanosec=stamp % 10 ** 9), frame_id=frame)

    def edge(stamp: int, parent: str, child: str, x: float):
        geometry = {n: types[f'geometry_msgs/msg/{n}']
                    for n in ('TransformStamped', 'Transform', 'Vector3', 'Quaternion')}
        return geometry['TransformStamped'](
            header=header(stamp, parent), child_frame_id=child,
            transform=geometry['Transform'](translation=geometry['Vector3'](x=x, y=0.0, z=0.0),
                                            rotation=geometry['Quaternion'](x=0.0, y=0.0, z=0.0,
                                                                            w=1.0)))

    def write(conn, log_ns: int, msg) -> None:
        writer.write(conn, log_ns, store.serialize_cdr(msg, conn.msgtype))

    with Writer(folder, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        image = writer.add_connection('/camera/color/image_raw/compressed',
                                      'sensor_msgs/msg/CompressedImage', typestore=store)
        info = writer.add_connection('/camera/color/camera_info', 'sensor_msgs/msg/CameraInfo',
                                     typestore=store)
        joints = writer.add_connection('/joint_states', 'sensor_msgs/msg/JointState',
                                       typestore=store)
        tf = writer.add_connection('/tf', 'tf2_msgs/msg/TFMessage', typestore=store)
        static = writer.add_connection('/tf_static', 'tf2_msgs/msg/TFMessage', typestore=store)
        log = writer.add_connection('/rosout', 'rcl_interfaces/msg/Log', typestore=store)
        write(static, T0, types['tf2_msgs/msg/TFMessage'](transforms=[
            edge(T0, 'base_footprint', 'torso', 0.1),
            edge(T0, 'torso', 'camera_color_optical_frame', 0.2)]))
        roi = types['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0,
                                                        width=0, do_rectify=False)
        for k in range(frames):
            stamp = T0 + round(k * 1e9 / 30)
            _, jpeg = cv2.imencode('.jpg', np.full((HEIGHT, WIDTH, 3), (4 * k) % 250, np.uint8))
            write(image, stamp + 5 * MS, types['sensor_msgs/msg/CompressedImage'](
                header=header(stamp, 'camera_color_optical_frame'), format='rgb8; jpeg '
                'compressed bgr8', data=jpeg.ravel()))
            write(info, stamp + 5 * MS, types['sensor_msgs/msg/CameraInfo'](
                header=header(stamp, 'camera_color_optical_frame'), height=HEIGHT, width=WIDTH,
                distortion_model='plumb_bob', d=np.zeros(5),
                k=np.array([40.0, 0, WIDTH / 2, 0, 40.0, HEIGHT / 2, 0, 0, 1]),
                r=np.eye(3).ravel(), p=np.zeros(12), binning_x=0, binning_y=0, roi=roi))
        for k in range(frames * 10 // 3):
            stamp = T0 + k * 10 * MS
            write(joints, stamp + MS, types['sensor_msgs/msg/JointState'](
                header=header(stamp, ''), name=['pan', 'tilt'],
                position=np.array([k * 0.01, 0.5]), velocity=np.zeros(2), effort=np.zeros(0)))
            write(tf, stamp + MS, types['tf2_msgs/msg/TFMessage'](transforms=[
                edge(stamp, 'odom', 'base_footprint', k * 0.001)]))
            if k % 50 == 0:
                write(log, stamp, types['rcl_interfaces/msg/Log'](
                    stamp=header(stamp, '').stamp, level=20, name='driver', msg='hello',
                    file='f', function='g', line=1))
