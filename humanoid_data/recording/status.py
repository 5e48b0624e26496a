"""The recorder's one-line health: level and message for /diagnostics and the operator UI."""

from __future__ import annotations

from humanoid_data.bag.episode_state import repair_command
from humanoid_data.recording.engine import RecorderSnapshot

OK, WARN, ERROR = 0, 1, 2


def status_line(snap: RecorderSnapshot) -> tuple[int, str]:
    """(level, message) of a snapshot, the most urgent first.

    ERROR: a write failed, the writer stopped, or the disk is nearly full. WARN: messages
    dropped or missing, little recording time left, or unfinished episodes to repair.
    """
    drops, missing = sum(snap.dropped), sum(snap.missing)
    if snap.error:
        return ERROR, snap.error
    if snap.disk.level == ERROR:
        return ERROR, snap.disk.message
    warnings = []
    if snap.disk.level == WARN:
        warnings.append(snap.disk.message)
    if drops or missing:
        warnings.append(f'{drops} messages dropped, {missing} missing by stamp gaps')
    if snap.unfinished:
        warnings.append(f'{len(snap.unfinished)} unfinished episode(s) in the session: '
                        f'{repair_command(snap.unfinished[0])}')
    if warnings:
        return WARN, '; '.join(warnings)
    return OK, snap.state
