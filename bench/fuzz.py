"""Long fuzzing runs: seeded mutations of valid inputs into every parser and bag reader.

For each target of ``test/fuzz/targets.py`` (event JSON, config YAML, CDR payloads, MCAP
files and the metadata.yaml / episode.yaml beside them) it generates ``--inputs``
mutations of the target's valid seeds, each from its own ``random.Random`` seeded by
(``--seed``, target, index) so any input can be made again. Inputs run in worker
processes (reused; one per ``--jobs``) with a memory limit, and an input that runs past
``--timeout-ms`` is a hang: its worker is killed and replaced. Every input ends as ok, one
of the target's own errors, a foreign exception, a hang, or a crash (the worker died).
A table per target follows; the first few offending inputs of each kind are saved with
their tracebacks under ``bench/fuzz_findings/<target>/``. The exit status is 1 when any
foreign exception, hang or crash occurred.

    python bench/fuzz.py [--target NAME|GROUP|all] [--inputs 10000] [--timeout-ms 2000]
                         [--seed N] [--jobs 2]
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import sys
import time
import traceback
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from test.fuzz.mutate import mutate  # noqa: E402
from test.fuzz.targets import TARGETS  # noqa: E402

FINDINGS = REPO / 'bench' / 'fuzz_findings'
WARM_TIMEOUT_S = 120.0      # a fresh worker imports its libraries and runs the seeds once
BAD = ('foreign', 'hang', 'crash')


class Outcome(NamedTuple):
    """What one input did: kind (ok, own, foreign, hang, crash), class, where, details."""

    kind: str
    name: str = ''
    where: str = ''
    details: str = ''


def _frames(err: BaseException) -> str:
    """The innermost frame, and the innermost one of humanoid_data when that differs."""
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return ''

    def show(frame: traceback.FrameSummary) -> str:
        return f'{os.path.relpath(frame.filename, REPO)}:{frame.lineno} in {frame.name}'

    own = [f for f in frames if f'{os.sep}humanoid_data{os.sep}' in f.filename]
    text = show(frames[-1])
    if own and own[-1] is not frames[-1]:
        text += f' (via {show(own[-1])})'
    return text


def _worker(conn: Connection, memory_mb: int) -> None:
    """Run inputs from ``conn`` until told to stop; answer each with an Outcome."""
    import resource
    limit = memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # Image libraries complain on stderr about every damaged input; the outcome says enough.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    sys.path.insert(0, str(REPO))
    from test.fuzz.targets import TARGETS as targets
    while True:
        request = conn.recv()
        if request is None:
            return
        name, data = request
        target = targets[name]
        if data is None:                   # warm up: the seeds, which must all pass
            for seed in target.seeds():
                target.run(seed)
            conn.send(Outcome('ok'))
            continue
        try:
            target.run(data)
            outcome = Outcome('ok')
        except target.allowed as err:
            outcome = Outcome('own', type(err).__name__)
        except BaseException as err:       # a finding, whatever it is
            outcome = Outcome('foreign', type(err).__name__, _frames(err),
                              ''.join(traceback.format_exception(err)))
        conn.send(outcome)


class Worker:
    """One worker process and the input it is running."""

    def __init__(self, memory_mb: int) -> None:
        """Start the process."""
        context = get_context('spawn')
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child, memory_mb), daemon=True)
        self.process.start()
        child.close()
        self.warm_for = ''
        self.job: tuple[int, bytes, float] | None = None    # index, input, start time

    def send(self, name: str, index: int, data: bytes) -> None:
        """Hand over one input."""
        self.conn.send((name, data))
        self.job = (index, data, time.monotonic())

    def warm(self, name: str) -> None:
        """Load the target's libraries and run its seeds, outside any input's timeout.

        Raises:
            RuntimeError: The seeds do not run (a broken target, not a finding).

        """
        self.conn.send((name, None))
        if not self.conn.poll(WARM_TIMEOUT_S):
            raise RuntimeError(f'{name}: the seeds did not run within {WARM_TIMEOUT_S} s')
        self.conn.recv()
        self.warm_for = name

    def kill(self) -> int | None:
        """End the process; return its exit code."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()
        return self.process.exitcode

    def stop(self) -> None:
        """Ask the process to finish, then make sure it has."""
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout=5)
        self.kill()


class Tally:
    """Outcomes of one target, and the offending inputs saved so far."""

    def __init__(self, name: str, keep: int, folder: Path) -> None:
        """Start empty."""
        self.name = name
        self.keep = keep
        self.folder = folder / name
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self.examples: dict[tuple[str, str], list[str]] = collections.defaultdict(list)

    def add(self, index: int, data: bytes, outcome: Outcome) -> None:
        """Count one outcome; save the input when it is a finding still worth keeping."""
        key = (outcome.kind, outcome.name)
        self.counts[key] += 1
        if outcome.kind not in BAD or len(self.examples[key]) >= self.keep:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = self.folder / f'{outcome.kind}-{outcome.name or "worker"}-{index:06d}'
        stem.with_suffix('.bin').write_bytes(data)
        stem.with_suffix('.txt').write_text(
            f'target: {self.name}\ninput: {index}\noutcome: {outcome.kind} {outcome.name}\n'
            f'at: {outcome.where}\n\n{outcome.details}\n')
        shown = os.path.relpath(stem.with_suffix('.bin'), Path.cwd())
        self.examples[key].append(f'{shown}  {outcome.where}')

    def bad(self) -> int:
        """Inputs that ended in a foreign exception, a hang or a crash."""
        return sum(n for (kind, _), n in self.counts.items() if kind in BAD)

    def column(self, kind: str) -> str:
        """``Class count`` pairs of one outcome kind."""
        items = sorted(((n, name) for (k, name), n in self.counts.items() if k == kind),
                       reverse=True)
        return ', '.join(f'{name} {n}' for n, name in items) or '0'


def fuzz_target(name: str, args: argparse.Namespace, workers: list[Worker],
                tally: Tally) -> None:
    """Run ``args.inputs`` mutations of the target's seeds over the workers."""
    target = TARGETS[name]
    seeds = target.seeds()
    timeout = args.timeout_ms / 1000.0
    pending = collections.deque(range(args.inputs))
    for worker in workers:
        if worker.warm_for != name:
            worker.warm(name)

    def generate(index: int) -> bytes:
        rng = random.Random(f'{args.seed}:{name}:{index}')
        return mutate(seeds[rng.randrange(len(seeds))], rng, seeds, target.tokens)

    while pending or any(w.job for w in workers):
        for worker in workers:
            if worker.job is None and pending:
                index = pending.popleft()
                worker.send(name, index, generate(index))
        busy = [w for w in workers if w.job is not None]
        now = time.monotonic()
        left = min(w.job[2] + timeout - now for w in busy)   # type: ignore[index]
        ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy],
                     timeout=max(left, 0.0))
        for k, worker in enumerate(workers):
            if worker.job is None:
                continue
            index, data, started = worker.job
            outcome = None
            if worker.conn in ready or worker.process.sentinel in ready:
                try:
                    outcome = worker.conn.recv()
                except (EOFError, OSError):
                    code = worker.kill()
                    outcome = Outcome('crash', f'exit {code}', '',
                                      f'the worker died (exit code {code})')
            elif time.monotonic() - started > timeout:
                worker.kill()
                outcome = Outcome('hang', 'timeout', '',
                                  f'no answer within {args.timeout_ms} ms; worker killed')
            if outcome is None:
                continue
            tally.add(index, data, outcome)
            worker.job = None
            if outcome.kind in ('crash', 'hang'):
                workers[k] = Worker(args.memory_mb)
                workers[k].warm(name)


def select(spec: str) -> list[str]:
    """Target names for ``all``, a name, a group (``cdr``, ``yaml``...) or a comma list."""
    if spec == 'all':
        return list(TARGETS)
    names: list[str] = []
    for part in spec.split(','):
        found = [n for n in TARGETS if n == part or n.startswith(part + '.')]
        if not found:
            raise SystemExit(f'error: no target {part!r}; targets: {", ".join(TARGETS)}')
        names += found
    return names


def report(tallies: list[Tally], seconds: dict[str, float]) -> None:
    """Print one row per target, then the saved findings."""
    rows = [('target', 'inputs', 'ok', 'own errors', 'foreign', 'hang', 'crash', 's')]
    for t in tallies:
        hang = sum(n for (k, _), n in t.counts.items() if k == 'hang')
        crash = sum(n for (k, _), n in t.counts.items() if k == 'crash')
        rows.append((t.name, str(sum(t.counts.values())), str(t.counts[('ok', '')]),
                     t.column('own'), t.column('foreign'), str(hang), str(crash),
                     f'{seconds[t.name]:.1f}'))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print('  '.join(cell.ljust(w) if i in (0, 3, 4) else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            print('-' * (sum(widths) + 2 * (len(widths) - 1)))
    for t in tallies:
        for (kind, name), saved in t.examples.items():
            print(f'\n{t.name}: {kind} {name} ({t.counts[(kind, name)]} inputs); saved:')
            for line in saved:
                print(f'  {line}')


def main(argv: list[str] | None = None) -> int:
    """Fuzz the chosen targets and print the table; 1 when anything foreign happened."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--target', default='all', help='all, a target, a group, or a list')
    parser.add_argument('--inputs', type=int, default=10000, help='inputs per target')
    parser.add_argument('--timeout-ms', type=int, default=2000, help='per input')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--jobs', type=int, default=min(os.cpu_count() or 1, 4))
    parser.add_argument('--memory-mb', type=int, default=2048, help='per worker (RLIMIT_AS)')
    parser.add_argument('--keep', type=int, default=3, help='inputs saved per finding kind')
    parser.add_argument('--findings', type=Path, default=FINDINGS)
    parser.add_argument('--list', action='store_true', help='print the targets and exit')
    args = parser.parse_args(argv)
    if args.list:
        print('\n'.join(TARGETS))
        return 0
    names = select(args.target)
    print(f'fuzzing {len(names)} targets, {args.inputs} inputs each, seed {args.seed}, '
          f'{args.jobs} workers, timeout {args.timeout_ms} ms, {args.memory_mb} MB each',
          flush=True)
    workers = [Worker(args.memory_mb) for _ in range(args.jobs)]
    tallies, seconds = [], {}
    try:
        for name in names:
            started = time.monotonic()
            tally = Tally(name, args.keep, args.findings)
            fuzz_target(name, args, workers, tally)
            seconds[name] = time.monotonic() - started
            tallies.append(tally)
            print(f'  {name}: {sum(tally.counts.values())} inputs, {tally.bad()} findings, '
                  f'{seconds[name]:.1f} s', flush=True)
    finally:
        for worker in workers:
            worker.stop()
    print()
    report(tallies, seconds)
    bad = sum(t.bad() for t in tallies)
    print(f'\n{bad} inputs with a foreign exception, a hang or a crash'
          + (f'; inputs under {args.findings}' if bad else ''))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
