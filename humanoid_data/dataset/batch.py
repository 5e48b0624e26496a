"""Convert many episode bags: find them, stage them in parallel, pack once, summarize."""

from __future__ import annotations

import ctypes
import json
import shutil
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from humanoid_data.core.contact import load_contact_config
from humanoid_data.core.phases import load_taxonomy
from humanoid_data.dataset.config import load_dataset_config
from humanoid_data.dataset.staging import SUMMARY, episode_key, stage_episode
from humanoid_data.errors import ConfigError, HumanoidDataError

FORMATS = ('lerobot', 'hdf5')
# Episodes a worker process converts before a fresh one takes over (Python 3.11+). Video
# encoders and HDF5 leave native memory behind that glibc keeps; measured on one demo
# episode converted again and again: RSS 502, 563, 621 ... 657 MB after 10.
RECYCLE_AFTER = 20


def find_episodes(sources: Sequence[str | Path]) -> list[Path]:
    """Episode folders under each source (an episode, a session, or a tree of sessions).

    Discarded episodes are skipped.

    Raises:
        ConfigError: A source does not exist.

    """
    found: list[Path] = []
    for source in map(Path, sources):
        if not source.exists():
            raise ConfigError(f'{source}: no such file or folder')
        if (source / 'metadata.yaml').is_file():
            found.append(source)
            continue
        for meta in sorted(source.rglob('metadata.yaml')):
            if 'discarded' not in meta.relative_to(source).parts:
                found.append(meta.parent)
    unique = sorted(set(found), key=lambda p: (p.parent.name, p.name, str(p)))
    return unique


@dataclass
class ConvertResult:
    """What a conversion run did."""

    converted: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    rejected: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    output: Path | None = None


def _stage_one(episode: str, staging: str, config_path: str, taxonomy_path: str,
               contact_path: str, fmt: str) -> dict[str, Any]:
    """Worker body (a separate process): stage one episode."""
    config = load_dataset_config(config_path)
    try:
        return stage_episode(Path(episode), Path(staging), config,
                             load_taxonomy(taxonomy_path), load_contact_config(contact_path),
                             fmt)
    finally:
        _release_memory()


def _release_memory() -> None:
    """Give freed native memory back to the system (glibc only; elsewhere nothing).

    After a video encode glibc holds on to ~170 MB it no longer uses; trimming brings a
    worker back near its size before the episode.
    """
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _pool(jobs: int) -> ProcessPoolExecutor:
    if sys.version_info >= (3, 11):     # workers are spawned, then replaced now and then
        return ProcessPoolExecutor(max_workers=jobs, max_tasks_per_child=RECYCLE_AFTER)
    return ProcessPoolExecutor(max_workers=jobs)


def convert(sources: Sequence[str | Path], out: Path, fmt: str, config_path: Path,
            taxonomy_path: Path, contact_path: Path, jobs: int = 1,
            on_progress: Callable[[str, str], None] = lambda episode, state: None
            ) -> ConvertResult:
    """Convert every episode found under ``sources`` into ``out`` in format ``fmt``.

    An episode already staged from the same bag and settings is reused; an episode
    that fails is reported with its reason and the others still convert.

    Raises:
        ConfigError: Unknown format, bad config files, missing sources.

    """
    if fmt not in FORMATS:
        raise ConfigError(f'unknown format {fmt!r}; choose one of {", ".join(FORMATS)}')
    config = load_dataset_config(config_path)
    load_taxonomy(taxonomy_path)
    load_contact_config(contact_path)
    episodes = find_episodes(sources)
    out.mkdir(parents=True, exist_ok=True)
    staging_root = out / '.staging' / fmt
    result = ConvertResult()
    staged: dict[Path, tuple[Path, dict[str, Any]]] = {}
    todo: list[tuple[Path, Path]] = []
    for episode in episodes:
        stage = staging_root / f'{episode.parent.name}__{episode.name}__' \
                               f'{episode_key(episode, config, fmt)}'
        if (stage / SUMMARY).is_file():
            staged[episode] = (stage, json.loads((stage / SUMMARY).read_text()))
            result.resumed.append(str(episode))
            on_progress(str(episode), 'resumed')
        else:
            shutil.rmtree(stage, ignore_errors=True)
            todo.append((episode, stage))
    args = (str(config_path), str(taxonomy_path), str(contact_path), fmt)
    if jobs <= 1:
        for episode, stage in todo:
            _collect(episode, stage, lambda e=episode, s=stage: _stage_one(
                str(e), str(s), *args), staged, result, on_progress)
    else:
        with _pool(jobs) as pool:
            futures = {pool.submit(_stage_one, str(e), str(s), *args): (e, s)
                       for e, s in todo}
            for future in as_completed(futures):
                episode, stage = futures[future]
                _collect(episode, stage, future.result, staged, result, on_progress)
    ordered = [staged[e] for e in episodes if e in staged]
    for stage, summary in ordered:
        name = f'{summary["session"]}/{summary["episode_id"]}'
        if summary['verdict'] == 'rejected':
            result.rejected[name] = summary['rejected']
        else:
            result.converted.append(name)
            if summary['verdict'] == 'flagged':
                result.flagged.append(name)
    if fmt == 'lerobot':
        from humanoid_data.dataset.lerobot import write_lerobot
        write_lerobot(out, ordered, config)
        result.output = out
    else:
        from humanoid_data.dataset.hdf5 import write_hdf5
        result.output = write_hdf5(out, ordered, config)
    return result


def _collect(episode: Path, stage: Path, run: Callable[[], dict[str, Any]],
             staged: dict[Path, tuple[Path, dict[str, Any]]], result: ConvertResult,
             on_progress: Callable[[str, str], None]) -> None:
    name = f'{episode.parent.name}/{episode.name}'
    try:
        summary = run()
    except HumanoidDataError as err:
        result.failed[name] = str(err)
        shutil.rmtree(stage, ignore_errors=True)
        on_progress(str(episode), 'failed')
        return
    except Exception as err:  # a bug or a library error must not stop the batch
        where = traceback.extract_tb(err.__traceback__)[-1]
        result.failed[name] = (f'{episode}: {type(err).__name__}: {err} '
                               f'(at {Path(where.filename).name}:{where.lineno})')
        shutil.rmtree(stage, ignore_errors=True)
        on_progress(str(episode), 'failed')
        return
    staged[episode] = (stage, summary)
    on_progress(str(episode), summary['verdict'])
