"""``humanoid-data teleop``: the operator's terminal UI (marker_teleop with ui:=true)."""

from __future__ import annotations

import argparse
from typing import Any


def _run(args: argparse.Namespace) -> int:
    from humanoid_data.nodes.marker_teleop import main
    params = {'ui': 'true', 'task': args.task, 'instruction': args.instruction,
              'operator': args.operator, 'taxonomy': args.taxonomy,
              'teleop_config': args.keys}
    ros_args = ['--ros-args']
    for key, value in params.items():
        if value:
            ros_args += ['-p', f'{key}:={value}']
    return main(ros_args)


def add_parsers(verbs: Any) -> None:
    """Register ``teleop``."""
    parser = verbs.add_parser(
        'teleop', help='operator terminal UI: start/stop episodes, mark phases and outcomes')
    parser.add_argument('--task', default='', help='task name from the taxonomy')
    parser.add_argument('--instruction', default='', help='language instruction')
    parser.add_argument('--operator', default='', help='operator name')
    parser.add_argument('--taxonomy', default='', help='phase-taxonomy YAML')
    parser.add_argument('--keys', default='', help='key and button map YAML (teleop.yaml)')
    parser.set_defaults(run=_run)
