"""Convert many episode bags: find them, stage them in parallel, pack once, summarize."""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import multiprocessing.connection
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from humanoid_data.core.contact_config import load_contact_config
from humanoid_data.core.phases import load_taxonomy
from humanoid_data.dataset.config import load_dataset_config
from humanoid_data.dataset.staging import SUMMARY, episode_key, stage_episode
from humanoid_data.errors import ConfigError, HumanoidDataError

FORMATS = ('lerobot', 'hdf5')
# With -j N >= 2 every episode is staged in a fresh process: video encoders and HDF5 leave
# native memory that glibc keeps (one demo episode converted ten times in one process:
# RSS 502 MB after the first, 657 MB after the tenth), and the AV1 encoder was seen to
# hang for good while flushing (SVT-AV1 3.0 in PyAV's wheel). A process gets
# DEADLINE_BASE_S + DEADLINE_S_PER_MB per MB of bag (about 40 times the measured time);
# past it, it is killed and the episode tried once more, then reported as failed.
DEADLINE_BASE_S = 300.0
DEADLINE_S_PER_MB = 0.5


def find_episodes(sources: Sequence[str | Path]) -> list[Path]:
    """Episode folders under each source (an episode, a session, or a tree of sessions).

    Discarded episodes are skipped.

    Raises:
        ConfigError: A source does not exist.

    """
    found: list[Path] = []
    for source in map(Path, sources):
        if not source.exists():
            raise ConfigError(f'{source}: no such file or folder')
        if (source / 'metadata.yaml').is_file():
            found.append(source)
            continue
        for meta in sorted(source.rglob('metadata.yaml')):
            if 'discarded' not in meta.relative_to(source).parts:
                found.append(meta.parent)
    unique = sorted(set(found), key=lambda p: (p.parent.name, p.name, str(p)))
    return unique


@dataclass
class ConvertResult:
    """What a conversion run did."""

    converted: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    rejected: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    output: Path | None = None


def _stage_one(episode: str, staging: str, config_path: str, taxonomy_path: str,
               contact_path: str, fmt: str) -> dict[str, Any]:
    """Stage one episode (here with -j 1, else in the episode's own process)."""
    config = load_dataset_config(config_path)
    try:
        return stage_episode(Path(episode), Path(staging), config,
                             load_taxonomy(taxonomy_path), load_contact_config(contact_path),
                             fmt)
    finally:
        _release_memory()


def _release_memory() -> None:
    """Give freed native memory back to the system (glibc only; elsewhere nothing).

    After a video encode glibc holds on to ~170 MB it no longer uses; with -j 1 the
    episodes share one process, and trimming brings it back near its size before.
    """
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


Outcome = tuple[str, Any]     # ('ok', summary) | ('failed', reason)


def _outcome(episode: str, run: Callable[[], dict[str, Any]]) -> Outcome:
    try:
        return 'ok', run()
    except HumanoidDataError as err:
        return 'failed', str(err)
    except Exception as err:  # a bug or a library error must not stop the batch
        where = traceback.extract_tb(err.__traceback__)[-1]
        return 'failed', (f'{episode}: {type(err).__name__}: {err} '
                          f'(at {Path(where.filename).name}:{where.lineno})')


def _worker(send: Any, episode: str, staging: str, *args: str) -> None:
    """Body of an episode's process: stage it, send the outcome back."""
    send.send(_outcome(episode, lambda: _stage_one(episode, staging, *args)))
    send.close()


def _deadline_s(episode: Path) -> float:
    """How long an episode's process may run before it counts as stuck."""
    size_mb = sum(f.stat().st_size for f in episode.glob('*.mcap')) / 1e6
    return DEADLINE_BASE_S + DEADLINE_S_PER_MB * size_mb


@dataclass
class _Run:
    """One episode's process and the pipe its outcome comes back on."""

    process: Any
    receive: Any
    episode: Path
    stage: Path
    attempt: int
    limit_s: float
    started: float = field(default_factory=time.monotonic)

    def settle(self, ready: list[Any]) -> tuple[bool, Outcome | None]:
        """(finished, outcome); finished without an outcome: killed on a first attempt."""
        if self.receive in ready:
            try:
                return True, self.receive.recv()
            except EOFError:
                self.process.join()
                return True, ('failed', f'{self.episode}: the converting process died '
                                        f'(exit code {self.process.exitcode})')
        if time.monotonic() - self.started <= self.limit_s:
            return False, None
        self.process.kill()
        self.process.join()     # nothing can write into the stage folder after this
        shutil.rmtree(self.stage, ignore_errors=True)
        if self.attempt == 1:
            return True, None
        return True, ('failed', f'{self.episode}: no result within {self.limit_s:.0f} s, '
                                'twice (a stuck encoder?); the process was stopped')


def _in_processes(todo: list[tuple[Path, Path]], jobs: int, args: tuple[str, ...]
                  ) -> Iterator[tuple[Path, Path, Outcome]]:
    """Stage each episode in its own spawned process, ``jobs`` at a time, as they finish.

    A process past its deadline is killed and its episode queued once more; a process
    that dies without an answer (a crash in native code) fails its episode.
    """
    context = multiprocessing.get_context('spawn')
    queue = [(episode, stage, 1) for episode, stage in todo]
    running: list[_Run] = []
    try:
        while queue or running:
            while queue and len(running) < jobs:
                episode, stage, attempt = queue.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_worker, daemon=True,
                                          args=(send, str(episode), str(stage), *args))
                process.start()
                send.close()
                running.append(_Run(process, receive, episode, stage, attempt,
                                    _deadline_s(episode)))
            ready = multiprocessing.connection.wait([r.receive for r in running], timeout=1.0)
            for run in list(running):
                finished, outcome = run.settle(ready)
                if not finished:
                    continue
                run.process.join()
                run.receive.close()
                running.remove(run)
                if outcome is None:
                    queue.append((run.episode, run.stage, 2))
                else:
                    yield run.episode, run.stage, outcome
    finally:
        for run in running:
            run.process.kill()
            run.process.join()


def convert(sources: Sequence[str | Path], out: Path, fmt: str, config_path: Path,
            taxonomy_path: Path, contact_path: Path, jobs: int = 1,
            on_progress: Callable[[str, str], None] = lambda episode, state: None
            ) -> ConvertResult:
    """Convert every episode found under ``sources`` into ``out`` in format ``fmt``.

    An episode already staged from the same bag and settings is reused; an episode
    that fails is reported with its reason and the others still convert.

    Raises:
        ConfigError: Unknown format, bad config files, missing sources.

    """
    if fmt not in FORMATS:
        raise ConfigError(f'unknown format {fmt!r}; choose one of {", ".join(FORMATS)}')
    config = load_dataset_config(config_path)
    load_taxonomy(taxonomy_path)
    load_contact_config(contact_path)
    episodes = find_episodes(sources)
    out.mkdir(parents=True, exist_ok=True)
    staging_root = out / '.staging' / fmt
    result = ConvertResult()
    staged: dict[Path, tuple[Path, dict[str, Any]]] = {}
    todo: list[tuple[Path, Path]] = []
    for episode in episodes:
        stage = staging_root / f'{episode.parent.name}__{episode.name}__' \
                               f'{episode_key(episode, config, fmt)}'
        if (stage / SUMMARY).is_file():
            staged[episode] = (stage, json.loads((stage / SUMMARY).read_text()))
            result.resumed.append(str(episode))
            on_progress(str(episode), 'resumed')
        else:
            shutil.rmtree(stage, ignore_errors=True)
            todo.append((episode, stage))
    args = (str(config_path), str(taxonomy_path), str(contact_path), fmt)
    if jobs <= 1:      # in this process, one after another (no deadline: for debugging)
        outcomes: Iterator[tuple[Path, Path, Outcome]] = (
            (e, s, _outcome(str(e), lambda e=e, s=s: _stage_one(str(e), str(s), *args)))
            for e, s in todo)
    else:
        outcomes = _in_processes(todo, jobs, args)
    for episode, stage, outcome in outcomes:
        _collect(episode, stage, outcome, staged, result, on_progress)
    ordered = [staged[e] for e in episodes if e in staged]
    for stage, summary in ordered:
        name = f'{summary["session"]}/{summary["episode_id"]}'
        if summary['verdict'] == 'rejected':
            result.rejected[name] = summary['rejected']
        else:
            result.converted.append(name)
            if summary['verdict'] == 'flagged':
                result.flagged.append(name)
    if fmt == 'lerobot':
        from humanoid_data.dataset.lerobot import write_lerobot
        write_lerobot(out, ordered, config)
        result.output = out
    else:
        from humanoid_data.dataset.hdf5 import write_hdf5
        result.output = write_hdf5(out, ordered, config)
    return result


def _collect(episode: Path, stage: Path, outcome: Outcome,
             staged: dict[Path, tuple[Path, dict[str, Any]]], result: ConvertResult,
             on_progress: Callable[[str, str], None]) -> None:
    kind, value = outcome
    if kind != 'ok':
        result.failed[f'{episode.parent.name}/{episode.name}'] = value
        shutil.rmtree(stage, ignore_errors=True)
        on_progress(str(episode), 'failed')
        return
    staged[episode] = (stage, value)
    on_progress(str(episode), value['verdict'])
