"""``humanoid-data record`` and ``humanoid-data sim``: start session nodes as processes."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from humanoid_data.cli.plan import NodeLaunch, session_plan
from humanoid_data.cli.processes import start_all, stop_all
from humanoid_data.core.config import load_suite
from humanoid_data.errors import ConfigError
from humanoid_data.recording.session import default_session_name, ensure_writable
from humanoid_data.resources import default_suite


def wait_for(processes: list[Any]) -> int:
    """Wait until Ctrl-C or until a node exits; stop the rest; return non-zero on failure."""
    try:
        while all(p.running() for p in processes):
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    failed = {name: code for name, code in stop_all(processes).items() if code not in (0, -2)}
    for name, code in failed.items():
        print(f'error: node {name} exited with status {code}')
    return 1 if failed else 0


def record(config: Path, out: Path, *, sim: bool, session: str = '',
           recorder: dict[str, Any] | None = None,
           simulator: dict[str, Any] | None = None,
           operator: dict[str, Any] | None = None, companions: bool = True,
           contact_monitor: bool = False, teleop: bool = True,
           sync_monitor: bool = False) -> list[NodeLaunch]:
    """Validate inputs and return the session's node plan (what ``record`` starts).

    Raises:
        ConfigError: The suite file is invalid.
        BagError: The output folder is not writable.

    """
    load_suite(config)
    ensure_writable(out)
    params = {'session': session or default_session_name(), **(recorder or {})}
    return session_plan(str(config), str(out), sim, companions=companions,
                        contact_monitor=contact_monitor, teleop=teleop,
                        sync_monitor=sync_monitor, recorder=params, simulator=simulator,
                        operator=operator)


def _run_record(args: argparse.Namespace) -> int:
    plan = record(Path(args.config), Path(args.out), sim=args.sim, session=args.session,
                  recorder={'preroll_s': args.preroll, 'queue_mib': args.queue_mib,
                            **({'compression': args.compression} if args.compression else {}),
                            'operator': args.operator, 'task': args.task,
                            'instruction': args.instruction},
                  operator={'operator': args.operator, 'task': args.task,
                            'instruction': args.instruction},
                  companions=not args.no_companions,
                  contact_monitor=args.contact_monitor, teleop=not args.no_teleop,
                  sync_monitor=args.sync_monitor)
    print(f'recording into {Path(args.out) / plan[-1].parameters["session"]}; '
          'Ctrl-C to finish')
    return wait_for(start_all(plan))


def _run_sim(args: argparse.Namespace) -> int:
    load_suite(args.config)
    params = {'config': str(args.config), 'autoplay': not args.on_start, 'noise': args.noise,
              'rate_scale': args.rate_scale, 'faults': args.faults, 'seed': args.seed,
              'truth_dir': args.truth_dir, 'mount_faults': args.mount_faults}
    return wait_for(start_all([NodeLaunch('sim_robot', 'sim_robot', params)]))


def add_parsers(verbs: Any) -> None:
    """Register ``record`` and ``sim``."""
    rec = verbs.add_parser('record', help='record a session (robot or --sim)')
    rec.add_argument('--config', default=default_suite_argument(), help='sensor-suite YAML')
    rec.add_argument('--out', default='recordings', help='folder for session folders')
    rec.add_argument('--sim', action='store_true', help='also start the simulated humanoid')
    rec.add_argument('--session', default='', help='session folder name')
    rec.add_argument('--preroll', type=float, default=1.0, help='pre-roll seconds')
    rec.add_argument('--queue-mib', type=float, default=512.0, help='writer queue budget')
    rec.add_argument('--compression', choices=('none', 'lz4', 'zstd'), default=None,
                     help="MCAP chunk compression (default: the suite's compression key, "
                          'else none)')
    rec.add_argument('--operator', default='', help='operator name')
    rec.add_argument('--task', default='', help='default task')
    rec.add_argument('--instruction', default='', help='default language instruction')
    rec.add_argument('--no-companions', action='store_true',
                     help='no live contact detection')
    rec.add_argument('--contact-monitor', action='store_true',
                     help='detect contacts in a contact_monitor process, which receives the '
                          'force-torque and tactile streams again (default: in the recorder)')
    rec.add_argument('--sync-monitor', action='store_true',
                     help='also start sync_monitor (receives every stream again; the '
                          'recorder publishes the same live sync statuses itself)')
    rec.add_argument('--no-teleop', action='store_true',
                     help='do not start marker_teleop (run `humanoid-data teleop` instead)')
    rec.set_defaults(run=_run_record)

    sim = verbs.add_parser('sim', help='run the simulated humanoid alone')
    sim.add_argument('--config', default=default_suite_argument(), help='sensor-suite YAML')
    sim.add_argument('--on-start', action='store_true',
                     help='one task cycle per episode_start event instead of looping')
    sim.add_argument('--noise', type=float, default=1.0, help='sensor noise multiplier')
    sim.add_argument('--rate-scale', type=float, default=1.0, help='multiply every rate')
    sim.add_argument('--faults', default='', help='YAML: stream -> faults')
    sim.add_argument('--mount-faults', default='',
                     help='YAML: fixed joint -> {rpy_deg, xyz_mm}; the sensor is rendered off '
                          'its mount while /tf_static stays nominal')
    sim.add_argument('--seed', type=int, default=0)
    sim.add_argument('--truth-dir', default='', help='write ground truth here')
    sim.set_defaults(run=_run_sim)


def default_suite_argument() -> str:
    """Default of ``--config``: the installed suite, or the source-tree path to report."""
    try:
        return str(default_suite())
    except ConfigError:  # a missing default only matters if it is used
        return 'config/humanoid.yaml'
