"""Keep this process's threads at normal scheduling priority.

SVT-AV1 (the AV1 encoder behind LeRobot's default codec) raises the threads it creates,
and the thread that opens it, to ``SCHED_FIFO`` priority 99 whenever it is allowed to,
which it is as root (common in robot containers). A converter running beside a robot's
control loops would then pre-empt them; on a 2-core machine it starves everything else.
The encoder creates all its threads when it opens (at the first frame), so putting every
real-time thread of the process back to ``SCHED_OTHER`` once after that is enough.
"""

from __future__ import annotations

import os
from pathlib import Path

REALTIME = frozenset(getattr(os, name) for name in ('SCHED_FIFO', 'SCHED_RR')
                     if hasattr(os, name))


def thread_ids() -> list[int]:
    """The ids of this process's threads (empty where ``/proc`` does not list them)."""
    tasks = Path(f'/proc/{os.getpid()}/task')
    try:
        return [int(p.name) for p in tasks.iterdir()]
    except OSError:
        return []


def realtime_threads() -> list[int]:
    """Threads of this process under a real-time policy."""
    if not hasattr(os, 'sched_getscheduler'):
        return []
    found = []
    for tid in thread_ids():
        try:
            if os.sched_getscheduler(tid) in REALTIME:
                found.append(tid)
        except OSError:      # the thread ended meanwhile
            continue
    return found


def drop_realtime_priority() -> int:
    """Put every real-time thread of this process back to ``SCHED_OTHER``; how many."""
    dropped = 0
    for tid in realtime_threads():
        try:
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
            dropped += 1
        except OSError:      # ended meanwhile, or not ours to change
            continue
    return dropped
