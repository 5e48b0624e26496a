"""An episode's stamp records go to a scratch file and come back whole and in order."""

from __future__ import annotations

import numpy as np

from humanoid_data.recording import figures
from humanoid_data.recording.figures import SpillFile, StampLog, TopicFigures, keep_first


def _fill(log: StampLog, n: int, first: int = 0) -> None:
    for k in range(first, first + n):
        log.append(1000 * k, 1000 * k + 7, 100 + k)


def test_records_spilled_to_the_scratch_file_come_back_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(figures, 'SPILL_RECORDS', 4)
    spill = SpillFile(tmp_path)
    a, b = StampLog(spill), StampLog(spill)
    for k in range(11):            # two topics' blocks interleave in the one file
        _fill(a, 1, k)
        _fill(b, 1, 100 + k)
    stamps, receipts, sizes = a.arrays()
    assert stamps.tolist() == [1000 * k for k in range(11)]
    assert (receipts - stamps).tolist() == [7] * 11
    assert sizes.tolist() == [100 + k for k in range(11)]
    assert b.arrays()[0].tolist() == [1000 * k for k in range(100, 111)]
    assert len(a._memory) < 4 * figures.RECORD          # the rest is in the file
    assert list(tmp_path.iterdir()) == []                # unlinked: nothing left behind
    spill.close()


def test_without_a_usable_folder_the_records_stay_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(figures, 'SPILL_RECORDS', 2)
    spill = SpillFile(tmp_path / 'gone')        # cannot make a file there
    log = StampLog(spill)
    _fill(log, 9)
    assert spill.failed
    assert log.arrays()[0].tolist() == [1000 * k for k in range(9)]


def test_a_recount_after_a_failed_write_reads_the_spilled_records(tmp_path, monkeypatch):
    monkeypatch.setattr(figures, 'SPILL_RECORDS', 3)
    fig = TopicFigures(log=StampLog(SpillFile(tmp_path)))
    for k in range(10):
        fig.add(1000 * k, 1000 * k + 5, 10, period_ns=1000)
    kept = keep_first(fig, 7, 1000)
    assert (kept.written, kept.dropped, kept.last_ns) == (7, 3, 6000)
    assert np.array_equal(kept.log.arrays()[0], np.arange(7) * 1000)
