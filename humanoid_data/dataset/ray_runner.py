"""Stage episodes on a Ray cluster, one task per episode (``convert --ray [ADDRESS]``).

::

    todo: (episode, staging folder under OUT/.staging/) --> one Ray task each, in a fresh
      worker process (max_calls=1), HUMANOID_DATA_RAY_CPUS and HUMANOID_DATA_RAY_MEMORY_MB
      --> the task says where it runs (its deadline starts then) --> batch.stage_outcome
      --> (source, stage, outcome) as tasks finish; batch packs as with -j

The rules are those of ``-j``: a task past ``batch.deadline_s`` is cancelled (its worker
killed), its staging folder removed and the episode tried once more, then reported as
failed; a worker that dies (a crash in native code, the node's out-of-memory killer, a
lost node) gets the same one retry. The workers read the bags and write the staging
folders at the driver's paths, so both must be on storage every node mounts at the same
path (docs/cluster.md). ``''`` starts a local cluster for the run (or joins the one
``RAY_ADDRESS`` names) and stops it after; ``auto`` or ``HOST:PORT`` joins a running
cluster and only disconnects from it.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, cast

import psutil

from humanoid_data import __version__
from humanoid_data.dataset import batch
from humanoid_data.dataset.sources import EpisodeSource
from humanoid_data.errors import ConfigError

#: CPUs Ray reserves for each episode's task (a float; the encoders' own threads may use
#: more, as with ``-j``).
CPUS_ENV = 'HUMANOID_DATA_RAY_CPUS'
#: Memory Ray reserves for each episode's task, in MB (unset: none, Ray schedules by CPU).
MEMORY_ENV = 'HUMANOID_DATA_RAY_MEMORY_MB'
#: How long the driver tries to reach a cluster's address before giving up (Ray itself
#: retries for about 14 minutes).
CONNECT_TIMEOUT_S = 10.0
#: How long the driver waits for Ray to report a cancelled task ended before it moves on.
CANCEL_WAIT_S = 60.0
#: The tasks' name, before the episode's (``ray::stage SESSION/EPISODE`` in ``ps``).
TASK_NAME = 'stage'
#: Environment variables ``ray.init`` sets in the calling process.
RAY_SETS = ('RAY_AUTH_MODE',)

Outcome = tuple[str, Any]


def task_resources() -> dict[str, float]:
    """Ray's resource options for one episode's task, from the environment.

    Raises:
        ConfigError: A variable is not a positive number.

    """
    options = {'num_cpus': _positive(CPUS_ENV, '1')}
    if os.environ.get(MEMORY_ENV, ''):
        options['memory'] = _positive(MEMORY_ENV, '') * 1e6
    return options


def _positive(name: str, default: str) -> float:
    text = os.environ.get(name, '') or default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float('inf'):
        raise ConfigError(f'{name}={text!r}: expected a positive number')
    return value


def _task(body: Callable[..., Outcome], version: str, cwd: str, episode: str, staging: str,
          *args: str) -> Iterator[Any]:
    """One episode's Ray task: which process runs it (its deadline starts), its outcome.

    It works in the driver's folder ``cwd`` (where that exists), so paths given relative
    to it mean the same here (a worker starts where its node was started). The staging
    folder is emptied first: what an attempt killed before left in it.
    """
    host = socket.gethostname()
    yield {'host': host, 'pid': os.getpid(), 'created': psutil.Process().create_time()}
    if os.path.isdir(cwd):
        os.chdir(cwd)    # a worker runs one task (max_calls=1): nothing else sees this
    shutil.rmtree(staging, ignore_errors=True)
    missing = [p for p in (Path(episode), Path(staging).parent) if not p.exists()]
    if version != __version__:
        yield 'failed', (f'{episode}: Ray node {host} has humanoid_data {__version__}, this '
                         f'run {version}; install the same version on every node')
    elif missing:
        what = '' if missing[0] == Path(episode) else f' {missing[0].absolute()}'
        yield 'failed', (f'{episode}:{what} not found on Ray node {host}; the bags and OUT '
                         'must be on storage every node mounts at the same path')
    else:
        yield body(episode, staging, *args)


@dataclass
class _Attempt:
    """One submitted task: its episode, which try it is and when it started running."""

    source: EpisodeSource
    stage: Path
    attempt: int
    limit_s: float
    worker: dict[str, Any] | None = None    # host, pid, created (its start time)
    started: float | None = None

    def past_deadline(self) -> bool:
        """Running for longer than the episode's deadline (queued time does not count)."""
        return self.started is not None and time.monotonic() - self.started > self.limit_s


def in_ray(todo: list[tuple[EpisodeSource, Path]], address: str, args: tuple[str, ...]
           ) -> Iterator[tuple[EpisodeSource, Path, Outcome]]:
    """Stage each episode in its own Ray task; yield (source, stage, outcome) as they end.

    The task body is ``batch.stage_outcome`` as it is when this starts (shipped to the
    workers by reference: every node imports it from its own humanoid_data).

    Raises:
        ConfigError: Ray is not installed, a task's resources are malformed, the
            address is malformed or unreachable, a local cluster cannot start or has no
            node that can hold a task.

    """
    ray = _import_ray()
    if not todo:
        return
    resources = task_resources()
    connected = _connect(ray, address)
    running: dict[int, tuple[Any, _Attempt]] = {}
    try:
        _check_fits(ray, resources, local=not (address or os.environ.get('RAY_ADDRESS')))
        remote = ray.remote(max_calls=1, max_retries=0, num_returns='streaming',
                            **resources)(_task)
        body = batch.stage_outcome

        def submit(source: EpisodeSource, stage: Path, attempt: int) -> None:
            stage.parent.mkdir(parents=True, exist_ok=True)   # the task checks it sees it
            ref = remote.options(name=f'{TASK_NAME} {source.name}').remote(
                body, __version__, os.getcwd(), *batch.worker_args(source, stage), *args)
            running[id(ref)] = ref, _Attempt(source, stage, attempt,
                                             batch.deadline_s(source.folder))

        for source, stage in todo:
            submit(source, stage, 1)
        while running:
            ready, _ = ray.wait([ref for ref, _ in running.values()], num_returns=1,
                                timeout=1.0)
            ended: list[tuple[Any, tuple[str, Any] | None]] = [
                (ref, _item(ray, ref)) for ref in ready]
            ended += [(ref, None) for ref, run in running.values()
                      if run.past_deadline() and not any(ref is r for r in ready)]
            for ref, item in ended:
                run = running[id(ref)][1]
                if item is not None and item[0] == 'started':
                    run.worker, run.started = item[1], time.monotonic()
                    continue
                del running[id(ref)]
                outcome = _settle(ray, ref, run, item)
                if outcome is None:
                    submit(run.source, run.stage, 2)
                else:
                    yield run.source, run.stage, outcome
    finally:
        for ref, _ in running.values():
            _cancel(ray, ref, None, wait=False)
        if connected is not None:
            ray.shutdown()
            _restore_environment(connected)


def _settle(ray: Any, ref: Any, run: _Attempt, item: tuple[str, Any] | None
            ) -> Outcome | None:
    """The outcome of an ended attempt (None: try once more).

    ``item`` is what the task reported last (``_item``), None when it is past its
    deadline: it is cancelled then. An attempt that did not give an outcome has its
    staging folder removed.
    """
    if item is None:
        _cancel(ray, ref, run.worker)
        item = 'retry', (f'no result within {run.limit_s:.0f} s, twice (a stuck '
                         'encoder?); the Ray task was cancelled')
    kind, value = item
    if kind == 'outcome':
        return cast(Outcome, value)
    shutil.rmtree(run.stage, ignore_errors=True)
    if kind == 'retry' and run.attempt == 1:
        return None
    where = f' (Ray node {run.worker["host"]})' if run.worker else ''
    return 'failed', f'{run.source.folder}: {value}{where}'


def _check_fits(ray: Any, resources: dict[str, float], local: bool) -> None:
    """Say when no node of the cluster can hold a task (the tasks would wait for good).

    Raises:
        ConfigError: On the local cluster this run started (no node can join it).

    """
    nodes = [node.get('Resources', {}) for node in ray.nodes() if node.get('Alive')]
    need_cpu, need_memory = resources['num_cpus'], resources.get('memory', 0.0)
    if any(node.get('CPU', 0) >= need_cpu and node.get('memory', 0) >= need_memory
           for node in nodes):
        return
    most: dict[str, float] = max(nodes, key=lambda node: node.get('CPU', 0), default={})
    text = (f'no node of the Ray cluster can hold a task of {need_cpu:g} CPUs'
            + (f' and {need_memory / 1e6:.0f} MB' if need_memory else '')
            + f' (the largest: {most.get("CPU", 0):g} CPUs, {most.get("memory", 0) / 1e6:.0f}'
            f' MB); lower {CPUS_ENV} or {MEMORY_ENV}')
    if local:
        raise ConfigError(text)
    print(f'warning: {text}; the tasks wait until a node that can hold them joins',
          file=sys.stderr)


def _item(ray: Any, ref: Any) -> tuple[str, Any]:
    """The next thing a task reported.

    ('started', worker), ('outcome', outcome), ('retry', reason) when the worker died or
    was lost, or ('failed', reason) when the task itself raised.
    """
    try:
        value = ray.get(next(ref))
    except StopIteration:
        return 'retry', 'the Ray task ended without a result'
    except ray.exceptions.RayTaskError as err:    # the body raised: the same again on a retry
        cause = getattr(err, 'cause', None) or err
        return 'failed', _task_raised(cause)
    except ray.exceptions.RayError as err:        # a dead worker, a lost node, OOM killed
        first = (str(err).strip().splitlines() or [''])[0]
        return 'retry', f'the converting process died, twice ({type(err).__name__}: {first})'
    if isinstance(value, dict):
        return 'started', value
    return 'outcome', value


def _task_raised(cause: BaseException) -> str:
    """Why a task raised, in a line (Ray's own messages carry tracebacks)."""
    first = (str(cause).strip().splitlines() or [''])[0][:300]
    text = f'the Ray task failed: {type(cause).__name__}: {first}'
    if 'No module named' in first or 'failed to import' in first:
        text += ' (is humanoid_data installed on every node, the same version?)'
    return text


def _cancel(ray: Any, ref: Any, worker: dict[str, Any] | None, wait: bool = True) -> None:
    """Cancel a task and kill its worker; with ``wait``, until it has ended.

    Ray reports a cancelled task before its worker is gone (about 50 ms later here); a
    worker on this machine is waited for, so nothing writes into its staging folder
    after it is removed. On another machine the next attempt empties it first.
    """
    try:
        ray.cancel(ref, force=True)
        if wait:
            ray.wait([ref], num_returns=1, timeout=CANCEL_WAIT_S)
    except Exception:   # already ended, or the cluster is gone: nothing left to stop
        return
    if not wait or worker is None:
        return
    try:
        process = psutil.Process(worker['pid'])
        if process.create_time() == worker['created']:    # that very process, here
            process.wait(CANCEL_WAIT_S)
    except psutil.Error:    # on another machine, already gone, or still there: go on
        pass


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise ConfigError("--ray: Ray is not installed; install the cluster extra: "
                          "pip install 'humanoid_data[cluster]'") from err
    return ray


def _connect(ray: Any, address: str) -> dict[str, str | None] | None:
    """Connect this process to the cluster at ``address``; None when it already was.

    Returns the environment variables Ray may set in this process, as they were (to put
    back after ``ray.shutdown``: starting a local cluster turns on token authentication
    for the process, ``RAY_AUTH_MODE=token``).

    ``''``: the cluster ``RAY_ADDRESS`` names, else a new local one (no dashboard);
    ``auto``: ``RAY_ADDRESS``, else the cluster ``ray start`` started on this machine;
    ``HOST:PORT``: that cluster's head. Ray's log messages below errors and the
    workers' output are not printed.
    """
    if ray.is_initialized():       # the caller's own connection: used, and left open
        return None
    before = {name: os.environ.get(name) for name in RAY_SETS}
    target = address or os.environ.get('RAY_ADDRESS', '')
    if target == 'auto' and os.environ.get('RAY_ADDRESS'):
        target = os.environ['RAY_ADDRESS']
    quiet = {'log_to_driver': False, 'logging_level': logging.ERROR}
    try:
        if not target:
            ray.init(address='local', include_dashboard=False, **quiet)
        else:
            if target != 'auto' and '://' not in target:
                _check_reachable(target, _named(address, target))
            ray.init(address=target, **quiet)
    except ConfigError:
        raise
    except Exception as err:
        _restore_environment(before)
        if not target:
            raise ConfigError(f'--ray: could not start a local Ray cluster: {err}') from err
        where = 'a running Ray cluster' if target == 'auto' else f'the Ray cluster at {target}'
        raise ConfigError(f'{_named(address, target)}: cannot connect to {where}: {err}'
                          ) from err
    return before


def _restore_environment(before: dict[str, str | None]) -> None:
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _named(address: str, target: str) -> str:
    """How an error names the address: as given, or where it came from."""
    return f'--ray {address}' if address else f'--ray (RAY_ADDRESS={target})'


def _check_reachable(target: str, named: str) -> None:
    """Fail fast when nothing listens at ``HOST:PORT``."""
    host, _, port = target.rpartition(':')
    if not host or not port.isdigit():
        raise ConfigError(f'{named}: {target!r} is not a Ray address (HOST:PORT, or auto)')
    try:
        socket.create_connection((host.strip('[]'), int(port)), CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise ConfigError(f'{named}: cannot reach the Ray cluster at {target} '
                          f'({err.strerror or err}); is `ray start --head` running there and '
                          'the port open?') from err
