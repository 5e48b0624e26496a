"""Style checks, as ament's linter tests do in a colcon build (flake8, pep257, xmllint)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [str(ROOT / d) for d in ('humanoid_data', 'launch', 'bench', 'test')] + [
    str(ROOT / 'setup.py')]


@pytest.mark.linter
def test_flake8():
    main_with_errors = pytest.importorskip('ament_flake8.main').main_with_errors
    rc, errors = main_with_errors(argv=['--config', str(ROOT / 'setup.cfg'), *SOURCES])
    assert rc == 0, f'{len(errors)} flake8 errors:\n' + '\n'.join(errors)


@pytest.mark.linter
def test_pep257():
    main = pytest.importorskip('ament_pep257.main').main
    assert main(argv=['--convention', 'google', str(ROOT / 'humanoid_data')]) == 0


@pytest.mark.linter
@pytest.mark.skipif(shutil.which('xmllint') is None, reason='xmllint not installed')
def test_xmllint():
    files = [ROOT / 'package.xml', *sorted((ROOT / 'config').glob('*.xml'))]
    result = subprocess.run(['xmllint', '--noout', *map(str, files)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
