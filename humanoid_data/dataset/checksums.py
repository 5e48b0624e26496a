"""Checksums of a converted dataset's own files, written when packing, checked by validate.

LeRobot: ``meta/humanoid_data_checksums.json`` lists the sha256 and size of every file
under ``data/``, ``videos/``, ``meta/`` and ``humanoid_data/`` (except itself). HDF5: the
sidecar ``<file>.sha256.json`` beside ``dataset.hdf5`` (a file cannot hold its own hash).
``validate`` recomputes them and names every file whose bytes changed, that went missing,
or that appeared in those folders since.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MANIFEST = 'meta/humanoid_data_checksums.json'
LEROBOT_FOLDERS = ('data', 'videos', 'meta', 'humanoid_data')
ALGORITHM = 'sha256'
_BLOCK = 1 << 20


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read a block at a time."""
    digest = hashlib.sha256()
    with path.open('rb') as f:
        for block in iter(lambda: f.read(_BLOCK), b''):
            digest.update(block)
    return digest.hexdigest()


def _dataset_files(root: Path) -> list[str]:
    files = [p for folder in LEROBOT_FOLDERS if (root / folder).is_dir()
             for p in (root / folder).rglob('*') if p.is_file()]
    names = sorted(p.relative_to(root).as_posix() for p in files)
    return [name for name in names if name != MANIFEST]


def write_manifest(root: Path) -> Path:
    """Write the LeRobot dataset's checksum manifest; return its path."""
    files = {name: {ALGORITHM: sha256_of(root / name), 'bytes': (root / name).stat().st_size}
             for name in _dataset_files(root)}
    path = root / MANIFEST
    path.write_text(json.dumps({'algorithm': ALGORITHM, 'files': files}, indent=1))
    return path


def _read(path: Path, shown: str) -> tuple[dict, list[str]]:
    if not path.is_file():
        return {}, [f'{shown}: missing (no checksums to check the files against)']
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
        files = data['files'] if isinstance(data, dict) and data.get('algorithm') == \
            ALGORITHM else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError):
        files = None
    if not isinstance(files, dict) or not all(
            isinstance(v, dict) and isinstance(v.get(ALGORITHM), str) for v in files.values()):
        return {}, [f'{shown}: damaged (not a checksum list)']
    return files, []


def check_manifest(root: Path) -> list[str]:
    """Problems of a LeRobot dataset's files against its manifest (empty when all match)."""
    files, problems = _read(root / MANIFEST, MANIFEST)
    if problems:
        return problems
    present = set(_dataset_files(root))
    for name, entry in files.items():
        if name not in present:
            problems.append(f'{name}: missing (listed in {MANIFEST})')
        elif sha256_of(root / name) != entry[ALGORITHM]:
            problems.append(f'{name}: its bytes changed since it was written '
                            f'({ALGORITHM} differs from {MANIFEST})')
    for name in sorted(present - set(files)):
        problems.append(f'{name}: not written by the converter (not in {MANIFEST})')
    return problems


def sidecar_of(path: Path) -> Path:
    """The checksum sidecar of an HDF5 dataset file."""
    return path.with_name(path.name + f'.{ALGORITHM}.json')


def write_file_checksum(path: Path) -> Path:
    """Write the sidecar of one file; return its path."""
    sidecar = sidecar_of(path)
    sidecar.write_text(json.dumps({'algorithm': ALGORITHM, 'files': {path.name: {
        ALGORITHM: sha256_of(path), 'bytes': path.stat().st_size}}}, indent=1))
    return sidecar


def check_file_checksum(path: Path) -> list[str]:
    """Problems of one file against its sidecar (empty when it matches)."""
    sidecar = sidecar_of(path)
    files, problems = _read(sidecar, str(sidecar))
    if problems:
        return problems
    entry = files.get(path.name)
    if entry is None:
        return [f'{sidecar}: does not list {path.name}']
    if sha256_of(path) != entry[ALGORITHM]:
        return [f'{path}: its bytes changed since it was written ({ALGORITHM} differs from '
                f'{sidecar.name})']
    return []
