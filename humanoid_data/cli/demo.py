"""``humanoid-data demo``: the whole chain on the simulated humanoid.

Simulated humanoid, recorder, companions and a scripted operator record N episodes;
then the session becomes a LeRobot v3 and an HDF5 dataset, both validated.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import rclpy
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from humanoid_data.bag.episode_state import recorded_state
from humanoid_data.cli.console import make_console
from humanoid_data.cli.convert import run_convert
from humanoid_data.cli.labels import prelabel_sessions, print_qa
from humanoid_data.cli.operator import ScriptedOperator, spin_until
from humanoid_data.cli.processes import start_all, stop_all
from humanoid_data.cli.record import default_suite_argument, record
from humanoid_data.core.config import load_suite
from humanoid_data.core.phases import load_taxonomy
from humanoid_data.core.settings import RecorderSettings
from humanoid_data.dataset.validate import validate
from humanoid_data.dds import dds_environment
from humanoid_data.errors import HumanoidDataError
from humanoid_data.labels.qa import qa_sessions
from humanoid_data.labels.report_html import write_report
from humanoid_data.recording.session import default_session_name
from humanoid_data.resources import (
    default_contact_config, default_dataset_config, default_taxonomy)
from humanoid_data.sim.compare import (
    EpisodeLabels, TopicComparison, compare, label_report, load_episodes)
from humanoid_data.sim.demo_annotators import annotate_session
from humanoid_data.sim.truth import load_ledger

INSTRUCTION = 'Pick up the red cube and put it down on the target to the left.'
PREROLL_S = RecorderSettings().preroll_s
HOLD_S = 0.3   # the operator presses stop a moment after the robot is back at rest


def demo(out: Path, episodes: int, config: Path, *, session: str = '',
         console: Console | None = None) -> tuple[Path, list[TopicComparison]]:
    """Record ``episodes`` scripted episodes and compare them with what was published.

    Returns:
        The session folder and one comparison row per stream.

    Raises:
        HumanoidDataError: Bad config, unwritable output, or a node that never came up.

    """
    console = console or Console()
    session = session or default_session_name()
    session_dir = out / session
    truth_dir = session_dir / 'sim_truth'
    plan = record(config, out, sim=True, session=session,
                  # On a loaded machine the simulator publishes late rather than skip
                  # samples, so the demo's episodes stay complete (latency shows it).
                  simulator={'truth_dir': str(truth_dir), 'max_lag_s': 30.0},
                  operator={'operator': 'demo_operator', 'instruction': INSTRUCTION,
                            'tags': 'demo,sim'})
    suite = load_suite(config)
    processes = start_all(plan, session_dir / 'logs')
    dds_environment()
    rclpy.init(signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    operator = ScriptedOperator()
    try:
        _run_episodes(operator, processes, session_dir, suite, episodes, console)
    finally:
        operator.destroy_node()
        rclpy.try_shutdown()
        codes = stop_all(processes)
    bad = {name: code for name, code in codes.items() if code != 0}
    if bad:
        raise HumanoidDataError(f'nodes failed {bad}; logs in {session_dir / "logs"}')
    return session_dir, compare(suite, load_episodes(session_dir), load_ledger(truth_dir))


def _run_episodes(operator: ScriptedOperator, processes: list[Any], session_dir: Path,
                  suite: Any, episodes: int, console: Console) -> None:
    def spin() -> None:
        rclpy.spin_once(operator, timeout_sec=0.1)
        for p in processes:
            if not p.running():
                raise HumanoidDataError(f'node {p.launch.name} exited; logs in '
                                        f'{session_dir / "logs"}')

    topics = [s.topic for s in suite.streams]

    def unseen() -> list[str]:
        return [t for t in topics if int(operator.status.get(f'{t} received', '0')) == 0]

    with console.status('starting the simulated humanoid, the recorder and companions'):
        try:
            spin_until(spin, lambda: not unseen(), 90.0, 'the recorder to receive every stream')
        except HumanoidDataError as err:
            what = (f'not received yet: {", ".join(unseen())}' if operator.status
                    else 'no recorder status on /diagnostics yet')
            raise HumanoidDataError(f'{err}; {what}; logs in {session_dir / "logs"}') from err
        spin_until(spin, operator.ready, 30.0, 'marker_teleop services')
        # The first episode's pre-roll reaches back PREROLL_S: the recorder must have been
        # receiving every stream that long, or the comparison counts messages published
        # before it subscribed.
        filled = time.monotonic() + PREROLL_S + 0.5
        spin_until(spin, lambda: time.monotonic() > filled, 10.0, 'the pre-roll to fill')
    columns = (TextColumn('[bold]{task.description}'), BarColumn(),
               TextColumn('{task.completed}/{task.total} episodes'), TimeElapsedColumn(),
               TextColumn('{task.fields[detail]}'))
    with Progress(*columns, console=console, refresh_per_second=2) as progress:
        bar = progress.add_task('recording', total=episodes, detail='')

        def tick() -> None:
            s = operator.status
            progress.update(bar, detail=(
                f'{s.get("episode") or "idle"} phase={operator.current_phase()} '
                f'drops={s.get("dropped_total", "?")} queue={s.get("queue_mib", "?")} MiB'))

        for index in range(episodes):
            start = operator.start()
            spin_until(spin, lambda: operator.task_done_after(start) is not None, 60.0,
                       'the simulated task to finish', tick)
            done = operator.task_done_after(start) or start
            spin_until(spin, lambda: time.time_ns() > done + int(HOLD_S * 1e9), 10.0,
                       'the hold after the task', tick)
            operator.stop()
            # episode.yaml exists from the open (state: recording); closed means its state
            # moved on, once every stream has delivered past the stop.
            folder = session_dir / f'episode_{index + 1:04d}'
            spin_until(spin, lambda: recorded_state(folder) not in (None, 'recording'), 60.0,
                       f'{folder} to be closed', tick)
            progress.advance(bar)


def render(rows: list[TopicComparison], console: Console) -> bool:
    """Print the per-topic table; return whether every required stream is complete."""
    table = Table('topic', 'required', 'published', 'recorded', 'missing', 'dropped',
                  'stamp gaps', 'MB',
                  title='published by the simulated humanoid vs recorded in the episodes')
    ok = True
    for r in rows:
        bad = r.lost and r.required
        ok &= not bad
        style = 'red' if bad else ('yellow' if r.lost else '')
        table.add_row(r.topic, 'yes' if r.required else 'no', str(r.published),
                      str(r.recorded), str(r.missing), str(r.dropped),
                      str(r.missing_by_stamps), f'{r.megabytes:.1f}',
                      style=style)
    console.print(table)
    total = sum(r.megabytes for r in rows)
    console.print(f'{sum(r.recorded for r in rows)} messages, {total:.1f} MB recorded; '
                  + ('[green]no required stream lost messages[/]' if ok
                     else '[red]required streams lost messages[/]'))
    return ok


def render_labels(labels: list[EpisodeLabels], console: Console) -> None:
    """Print per episode the labels it carries, scored against the simulator's truth."""
    table = Table('episode', 'outcome', 'phase markers', 'marker delay p50 ms',
                  'contacts true', 'detected', 'precision', 'recall', 'onset err p50 ms',
                  'sync', title='labels in each episode bag vs ground truth')
    for r in labels:
        c = r.contact
        table.add_row(r.episode_id, r.outcome, str(r.markers), f'{r.marker_error_ms:.0f}',
                      str(c.true_count), str(c.detected_count), f'{c.precision:.3f}',
                      f'{c.recall:.3f}', f'{c.summary()["onset_p50_ms"]:.1f}', r.sync_level)
    console.print(table)


def _run(args: argparse.Namespace) -> int:
    console = make_console()
    session_dir, rows = demo(Path(args.out), args.episodes, Path(args.config),
                             session=args.session, console=console)
    console.print(f'session: {session_dir}')
    ok = render(rows, console)
    render_labels(label_report(session_dir), console)
    if args.no_convert:
        return 0 if ok else 1
    converted = convert_and_validate(session_dir, Path(args.out), console)
    labelled = label_and_compare(session_dir, Path(args.out), console)
    return 0 if converted and labelled and ok else 1


def label_and_compare(session_dir: Path, out: Path, console: Console) -> bool:
    """Pre-label the session, let two simulated annotators label it, show their agreement."""
    done, failed = prelabel_sessions([session_dir], default_taxonomy(),
                                     default_contact_config())
    annotate_session(session_dir, load_taxonomy(default_taxonomy()))
    result = qa_sessions([session_dir])
    if result.nothing_to_compare:
        console.print(f'[red]annotation QA:[/] {result.nothing_to_compare}')
        return False
    print_qa(result)
    report = write_report(result, out / f'{session_dir.name}_qa')
    console.print(f'pre-labels of {len(done)} episodes, 2 simulated annotators; '
                  f'agreement report: {report}')
    console.print(f'review: humanoid-data review {session_dir} --annotator sim_careful; '
                  f'as a reviewer: humanoid-data review {session_dir} --annotator lead '
                  '--role reviewer')
    return not failed


def convert_and_validate(session_dir: Path, out: Path, console: Console) -> bool:
    """Convert the demo session to LeRobot v3 and HDF5, validate both; return success."""
    valid = True
    for fmt in ('lerobot', 'hdf5'):
        target = out / f'{session_dir.name}_{fmt}'
        result = run_convert([str(session_dir)], target, fmt,
                             config=default_dataset_config(), taxonomy=default_taxonomy(),
                             contact=default_contact_config(), jobs=2, console=console)
        problems = validate(target)
        for problem in problems:
            console.print(f'[red]problem:[/] {problem}')
        ok = not problems and not result.failed and bool(result.converted)
        console.print(f'{target}: ' + ('[green]valid[/]' if ok else '[red]not valid[/]'))
        valid &= ok
    return valid


def add_parsers(verbs: Any) -> None:
    """Register ``demo``."""
    parser = verbs.add_parser('demo', help='record N scripted episodes on the simulated '
                                           'humanoid and report what was captured')
    parser.add_argument('--out', default='demo_output', help='folder for the session')
    parser.add_argument('--episodes', type=int, default=3, help='number of episodes')
    parser.add_argument('--session', default='', help='session folder name')
    parser.add_argument('--no-convert', action='store_true',
                        help='stop after recording (no dataset conversion)')
    parser.add_argument('--config', default=default_suite_argument(),
                        help='sensor-suite YAML')
    parser.set_defaults(run=_run)
