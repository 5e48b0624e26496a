"""The episodes a conversion reads: found, identified, checked before use.

An episode is a bag: an episode folder of the recorder, a rosbag2 folder of another
recorder (MCAP or SQLite3), or one bag file (``.mcap``, ``.db3``, ROS 1 ``.bag``). Every
folder that looks like an episode (``metadata.yaml``, or MCAP files beside
``episode.yaml`` or named after the folder) is found, so one whose recorder died before
writing the metadata is reported rather than invisible; other bag files in a folder
are episodes of their own. Each gets a source id that stays with its rows
(``episode_uuid`` from episode.yaml, or a hash of the bag's own bytes), its path
relative to the source argument, and a name in the run's report that no other episode
shares.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import NamedTuple, Sequence

from humanoid_data.bag.any_bag import BAG_FILE_SUFFIXES, describe, is_bag_file
from humanoid_data.bag.metadata import (
    ANY_STORAGE, BAG_METADATA, EPISODE_YAML, check_bag_metadata, read_episode_yaml)
from humanoid_data.bag.verify import verify_bag
from humanoid_data.errors import BagError, ConfigError

DISCARDED = 'discarded'
HEAD_BYTES = 4096       # of each MCAP file, in the hash that identifies a bag
VERIFIED = 'ok'
NOT_VERIFIED = 'no checksums'


class EpisodeSource(NamedTuple):
    """One episode folder of a conversion run."""

    folder: Path
    path: str           # relative to the source argument it was found under
    source_id: str      # episode_uuid, or 16 hex of the bag's hash
    name: str           # session/episode, unique in the run
    labels: str = ''    # GivenLabels as JSON: what to fill in where the bag names nothing


def _looks_like_episode(folder: Path) -> bool:
    """Whether ``folder`` is one bag (else its bag files are bags of their own).

    It is with ``metadata.yaml``, or with MCAP files beside ``episode.yaml`` or named
    after the folder as rosbag2 and the recorder name them (metadata never written).
    """
    mcaps = list(folder.glob('*.mcap'))
    return (folder / BAG_METADATA).is_file() or bool(mcaps) and (
        (folder / EPISODE_YAML).is_file() or any(m.name.startswith(folder.name) for m in mcaps))


def _episodes_in(folder: Path) -> list[Path]:
    """The episode ``folder`` is, or the loose bag files it holds."""
    if _looks_like_episode(folder):
        return [folder]
    return sorted(p for p in folder.iterdir() if is_bag_file(p))


def _found_under(source: Path) -> list[Path]:
    if source.is_file():
        if not is_bag_file(source):
            raise ConfigError(f'{source}: not a bag (a bag file ends in '
                              f'{", ".join(BAG_FILE_SUFFIXES)}, else give its folder)')
        return [source]
    folders = {source} | {p.parent for p in source.rglob('*')    # one walk of the tree
                          if p.suffix in BAG_FILE_SUFFIXES or p.name == BAG_METADATA}
    # A rosbag2 folder's files are its own, not episodes; hidden folders hold an
    # episode's kept original or a repair in progress.
    bags = {f for f in folders if (f / BAG_METADATA).is_file()}
    found = [e for f in folders if not (bags & set(f.parents)) for e in _episodes_in(f)]
    return [c for c in found if DISCARDED not in c.relative_to(source).parts
            and not any(part.startswith('.') for part in c.relative_to(source).parts)]


def find_episodes(sources: Sequence[str | Path]) -> list[Path]:
    """Episode folders under each source (an episode, a session, or a tree of sessions).

    A folder with ``metadata.yaml`` or an MCAP file is an episode, finished or not.
    Discarded episodes (under ``discarded/``) are skipped: the operator threw them away;
    so are hidden folders (``.original/`` after a repair, ``.repair/``, ``.staging/``).

    Raises:
        ConfigError: A source does not exist.

    """
    return [s.folder for s in describe_sources(sources)]


def describe_sources(sources: Sequence[str | Path]) -> list[EpisodeSource]:
    """The episodes under ``sources`` in (session, episode) order, identified and named.

    Raises:
        ConfigError: A source does not exist.

    """
    where: dict[Path, str] = {}
    for source in map(Path, sources):
        if not source.exists():
            raise ConfigError(f'{source}: no such file or folder')
        for folder in _found_under(source):
            relative = folder.relative_to(source).as_posix()
            where.setdefault(folder, relative if relative != '.' else
                             f'{folder.parent.name}/{folder.name}')
    ordered = sorted(where, key=lambda p: (p.parent.name, p.name, str(p)))
    ids = {folder: source_id(folder) for folder in ordered}
    base = {folder: f'{folder.parent.name}/{folder.name}' for folder in ordered}
    shared = Counter(base.values())
    names: dict[Path, str] = {}
    for folder in ordered:
        name = base[folder] if shared[base[folder]] == 1 else f'{base[folder]}@{ids[folder]}'
        count, unique = 1, name
        while unique in names.values():      # identical copies: same names, same ids
            count += 1
            unique = f'{name}#{count}'
        names[folder] = unique
    return [EpisodeSource(f, where[f], ids[f], names[f]) for f in ordered]


def source_id(folder: Path) -> str:
    """The id that identifies an episode's bag wherever it is copied.

    ``episode_uuid`` from episode.yaml when it has one; else the first 16 hex digits of
    sha256 over ``metadata.yaml`` and each MCAP file's size and first 4 KiB. Never
    raises: a damaged file counts as its bytes (or as missing) and fails later, named.
    """
    try:
        meta = read_episode_yaml(folder)
    except BagError:
        meta = None
    if meta is not None and meta.episode_uuid:
        return meta.episode_uuid
    digest = hashlib.sha256()
    try:
        digest.update((folder / BAG_METADATA).read_bytes())
    except OSError:
        digest.update(b'no metadata')
    files = [folder] if folder.is_file() else [
        p for p in folder.iterdir() if p.suffix in BAG_FILE_SUFFIXES]
    for mcap in sorted(files):
        try:
            with mcap.open('rb') as f:
                digest.update(f'{mcap.name}:{mcap.stat().st_size}:'.encode())
                digest.update(f.read(HEAD_BYTES))
        except OSError:
            digest.update(f'{mcap.name}: unreadable'.encode())
    return digest.hexdigest()[:16]


def verify_source(folder: Path, shown: int = 2) -> tuple[str, list[str]]:
    """Check the bag's checksums; return ``ok`` or ``no checksums``, and the notes.

    Only the MCAP files ``metadata.yaml`` lists are the bag (another file beside them is
    not read by the conversion either). SQLite3 and ROS 1 bags carry no checksums.

    Raises:
        BagError: ``metadata.yaml`` is damaged, or a chunk or index does not match its
            checksum or is damaged, naming the file, the byte, the chunk's topics and time
            range (the first ``shown`` problems).

    """
    files = [folder] if folder.is_file() else [
        folder / name for name in check_bag_metadata(folder, storages=ANY_STORAGE)]
    unverifiable = [f for f in files if f.suffix != '.mcap']
    if unverifiable:
        return NOT_VERIFIED, [f'{describe(folder)} ({unverifiable[0].suffix} storage): no '
                              'checksums to verify']
    reports = [verify_bag(path) for path in files]
    problems = [p for r in reports for p in r.problems]
    if problems:
        more = len(problems) - shown
        text = '; '.join(p.describe() for p in problems[:shown])
        raise BagError(f'{folder}: damaged bag: {text}' +
                       (f' (and {more} more problems)' if more > 0 else ''))
    chunks = sum(r.chunks for r in reports)
    complete = chunks > 0 and sum(r.checksummed for r in reports) == chunks
    return (VERIFIED if complete else NOT_VERIFIED), [n for r in reports for n in r.notes]


def discarded_under(sources: Sequence[str | Path]) -> int:
    """How many discarded episode folders the sources hold (skipped by a conversion)."""
    count = 0
    for source in map(Path, sources):
        folders = {p.parent for p in source.rglob(BAG_METADATA)} if source.is_dir() else set()
        count += sum(DISCARDED in f.relative_to(source).parts for f in folders)
    return count
