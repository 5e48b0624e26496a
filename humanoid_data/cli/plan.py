"""Which nodes a recording session starts, with which parameters.

``humanoid-data record`` starts exactly this list as processes; the launch file
``launch/record_session.launch.py`` declares the same nodes for ``ros2 launch``, and a
test keeps the two in agreement.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

PACKAGE = 'humanoid_data'


class NodeLaunch(NamedTuple):
    """One node of a session: its executable (console script), node name, parameters."""

    executable: str
    name: str
    parameters: dict[str, Any]


def session_plan(config: str, output_dir: str, sim: bool, *,
                 recorder: Mapping[str, Any] | None = None,
                 simulator: Mapping[str, Any] | None = None) -> list[NodeLaunch]:
    """Return the nodes of a recording session.

    Args:
        config: Sensor-suite file given to every node.
        output_dir: Folder for session folders.
        sim: Also start the simulated humanoid.
        recorder: Extra recorder parameters.
        simulator: Extra simulator parameters.

    Returns:
        Nodes in start order (the simulator first, so the recorder finds its topics).

    """
    nodes = []
    if sim:
        nodes.append(NodeLaunch('sim_robot', 'sim_robot',
                                {'config': config, **(simulator or {})}))
    nodes.append(NodeLaunch('recorder', 'recorder',
                            {'config': config, 'output_dir': output_dir, **(recorder or {})}))
    return nodes
