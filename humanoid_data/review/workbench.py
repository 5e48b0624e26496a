"""What the review workbench answers, without HTTP: lists, episodes, labels and saves.

``Workbench`` serves the label sets of one or more sessions to one person in one role
(``review.rules``): the episode list in review order, the episode view of docs/review.md
(stamps relative to the episode's origin, sent once as a decimal string), revisions, and
saves through the codec's checks and ``LabelStore.save`` (append-only revisions under a
lock) after a check that ``base_revision`` is still the latest. A session, episode or
camera named by a request must be a plain file name (``labels.store.check_name``) and one
of those served before any path is built from it. Problems are ``ApiError`` with the
status codes of docs/review.md; ``review.server`` turns them into JSON over HTTP.
"""

from __future__ import annotations

import errno
import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from humanoid_data.core.phases import Taxonomy
from humanoid_data.errors import (
    ConfigError, HumanoidDataError, LabelError, UnassignedAnnotatorError)
from humanoid_data.labels.codec import (
    check_against_taxonomy, decode_label_set, encode_label_set)
from humanoid_data.labels.gold import load_gold
from humanoid_data.labels.label_file import MAX_LABEL_FILE_BYTES
from humanoid_data.labels.model import (
    OUTCOMES, SCHEMA, EpisodeRef, LabelSet, Role, TextLabel, Verdict)
from humanoid_data.labels.prelabel import PRELABEL, uncertainty
from humanoid_data.labels.store import GOLD, LabelStore, check_name
from humanoid_data.review import rules
from humanoid_data.review.clock import label_extent, label_origin, shift_stamps
from humanoid_data.review.episode_data import (
    EpisodeCache, EpisodeInfo, Summary, has_bag, read_summary)

#: The proxy cache of a session when no ``cache_dir`` is given (hidden: never an episode).
CACHE_FOLDER = '.review'
#: Largest request body taken (a label set with its envelope).
MAX_BODY_BYTES = MAX_LABEL_FILE_BYTES
_BODY_KEYS = ('base_revision', 'label_set', 'note', 'reason', 'origin_ns')
_NOT_EPISODES = {'labels', 'discarded', GOLD}
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


class ApiError(Exception):
    """An error answered as JSON with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        """Answer ``message`` with ``status``."""
        super().__init__(message)
        self.status = status
        self.message = message


def _save_status(err: BaseException) -> int:
    """507 when the disk (or quota) is full, else 500."""
    cause = err if isinstance(err, OSError) else err.__cause__
    return 507 if isinstance(cause, OSError) and cause.errno in _DISK_FULL else 500


class Workbench:
    """The served sessions, the user, and what is kept between requests."""

    def __init__(self, sessions: Sequence[Path], user: rules.User, *, token: str | None,
                 cache_dir: Path | None, taxonomy: Taxonomy) -> None:
        """Serve ``sessions`` to ``user``.

        Raises:
            ConfigError: A session folder does not exist, or two share a name.

        """
        self.sessions: dict[str, Path] = {}
        for folder in map(Path, sessions):
            if not folder.is_dir():
                raise ConfigError(f'{folder}: no such session folder')
            name = check_name(folder.resolve().name, 'session folder name')
            if name in self.sessions:
                raise ConfigError(f'{folder}: a second session named {name!r}; serve '
                                  'sessions of different names')
            self.sessions[name] = folder
        if not self.sessions:
            raise ConfigError('no session to review')
        self.user = user
        self.token = token or None
        self.cache_dir = cache_dir
        self.taxonomy = taxonomy
        self.episodes = EpisodeCache()
        self._origins: dict[tuple[str, str], int] = {}
        self._guard = threading.Lock()
        self._save_locks: dict[tuple[str, str], threading.Lock] = {}

    # -- names --------------------------------------------------------------------------

    def public(self, text: str) -> str:
        """An error text with each session's folder said as its name."""
        for name, folder in self.sessions.items():
            forms = {str(folder.resolve())} | ({str(folder)} if '/' in str(folder) else set())
            for form in sorted(forms, key=len, reverse=True):
                text = text.replace(form, name)
        return text

    def session(self, name: str) -> Path:
        """The folder of a served session.

        Raises:
            ApiError: 400 for an unsafe name, 404 for one not served.

        """
        try:
            check_name(name, 'session')
        except LabelError as err:
            raise ApiError(400, str(err)) from None
        if name not in self.sessions:
            raise ApiError(404, f'unknown session {name!r}; served: '
                                f'{", ".join(sorted(self.sessions))}')
        return self.sessions[name]

    def episode_ids(self, session: Path) -> list[str]:
        """Episodes of a session: bag folders and episodes with label sets, sorted."""
        found = set(LabelStore(session).episodes())
        try:
            children = list(session.iterdir())
        except OSError:
            children = []
        for child in children:
            name = child.name
            if name.startswith('.') or name in _NOT_EPISODES or not child.is_dir():
                continue
            try:
                check_name(name, 'episode')
            except LabelError:
                continue
            if has_bag(child):
                found.add(name)
        return sorted(found)

    def episode(self, session_name: str, episode: str) -> tuple[Path, str]:
        """A served session's folder and one of its episodes.

        Raises:
            ApiError: 400 for an unsafe name, 404 for a session or episode not served.

        """
        session = self.session(session_name)
        try:
            check_name(episode, 'episode')
        except LabelError as err:
            raise ApiError(400, str(err)) from None
        if episode not in self.episode_ids(session):
            raise ApiError(404, f'unknown episode {episode!r} of session {session_name}')
        return session, episode

    # -- episode data -------------------------------------------------------------------

    def info(self, session: Path, episode: str) -> EpisodeInfo:
        """What the bag gives (episode.yaml alone, or nothing, without a bag)."""
        folder = session / episode
        if has_bag(folder):
            return self.episodes.get(folder)
        return EpisodeInfo(folder if folder.is_dir() else None,
                           read_summary(folder) if folder.is_dir() else Summary())

    def origin(self, session: Path, episode: str, info: EpisodeInfo,
               sets: dict[str, LabelSet]) -> int:
        """The episode's origin; without a bag, the earliest label stamp when first asked.

        That one is kept for the server's life, so saving an earlier stamp never moves
        the clock under a page that is open.
        """
        if info.origin_ns is not None:
            return info.origin_ns
        key = (session.name, episode)
        with self._guard:
            if key not in self._origins:
                self._origins[key] = label_origin(sets.values()) or 0
            return self._origins[key]

    def settings(self, session: Path) -> rules.SessionRules:
        """The session's assignment settings.

        Raises:
            ApiError: 500 when its assignments file is damaged.

        """
        try:
            return rules.session_rules(session)
        except LabelError as err:
            raise ApiError(500, self.public(str(err))) from None

    def load_sets(self, store: LabelStore, episode: str) -> dict[str, LabelSet]:
        """The latest set of every annotator of the episode (500 for a damaged file)."""
        try:
            return store.load_all(episode)
        except LabelError as err:
            raise ApiError(500, self.public(str(err))) from None

    def revisions(self, store: LabelStore, episode: str, annotator: str) -> list[Any]:
        """The revisions of one set, oldest first; empty when none is saved."""
        if not store.path(episode, annotator).exists():
            return []
        try:
            return store.history(episode, annotator)
        except LabelError as err:
            raise ApiError(500, self.public(str(err))) from None

    def empty_set(self, session: Path, episode: str, info: EpisodeInfo) -> LabelSet:
        """An empty set of this user for the episode, under the taxonomy in force."""
        summary = info.summary
        return LabelSet(
            EpisodeRef(episode, session.name, summary.episode_uuid), self.user.set_name,
            self.user.role, self.taxonomy.version,
            task=summary.task or self.taxonomy.default_task,
            instructions=(TextLabel(summary.instruction),) if summary.instruction else ())

    # -- the API ------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """``GET /api/config``."""
        settings = [self.settings(s) for s in self.sessions.values()]
        task = self.taxonomy.task()
        return {
            'annotator': self.user.name, 'role': self.user.role.value,
            'blind': any(s.blind for s in settings),
            'show_prelabels': all(s.show_prelabels for s in settings),
            'outcomes': list(OUTCOMES), 'verdicts': [v.value for v in Verdict],
            'taxonomy': {
                'version': self.taxonomy.version, 'task': task.name,
                'phases': [{'name': p.name, 'description': p.description,
                            'key': str(i + 1) if i < 9 else '',
                            'subphases': list(p.subphases)}
                           for i, p in enumerate(task.phases)],
                'failure_modes': [{'name': f.name, 'description': f.description}
                                  for f in self.taxonomy.failure_modes]}}

    def _gold(self, session: Path) -> set[str]:
        folder = session / 'labels' / GOLD
        out: set[str] = set()
        for path in sorted(folder.glob('*.yaml')) if folder.is_dir() else []:
            try:
                out |= set(load_gold(path))
            except LabelError:
                continue        # a damaged gold file makes no episode gold
        return out

    def episode_list(self) -> dict[str, Any]:
        """``GET /api/episodes``: every served episode in review-queue order."""
        rows = []
        for name, session in self.sessions.items():
            settings = self.settings(session)
            gold = self._gold(session)
            store = LabelStore(session)
            for episode in self.episode_ids(session):
                sets = self.load_sets(store, episode)
                rows.append(self._row(name, session, episode, sets, settings,
                                      episode in gold))
        rows.sort(key=lambda r: (-r['uncertainty'], r['id']))
        for number, row in enumerate(rows, 1):
            row['queue'] = number
        return {'episodes': rows}

    def _row(self, name: str, session: Path, episode: str, sets: dict[str, LabelSet],
             settings: rules.SessionRules, gold: bool) -> dict[str, Any]:
        folder = session / episode
        summary = read_summary(folder) if folder.is_dir() else Summary()
        seen = rules.listing(self.user, settings, {n: ls.role for n, ls in sets.items()},
                             gold)
        duration = summary.duration_s
        if duration is None and summary.start_ns is not None and summary.stop_ns is not None:
            duration = (summary.stop_ns - summary.start_ns) / 1e9
        if duration is None:
            first, last = label_origin(sets.values()), label_extent(sets.values())
            duration = (last - first) / 1e9 if first is not None and last is not None else 0.0
        first_set = next(iter(sets.values()), None)
        return {
            'id': f'{name}/{episode}', 'session': name, 'episode': episode,
            'task': summary.task or (first_set.task if first_set else ''),
            'operator': summary.operator, 'outcome': summary.outcome,
            'duration_s': round(duration, 3), 'status': seen.status,
            'labeled_by': seen.labeled_by, 'annotators': list(seen.annotators), 'queue': 0,
            'uncertainty': uncertainty(sets[PRELABEL]) if PRELABEL in sets else 1.0,
            'flags': list(summary.flags), 'sync_level': summary.sync_level}

    def _relative(self, label_set: LabelSet, origin: int) -> Any:
        return shift_stamps(encode_label_set(label_set), -origin)

    def episode_view(self, session_name: str, episode: str) -> dict[str, Any]:
        """``GET /api/episodes/{session}/{episode}``."""
        session, episode = self.episode(session_name, episode)
        store = LabelStore(session)
        sets = self.load_sets(store, episode)
        info = self.info(session, episode)
        origin = self.origin(session, episode, info, sets)
        duration = info.duration_ns
        if duration is None:
            last = label_extent(sets.values())
            duration = max(0, last - origin) if last is not None else 0
        settings = self.settings(session)
        base = f'/api/episodes/{session_name}/{episode}'
        tracks = [{'annotator': who, 'role': sets[who].role.value,
                   'revision': len(self.revisions(store, episode, who)),
                   'label_set': self._relative(sets[who], origin)}
                  for who in rules.visible(self.user, settings, sets)]
        mine_name = self.user.set_name
        if mine_name in sets:
            mine_revision, mine = len(self.revisions(store, episode, mine_name)), sets[mine_name]
        else:
            mine_revision = 0
            mine = rules.starting_point(self.user, settings, sets,
                                        self.empty_set(session, episode, info))
        found = rules.disagreements(sets) if self.user.sees_all else []
        summary = info.summary
        return {
            'id': f'{session_name}/{episode}', 'session': session_name, 'episode': episode,
            'origin_ns': str(origin), 'duration_ns': duration,
            'task': summary.task or mine.task, 'instruction': summary.instruction,
            'operator': summary.operator, 'outcome': summary.outcome,
            'flags': list(summary.flags), 'sync_level': summary.sync_level,
            'cameras': [{'name': c.name, 'topic': c.topic, 'fps': c.fps,
                         'frames': len(c.stamps_ns),
                         'stamps_ns': [s - origin for s in c.stamps_ns],
                         'video': f'{base}/video/{c.name}'} for c in info.cameras],
            'signals': [{'name': s.name, 'group': s.group, 'unit': s.unit,
                         't_ns': [int(t) - origin for t in s.t_ns.tolist()],
                         'values': [round(v, 6) for v in s.values.tolist()]}
                        for s in info.signals],
            'events': [{'kind': e.kind, 't_ns': e.stamp_ns - origin, 'text': e.text}
                       for e in info.events],
            'tracks': tracks,
            'disagreements': [{'kind': d.kind, 'name': d.name,
                               't0_ns': None if d.t0_ns is None else d.t0_ns - origin,
                               't1_ns': None if d.t1_ns is None else d.t1_ns - origin,
                               'between': list(d.between), 'detail': d.detail}
                              for d in found],
            'mine': {'annotator': mine_name, 'revision': mine_revision,
                     'label_set': self._relative(mine, origin)},
            'problems': [self.public(p) for p in info.problems]}

    def prebuild(self, stop: threading.Event | None = None) -> list[str]:
        """Make every camera's proxy ahead of time, in review-queue order.

        Run in a background thread by the command, so an episode opened later finds its
        videos cached; a proxy being built when the page asks for it is waited for, not
        built twice (``make_proxy`` holds a lock). Stops between proxies when ``stop`` is
        set.

        Returns:
            One message per proxy that could not be made (the page reports it too).

        """
        from humanoid_data.review.proxy import camera_streams, make_proxy
        problems: list[str] = []
        for row in self.episode_list()['episodes']:
            # The cameras from metadata.yaml and the suite: the episode's data is not read
            # here, so the in-memory cache keeps what the person opens.
            session, episode = self.episode(row['session'], row['episode'])
            try:
                cameras = camera_streams(session / episode) if has_bag(session / episode) \
                    else []
                for camera in cameras:
                    if stop is not None and stop.is_set():
                        return problems
                    make_proxy(session / episode, camera.name, self.proxy_cache(session))
            except HumanoidDataError as err:
                problems.append(f'{row["id"]}: {self.public(str(err))}')
        return problems

    def proxy_cache(self, session: Path) -> Path:
        """Where the proxies of ``session`` are kept."""
        return self.cache_dir / session.name if self.cache_dir else session / CACHE_FOLDER

    def video(self, session_name: str, episode: str, camera: str) -> Any:
        """The proxy of a camera (made now when it is not cached)."""
        session, episode = self.episode(session_name, episode)
        try:
            check_name(camera, 'camera')
        except LabelError as err:
            raise ApiError(400, str(err)) from None
        info = self.info(session, episode)
        if camera not in {c.name for c in info.cameras}:
            known = ', '.join(c.name for c in info.cameras) or 'none'
            raise ApiError(404, f'unknown camera {camera!r} of {session_name}/{episode}; '
                                f'cameras: {known}')
        from humanoid_data.review.proxy import make_proxy
        try:
            return make_proxy(session / episode, camera, self.proxy_cache(session))
        except HumanoidDataError as err:
            raise ApiError(_save_status(err), self.public(str(err))) from None

    def labels(self, session_name: str, episode: str, revision: str | None) -> dict[str, Any]:
        """``GET .../labels[?revision=k]``: a revision of this user's set."""
        session, episode = self.episode(session_name, episode)
        store = LabelStore(session)
        name = self.user.set_name
        history = self.revisions(store, episode, name)
        if not history:
            raise ApiError(404, f'no labels of {name!r} saved for {session_name}/{episode}')
        number = len(history)
        if revision is not None:
            try:
                number = int(revision)
            except ValueError:
                raise ApiError(400, f'revision: expected an integer, got {revision!r:.40}'
                               ) from None
            if not 1 <= number <= len(history):
                raise ApiError(404, f'revision: {name!r} of {session_name}/{episode} has '
                                    f'revisions 1..{len(history)}, not {number}')
        try:
            label_set = store.load(episode, name, number)
        except LabelError as err:
            raise ApiError(500, self.public(str(err))) from None
        info = self.info(session, episode)
        origin = self.origin(session, episode, info, self.load_sets(store, episode))
        entry = history[number - 1]
        return {'revision': entry.revision, 'saved_at': entry.saved_at, 'note': entry.note,
                'label_set': self._relative(label_set, origin)}

    def history(self, session_name: str, episode: str) -> dict[str, Any]:
        """``GET .../labels/history``: this user's revisions, oldest first."""
        session, episode = self.episode(session_name, episode)
        return {'revisions': [{'revision': r.revision, 'saved_at': r.saved_at,
                               'note': r.note} for r in
                              self.revisions(LabelStore(session), episode,
                                             self.user.set_name)]}

    def _save_lock(self, session: str, episode: str) -> threading.Lock:
        with self._guard:
            return self._save_locks.setdefault((session, episode), threading.Lock())

    def save(self, session_name: str, episode: str, body: bytes) -> dict[str, Any]:
        """``PUT .../labels``: a new revision of this user's set."""
        session, episode = self.episode(session_name, episode)
        request = _parse_body(body)
        settings = self.settings(session)
        raw = request['label_set']
        reason = request['reason']
        try:
            rules.check_save(self.user, settings, session_name, raw.get('annotator'), reason)
        except rules.RuleError as err:
            raise ApiError(403, str(err)) from None
        store = LabelStore(session)
        info = self.info(session, episode)
        origin = self.origin(session, episode, info, self.load_sets(store, episode))
        if request['origin_ns'] is not None and request['origin_ns'] != str(origin):
            raise ApiError(409, f'origin_ns: the page has {request["origin_ns"]!r:.40}, the '
                                f'episode {session_name}/{episode} is at {origin}: reload')
        label_set = self._decode(raw, session_name, episode, info, origin)
        if self.user.role is Role.ADJUDICATOR:
            label_set = replace(label_set, decisions=label_set.decisions
                                + (rules.decision(self.user, reason),))
        name = self.user.set_name
        with self._save_lock(session_name, episode):
            latest = len(self.revisions(store, episode, name))
            if request['base_revision'] != latest:
                raise ApiError(409, f'base_revision: {name!r} of {session_name}/{episode} '
                                    f'is at revision {latest}, not '
                                    f'{request["base_revision"]}: it changed since it was '
                                    'loaded (another tab?); reload it')
            try:
                number = store.save(label_set, note=request['note'])
            except (rules.RuleError, UnassignedAnnotatorError) as err:
                raise ApiError(403, self.public(str(err))) from None
            except (LabelError, OSError) as err:
                status = _save_status(err)
                raise ApiError(status, self.public(str(err)) + (
                    f'; nothing was saved, revision {latest} is intact' if latest else
                    '; nothing was saved')) from None
            saved = self.revisions(store, episode, name)
        return {'revision': number, 'saved_at': saved[number - 1].saved_at}

    def _decode(self, raw: dict[str, Any], session: str, episode: str, info: EpisodeInfo,
                origin: int) -> LabelSet:
        data = dict(raw)
        data.setdefault('schema', SCHEMA)
        ref = data.get('episode')
        uuid = ref.get('episode_uuid') if isinstance(ref, dict) else None
        data['episode'] = {'episode_id': episode, 'session': session,
                           'episode_uuid': uuid if isinstance(uuid, str) and uuid
                           else info.summary.episode_uuid}
        data['annotator'] = self.user.set_name
        data['role'] = self.user.role.value
        where = f'{session}/{episode}: label_set'
        try:
            label_set = decode_label_set(shift_stamps(data, origin), where)
        except LabelError as err:
            raise ApiError(400, str(err)) from None
        if label_set.taxonomy == self.taxonomy.version:
            problems = check_against_taxonomy(label_set, self.taxonomy)
            if problems:
                raise ApiError(400, f'{where}: {"; ".join(problems)}')
        return label_set


def _parse_body(body: bytes) -> dict[str, Any]:
    """The PUT body, each field checked (``base_revision``, ``label_set``, ...).

    Raises:
        ApiError: 400 naming the field.

    """
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(400, f'request body of {len(body)} bytes exceeds {MAX_BODY_BYTES}')
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:
        raise ApiError(400, f'request body is not JSON: {err}') from None
    if not isinstance(data, dict):
        raise ApiError(400, 'request body: expected an object with base_revision and '
                            'label_set')
    unknown = sorted(str(k) for k in data if k not in _BODY_KEYS)
    if unknown:
        raise ApiError(400, f'request body: unknown key {unknown[0]!r:.40}; allowed: '
                            f'{", ".join(_BODY_KEYS)}')
    base = data.get('base_revision')
    if not isinstance(base, int) or isinstance(base, bool) or base < 0:
        raise ApiError(400, f'base_revision: expected the integer revision the label set '
                            f'was loaded at (0 when none was saved), got {base!r:.40}')
    if not isinstance(data.get('label_set'), dict):
        raise ApiError(400, f'label_set: expected an object, got '
                            f'{data.get("label_set")!r:.40}')
    for key in ('note', 'reason'):
        if not isinstance(data.get(key, ''), str):
            raise ApiError(400, f'{key}: expected text, got {data.get(key)!r:.40}')
    origin = data.get('origin_ns')
    if origin is not None and not isinstance(origin, str):
        raise ApiError(400, f'origin_ns: expected a decimal string, got {origin!r:.40}')
    return {'base_revision': base, 'label_set': data['label_set'],
            'note': data.get('note', ''), 'reason': data.get('reason', ''),
            'origin_ns': origin}


def _no_constant(name: str) -> float:
    raise ValueError(f'{name} is not a number a label set may hold')


__all__ = ['ApiError', 'CACHE_FOLDER', 'MAX_BODY_BYTES', 'Workbench']
