"""Type checks: mypy strict on the ROS-free core, the recorder and the bag tools; defaults else.

The settings live in setup.cfg ([mypy]). Annotations that mypy cannot check are comments,
not contracts: this keeps them honest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STRICT = ('core', 'recording', 'bag')


def _mypy(*args: str) -> tuple[str, int]:
    api = pytest.importorskip('mypy.api')
    out, err, status = api.run(['--config-file', str(ROOT / 'setup.cfg'),
                                '--no-error-summary', *args])
    return out + err, status


@pytest.mark.linter
def test_core_recording_and_bag_are_strictly_typed():
    report, status = _mypy('--strict', *(str(ROOT / 'humanoid_data' / p) for p in STRICT))
    assert status == 0, report


@pytest.mark.linter
def test_the_whole_package_type_checks():
    report, status = _mypy(str(ROOT / 'humanoid_data'))
    assert status == 0, report
