"""Convert many episode bags: find them, stage them in parallel, pack once, summarize.

::

    sources --describe_sources--> every folder with metadata.yaml or an .mcap file
      --> episode.yaml checked, require_finished (unfinished: failed, with the repair command)
      --> per episode, in its own process: verify_bag --> EpisodeReader --> staging folder
      --> the kept episodes packed in (session, episode) order (none kept: nothing written)
      --> ConvertResult: converted, flagged, rejected, failed, by a name unique in the run
"""

from __future__ import annotations

import ctypes
import hashlib
from functools import partial
import json
import multiprocessing
import multiprocessing.connection
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from humanoid_data.bag.any_bag import bag_bytes
from humanoid_data.bag.episode_state import require_finished
from humanoid_data.bag.given_labels import GivenLabels, labels_for
from humanoid_data.bag.episode_reader import session_suite
from humanoid_data.bag.suite_files import fill_suite
from humanoid_data.bag.suite_guess import SuiteGuess, guess_suite
from humanoid_data.core.config import SuiteConfig, load_suite
from humanoid_data.bag.metadata import read_episode_yaml
from humanoid_data.core.contact_config import load_contact_config
from humanoid_data.core.phases import load_taxonomy
from humanoid_data.dataset.config import DatasetConfig, load_dataset_config
from humanoid_data.dataset.plan_guess import dataset_yaml
from humanoid_data.dataset.sources import EpisodeSource, describe_sources, discarded_under
from humanoid_data.dataset.staging import SUMMARY, episode_key, stage_episode
from humanoid_data.errors import BagError, ConfigError, HumanoidDataError
from humanoid_data.resources import default_dataset_config

FORMATS = ('lerobot', 'hdf5')
#: The dataset plan guessed for a run given none, under ``OUT/.staging/``.
GUESSED_CONFIG = 'dataset.guessed.yaml'
# With -j N >= 2 every episode is staged in a fresh process (forked from a fork server
# that imported the converter once): video encoders and HDF5 leave native memory that
# glibc keeps (one demo episode converted ten times in one process: RSS 502 MB after the
# first, 657 MB after the tenth), and the AV1 encoder was seen to hang for good while
# flushing (SVT-AV1 3.0 in PyAV's wheel). A process gets
# DEADLINE_BASE_S + DEADLINE_S_PER_MB per MB of bag (about 40 times the measured time);
# past it, it is killed and the episode tried once more, then reported as failed.
DEADLINE_BASE_S = 300.0
DEADLINE_S_PER_MB = 0.5


@dataclass
class ConvertResult:
    """What a conversion run did, by episode name (``session/episode``, unique in the run).

    ``sources`` holds every episode found: its folder, its path relative to the source
    argument and its source id. ``output`` is None when no episode made it into a
    dataset (nothing was written then).
    """

    converted: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    rejected: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    sources: dict[str, EpisodeSource] = field(default_factory=dict)
    output: Path | None = None
    config_path: Path | None = None      # the dataset plan used (maybe a guessed one)


def _dataset_config_path(first: Path, suite_path: Path | None, out: Path) -> Path:
    """The dataset plan of a run given none.

    The default one for the recorder's sessions (a suite.yaml beside the first episode),
    else one guessed from the first bag's suite, written to ``out/.staging/``.
    """
    if session_suite(first) is not None and suite_path is None:
        return default_dataset_config()
    guess = guess_suite(first)
    suite = suite_for(suite_path, first, guess) if suite_path else guess.suite()
    path = out / '.staging' / GUESSED_CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dataset_yaml(suite, guess), encoding='utf-8')
    return path


def _stage_one(episode: str, staging: str, path: str, source_id: str, name: str,
               labels: str, config_path: str, taxonomy_path: str, contact_path: str,
               fmt: str, suite_path: str = '') -> dict[str, Any]:
    """Stage one episode (here with -j 1, else in the episode's own process)."""
    config = load_dataset_config(config_path)
    try:
        suite = suite_for(Path(suite_path), Path(episode)) if suite_path else None
        return stage_episode(EpisodeSource(Path(episode), path, source_id, name, labels),
                             Path(staging), config, load_taxonomy(taxonomy_path),
                             load_contact_config(contact_path), fmt, suite,
                             GivenLabels.from_json(labels))
    finally:
        _release_memory()


def suite_for(suite_path: Path, bag: Path, guess: SuiteGuess | None = None) -> SuiteConfig:
    """The suite a ``--suite`` file gives for ``bag``: the file, completed from the bag.

    A complete file is used as it is; one that leaves out what the bag can tell
    (rates, sizes, types, robot, joints) is completed from the bag's own topics (from
    ``guess`` when the caller already read them).

    Raises:
        ConfigError: The file is not a valid suite even when completed (naming it).
        BagError: The bag cannot be read to complete it.

    """
    try:
        return load_suite(suite_path)
    except ConfigError:
        return fill_suite(suite_path, guess or guess_suite(bag))


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
        return 'failed', (f'{episode}: unexpected {type(err).__name__}: {err} (at '
                          f'{Path(where.filename).name}:{where.lineno}; a bug of humanoid_data, '
                          'please report it)')


def stage_outcome(episode: str, staging: str, *args: str) -> Outcome:
    """Stage one episode and return its outcome: what a worker of any engine runs.

    ``args`` are ``worker_args`` then the run's own arguments, all plain strings.
    """
    return _outcome(episode, lambda: _stage_one(episode, staging, *args))


def _worker(send: Any, episode: str, staging: str, *args: str) -> None:
    """Body of an episode's process: stage it, send the outcome back."""
    send.send(stage_outcome(episode, staging, *args))
    send.close()


def deadline_s(episode: Path) -> float:
    """How long an episode's process may run before it counts as stuck."""
    size_mb = bag_bytes(episode) / 1e6
    return DEADLINE_BASE_S + DEADLINE_S_PER_MB * size_mb


@dataclass
class _Run:
    """One episode's process and the pipe its outcome comes back on."""

    process: Any
    receive: Any
    source: EpisodeSource
    stage: Path
    attempt: int
    limit_s: float
    started: float = field(default_factory=time.monotonic)

    def settle(self, ready: list[Any]) -> tuple[bool, Outcome | None]:
        """(finished, outcome); finished without an outcome: killed on a first attempt."""
        episode = self.source.folder
        if self.receive in ready:
            try:
                return True, self.receive.recv()
            except EOFError:
                self.process.join()
                return True, ('failed', f'{episode}: the converting process died '
                                        f'(exit code {self.process.exitcode})')
        if time.monotonic() - self.started <= self.limit_s:
            return False, None
        self.process.kill()
        self.process.join()     # nothing can write into the stage folder after this
        shutil.rmtree(self.stage, ignore_errors=True)
        if self.attempt == 1:
            return True, None
        return True, ('failed', f'{episode}: no result within {self.limit_s:.0f} s, '
                                'twice (a stuck encoder?); the process was stopped')


Todo = list[tuple[EpisodeSource, Path]]


def _stage_here(source: EpisodeSource, stage: Path, args: tuple[str, ...]) -> dict[str, Any]:
    """Stage one episode in this process (``-j 1``)."""
    return _stage_one(*worker_args(source, stage), *args)


def worker_args(source: EpisodeSource, stage: Path) -> tuple[str, str, str, str, str, str]:
    """An episode's own arguments of ``_stage_one``, as plain strings for a new process."""
    return (str(source.folder), str(stage), source.path, source.source_id, source.name,
            source.labels)


#: Modules a converting process needs, imported once by the fork server (about 2.5 s
#: per process when each one imported them itself).
WORKER_PRELOAD = ['humanoid_data.dataset.staging', 'humanoid_data.dataset.episode',
                  'humanoid_data.calibration.checks', 'h5py', 'av', 'open3d',
                  'scipy.spatial.transform', 'rosbags.rosbag2']


def worker_context() -> Any:
    """The multiprocessing context of the episode processes.

    A fork server (where the platform has one) that imported ``WORKER_PRELOAD``: every
    episode still gets a fresh process, forked from a clean single-purpose one instead
    of this process (which may hold threads, a ROS context, a terminal UI). Elsewhere,
    spawn.
    """
    if 'forkserver' not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context('spawn')
    context = multiprocessing.get_context('forkserver')
    context.set_forkserver_preload(WORKER_PRELOAD)
    return context


def _in_processes(todo: Todo, jobs: int, args: tuple[str, ...]
                  ) -> Iterator[tuple[EpisodeSource, Path, Outcome]]:
    """Stage each episode in its own process, ``jobs`` at a time, as they finish.

    A process past its deadline is killed and its episode queued once more; a process
    that dies without an answer (a crash in native code) fails its episode.
    """
    context = worker_context()
    queue = [(source, stage, 1) for source, stage in todo]
    running: list[_Run] = []
    try:
        while queue or running:
            while queue and len(running) < jobs:
                source, stage, attempt = queue.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_worker, daemon=True,
                                          args=(send, *worker_args(source, stage), *args))
                process.start()
                send.close()
                running.append(_Run(process, receive, source, stage, attempt,
                                    deadline_s(source.folder)))
            ready = multiprocessing.connection.wait([r.receive for r in running], timeout=1.0)
            for run in list(running):
                finished, outcome = run.settle(ready)
                if not finished:
                    continue
                run.process.join()
                run.receive.close()
                running.remove(run)
                if outcome is None:
                    queue.append((run.source, run.stage, 2))
                else:
                    yield run.source, run.stage, outcome
    finally:
        for run in running:
            run.process.kill()
            run.process.join()


def convert(sources: Sequence[str | Path], out: Path, fmt: str, config_path: Path | None,
            taxonomy_path: Path, contact_path: Path, jobs: int = 1,
            on_progress: Callable[[str, str], None] = lambda episode, state: None,
            ray: str | None = None, *, suite_path: Path | None = None,
            labels: GivenLabels | None = None,
            label_map: dict[str, GivenLabels] | None = None) -> ConvertResult:
    """Convert every episode found under ``sources`` into ``out`` in format ``fmt``.

    An episode already staged from the same bag and settings is reused; an episode
    that fails (an unfinished recording, a damaged bag) is reported with its reason and
    the others still convert. When no episode is kept, no dataset is written.

    ``ray`` runs one task per episode on a Ray cluster (its address; ``''``: the one
    ``RAY_ADDRESS`` names, else a local one for the run) instead of ``jobs`` local
    processes. Bags without a suite.yaml use
    ``suite_path`` (completed from each bag), else a suite guessed from the bag; without
    ``config_path`` the dataset plan is the default one for the recorder's sessions, or
    one guessed from the first bag's suite (written to ``guessed_config``). Episodes
    without episode.yaml take their labels from ``label_map`` (by bag name), else from
    ``labels``.

    Raises:
        ConfigError: Unknown format, bad config files, missing sources, or no episode
            folder under them.
        BagError: The first bag cannot be read to guess the dataset plan.

    """
    if fmt not in FORMATS:
        raise ConfigError(f'unknown format {fmt!r}; choose one of {", ".join(FORMATS)}')
    if config_path is not None:
        load_dataset_config(config_path)
    load_taxonomy(taxonomy_path)
    load_contact_config(contact_path)
    found = _episodes(sources, labels, label_map)
    out.mkdir(parents=True, exist_ok=True)
    if config_path is None:
        config_path = _dataset_config_path(found[0].folder, suite_path, out)
    config = _dataset_plan(config_path, fmt)
    result = ConvertResult(sources={s.name: s for s in found}, config_path=config_path)
    staged: dict[str, tuple[Path, dict[str, Any]]] = {}
    settings = settings_digest(taxonomy_path, contact_path, *([suite_path] if suite_path else []))
    todo = _plan(found, out / '.staging' / fmt, config, fmt, staged, result, on_progress,
                 settings)
    args = (str(config_path), str(taxonomy_path), str(contact_path), fmt,
            str(suite_path or ''))
    for source, stage, outcome in _stage_all(todo, jobs, ray, args):
        _collect(source, stage, outcome, staged, result, on_progress)
    ordered = _sort_verdicts(found, staged, result)
    if result.converted:
        failed = [{'episode': src.folder.name, 'session': src.folder.parent.name,
                   'source_id': src.source_id, 'source_path': src.path, 'verdict': 'failed',
                   'reason': result.failed[src.name]} for src in found
                  if src.name in result.failed]
        result.output = _pack(out, fmt, ordered, config, failed)
    return result


def _episodes(sources: Sequence[str | Path], labels: GivenLabels | None,
              label_map: dict[str, GivenLabels] | None) -> list[EpisodeSource]:
    """The episodes under ``sources``, each with the labels given for it."""
    found = describe_sources(sources)
    if not found:
        skipped = discarded_under(sources)
        raise ConfigError(f'{", ".join(map(str, sources))}: no episode to convert (no bag '
                          'folder, episode folder or bag file' +
                          (f'; {skipped} discarded episodes skipped)' if skipped else ')'))
    return [s._replace(labels=(labels_for(s.path, s.folder, label_map or {}, labels)
                               or GivenLabels()).to_json()) for s in found]


def _dataset_plan(config_path: Path, fmt: str) -> DatasetConfig:
    """The dataset plan, refused for HDF5 when no stream is the action."""
    config = load_dataset_config(config_path)
    if fmt == 'hdf5' and not any(p.key == 'action' for p in config.streams):
        raise ConfigError(f'{config.source}: no stream is the action: the HDF5 (robomimic) '
                          'layout needs actions; name the command stream in the suite '
                          '(modality: command) and the dataset plan (key: action), or '
                          'convert to --format lerobot')
    return config


def _stage_all(todo: Todo, jobs: int, ray: str | None, args: tuple[str, ...]
               ) -> Iterator[tuple[EpisodeSource, Path, Outcome]]:
    """Stage ``todo`` on Ray, in ``jobs`` processes, or here one after another."""
    if ray is not None:
        from humanoid_data.dataset.ray_runner import in_ray
        return in_ray(todo, ray, args)
    if jobs <= 1:      # in this process, one after another (no deadline: for debugging)
        return ((e, s, _outcome(str(e.folder), partial(_stage_here, e, s, args)))
                for e, s in todo)
    return _in_processes(todo, jobs, args)


def _sort_verdicts(found: list[EpisodeSource], staged: dict[str, tuple[Path, dict[str, Any]]],
                   result: ConvertResult) -> list[tuple[Path, dict[str, Any]]]:
    """Note each staged episode's verdict; return them in (session, episode) order."""
    names = [s.name for s in found if s.name in staged]
    for name in names:
        summary = staged[name][1]
        if summary['verdict'] == 'rejected':
            result.rejected[name] = summary['rejected']
        else:
            result.converted.append(name)
            if summary['verdict'] == 'flagged':
                result.flagged.append(name)
    return [staged[name] for name in names]


def _pack(out: Path, fmt: str, ordered: list[tuple[Path, dict[str, Any]]],
          config: DatasetConfig, failed: list[dict[str, str]]) -> Path:
    if fmt == 'lerobot':
        from humanoid_data.dataset.lerobot import write_lerobot
        write_lerobot(out, ordered, config, failed)
        return out
    from humanoid_data.dataset.hdf5 import write_hdf5
    return write_hdf5(out, ordered, config)


def settings_digest(*paths: Path) -> str:
    """A digest of the files the labels depend on (taxonomy, contact thresholds)."""
    h = hashlib.sha256()
    for path in paths:
        h.update(Path(path).read_bytes())
    return h.hexdigest()[:16]


def _plan(found: list[EpisodeSource], staging_root: Path, config: DatasetConfig, fmt: str,
          staged: dict[str, tuple[Path, dict[str, Any]]], result: ConvertResult,
          on_progress: Callable[[str, str], None], settings: str = '') -> Todo:
    """Refuse unfinished episodes, reuse staged ones; return what remains to stage."""
    todo: Todo = []
    for source in found:
        episode = source.folder
        try:
            read_episode_yaml(episode)    # a damaged one is named before its state is read
            require_finished(episode)
        except BagError as err:           # UnfinishedEpisodeError too
            result.failed[source.name] = str(err)
            on_progress(str(episode), 'failed')
            continue
        key = episode_key(episode, config, fmt, settings + source.labels)
        stage = staging_root / f'{episode.parent.name}__{episode.name}__{key}'
        summary = _staged_summary(stage)
        if summary is not None:
            # The same bag found under another source argument: its path is the new one.
            summary.update(source_path=source.path, source_id=source.source_id)
            staged[source.name] = (stage, summary)
            result.resumed.append(str(episode))
            on_progress(str(episode), 'resumed')
        else:
            shutil.rmtree(stage, ignore_errors=True)
            todo.append((source, stage))
    return todo


def _staged_summary(stage: Path) -> dict[str, Any] | None:
    """A staged episode's summary, or None when it must be staged (again).

    A summary without the cameras' intrinsics (``calibration``) was staged before they
    were part of it.
    """
    if not (stage / SUMMARY).is_file():
        return None
    summary = json.loads((stage / SUMMARY).read_text())
    return summary if isinstance(summary, dict) and 'calibration' in summary else None


def _collect(source: EpisodeSource, stage: Path, outcome: Outcome,
             staged: dict[str, tuple[Path, dict[str, Any]]], result: ConvertResult,
             on_progress: Callable[[str, str], None]) -> None:
    kind, value = outcome
    if kind != 'ok':
        result.failed[source.name] = value
        shutil.rmtree(stage, ignore_errors=True)
        on_progress(str(source.folder), 'failed')
        return
    staged[source.name] = (stage, value)
    on_progress(str(source.folder), value['verdict'])
