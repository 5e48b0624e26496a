"""Which nodes a recording session starts, with which parameters.

``humanoid-data record`` starts exactly this list as processes; the launch file
``launch/record_session.launch.py`` declares the same nodes for ``ros2 launch``, and a
test keeps the two in agreement.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

PACKAGE = 'humanoid_data'


#: Scheduling niceness of the nodes that must yield the CPU to the recorder: when a
#: machine runs short (2 cores run the whole demo at ~95 %), the recorder keeps up and
#: the simulator and companions lag instead (their lag shows as latency).
YIELDING = 5


class NodeLaunch(NamedTuple):
    """One node of a session: executable (console script), node name, parameters, nice."""

    executable: str
    name: str
    parameters: dict[str, Any]
    nice: int = 0


def session_plan(config: str, output_dir: str, sim: bool, *, companions: bool = True,
                 contact_monitor: bool = False, teleop: bool = True,
                 sync_monitor: bool = False,
                 recorder: Mapping[str, Any] | None = None,
                 simulator: Mapping[str, Any] | None = None,
                 operator: Mapping[str, Any] | None = None) -> list[NodeLaunch]:
    """Return the nodes of a recording session.

    Args:
        config: Sensor-suite file given to every node.
        output_dir: Folder for session folders.
        sim: Also start the simulated humanoid.
        companions: Detect contacts live: in the recorder, from the messages it receives
            (its ``contacts`` parameter), or in contact_monitor with ``contact_monitor``.
        contact_monitor: Detect contacts in a contact_monitor process of its own, which
            receives every force-torque and tactile message a second time.
        teleop: Start marker_teleop without its terminal UI (pedal, services); run
            ``humanoid-data teleop`` in a terminal for the keyboard UI instead.
        sync_monitor: Also start sync_monitor, which receives every stream a second
            time; the recorder publishes the same live sync statuses itself (its
            ``live_sync`` parameter), so it is only needed without a recorder.
        recorder: Extra recorder parameters.
        simulator: Extra simulator parameters.
        operator: Extra marker_teleop parameters.

    Returns:
        Nodes in start order: the simulator first, so the others find its topics; the
        recorder last.

    """
    nodes = []
    if sim:
        nodes.append(NodeLaunch('sim_robot', 'sim_robot',
                                {'config': config, **(simulator or {})}, YIELDING))
    if companions and contact_monitor:
        nodes.append(NodeLaunch('contact_monitor', 'contact_monitor', {'config': config},
                                YIELDING))
    if sync_monitor:
        nodes.append(NodeLaunch('sync_monitor', 'sync_monitor', {'config': config},
                                YIELDING))
    if teleop:
        nodes.append(NodeLaunch('marker_teleop', 'marker_teleop',
                                {'ui': False, 'contact_monitor': tare_node(contact_monitor),
                                 **(operator or {})}, YIELDING))
    nodes.append(NodeLaunch('recorder', 'recorder',
                            {'config': config, 'output_dir': output_dir,
                             'contacts': companions and not contact_monitor,
                             **(recorder or {})}))
    return nodes


def tare_node(contact_monitor: bool) -> str:
    """The node whose ``~/tare`` re-estimates the contact biases."""
    return '/contact_monitor' if contact_monitor else '/recorder'
