"""Task bodies for the Ray tests: workers that crash or hang on purpose.

They stand in for ``batch.stage_outcome`` (the tests patch it before a run; Ray ships
the function by name, so it lives in a module the workers import, as stuck_worker.py
does for ``-j``). Each call appends its process id to ``OUT/attempts/<episode>.pids``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from humanoid_data.dataset import batch

#: The episode the bodies below treat badly; the other one is staged for real.
VICTIM = 'episode_0002'


def attempts(out: Path, episode: str) -> list[int]:
    """The process ids of the attempts at ``episode`` of a run into ``out``, in order."""
    log = out / 'attempts' / f'{episode}.pids'
    return [int(pid) for pid in log.read_text().split()] if log.exists() else []


def _log_attempt(episode: str, staging: str) -> int:
    """Record this attempt; return how many came before it."""
    log = Path(staging).parents[2] / 'attempts' / f'{Path(episode).name}.pids'
    log.parent.mkdir(exist_ok=True)
    before = len(log.read_text().split()) if log.exists() else 0
    with log.open('a') as f:
        f.write(f'{os.getpid()}\n')
    return before


def crashes(episode: str, staging: str, *args: str) -> batch.Outcome:
    """Die on the first attempt at every episode and on every attempt at ``VICTIM``."""
    if _log_attempt(episode, staging) == 0 or Path(episode).name == VICTIM:
        Path(staging).mkdir(parents=True, exist_ok=True)
        (Path(staging) / 'partial.bin').write_bytes(b'half an episode')
        os._exit(1)
    return batch.stage_outcome(episode, staging, *args)


def hangs(episode: str, staging: str, *args: str) -> batch.Outcome:
    """Start staging ``VICTIM``, then block for good; stage any other episode."""
    _log_attempt(episode, staging)
    if Path(episode).name != VICTIM:
        return batch.stage_outcome(episode, staging, *args)
    Path(staging).mkdir(parents=True, exist_ok=True)
    (Path(staging) / 'partial.bin').write_bytes(b'half an episode')
    threading.Event().wait()
    raise AssertionError('unreachable')


def stages(episode: str, staging: str, *args: str) -> batch.Outcome:
    """Stage for real, recording the attempt."""
    _log_attempt(episode, staging)
    return batch.stage_outcome(episode, staging, *args)
