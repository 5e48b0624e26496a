"""``humanoid-data prelabel``, ``adjudicate``, ``assign`` and ``qa``: the label sets of sessions.

Each verb is a typed function that does the work (``prelabel_sessions``,
``adjudicate_sessions``, ``assign_sessions``, ``labels.qa.qa_sessions``); ``add_parsers``
only parses and reports.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import yaml
from rich.markup import escape
from rich.table import Table

from humanoid_data.bag.episode_state import require_finished
from humanoid_data.cli.console import make_console
from humanoid_data.core.contact_config import load_contact_config
from humanoid_data.core.phases import load_taxonomy
from humanoid_data.dataset.sources import find_episodes
from humanoid_data.core.yaml_file import read_yaml
from humanoid_data.errors import ConfigError, HumanoidDataError, LabelError
from humanoid_data.labels.adjudicate import (
    DEFAULT_TOLERANCE_NS, Decision, Proposal, propose, settle)
from humanoid_data.labels.assignments import load_assignments, plan, review_queue, save_plan
from humanoid_data.labels.gold import freeze_gold
from humanoid_data.labels.model import Role
from humanoid_data.labels.prelabel import PRELABEL, prelabel_episode, uncertainty
from humanoid_data.labels.qa import QaResult, qa_sessions
from humanoid_data.labels.report_html import qa_tables, write_report
from humanoid_data.labels.store import LabelStore
from humanoid_data.resources import default_contact_config, default_taxonomy


class Prelabelled(NamedTuple):
    """One episode's pre-labels as saved."""

    episode: Path
    revision: int
    phases: int
    contacts: int
    uncertainty: float


def prelabel_sessions(sources: Sequence[str | Path], taxonomy: Path, contact: Path
                      ) -> tuple[list[Prelabelled], dict[str, str]]:
    """Write the pre-labels of every finished episode under ``sources``.

    Returns:
        The episodes labelled, and the ones that failed with their reason.

    Raises:
        ConfigError: A source does not exist, or a config file is bad.

    """
    tax, contact_config = load_taxonomy(taxonomy), load_contact_config(contact)
    done, failed = [], {}
    for folder in find_episodes(sources):
        try:
            require_finished(folder)
            label_set = prelabel_episode(folder, tax, contact_config)
            revision = LabelStore(folder.parent).save(label_set, note='pre-labels')
        except HumanoidDataError as err:
            failed[str(folder)] = str(err)
            continue
        done.append(Prelabelled(folder, revision, len(label_set.phases),
                                len(label_set.contacts), uncertainty(label_set)))
    return done, failed


def _episodes(sources: Sequence[str | Path]) -> list[tuple[LabelStore, str]]:
    """(store, episode id) of every episode with label sets under ``sources``.

    A source is a session (a folder holding ``labels/``), an episode folder of one, or a
    folder of sessions; the bags themselves are not needed.

    Raises:
        ConfigError: A source does not exist.

    """
    out = []
    for source in map(Path, sources):
        if not source.exists():
            raise ConfigError(f'{source}: no such file or folder')
        if (source.parent / 'labels').is_dir() and not (source / 'labels').is_dir():
            store = LabelStore(source.parent)
            out += [(store, source.name)] if source.name in store.episodes() else []
            continue
        sessions = [source] if (source / 'labels').is_dir() else sorted(
            p.parent for p in source.rglob('labels') if p.is_dir()
            and not any(part.startswith('.') for part in p.relative_to(source).parts))
        for session in sessions:
            store = LabelStore(session)
            out += [(store, episode) for episode in store.episodes()]
    return out


def _people(store: LabelStore, episode: str, only: Sequence[str]) -> dict[str, Any]:
    sets = store.load_all(episode)
    return {who: ls for who, ls in sets.items()
            if ls.role in (Role.ANNOTATOR, Role.REVIEWER) and (not only or who in only)}


def load_decisions(path: Path | None, adjudicator: str) -> dict[str, list[Decision]]:
    """Decisions from a YAML file: ``{episode_id: [{key, value, why}, ...]}``.

    Raises:
        LabelError: The file is not such a mapping (the entry is named).

    """
    if path is None:
        return {}
    try:
        data = read_yaml(path, 'adjudication decisions')
    except ConfigError as err:
        raise LabelError(str(err)) from err
    if not isinstance(data, dict):
        raise LabelError(f'{path}: expected a mapping of episode id to decisions')
    out: dict[str, list[Decision]] = {}
    for episode, items in data.items():
        if not isinstance(items, list) or not all(
                isinstance(i, dict) and {'key', 'value'} <= set(i) for i in items):
            raise LabelError(f'{path}: {episode}: expected a list of {{key, value, why}}')
        out[str(episode)] = [Decision(str(i['key']), str(i['value']), adjudicator,
                                      str(i.get('why', ''))) for i in items]
    return out


def adjudicate_sessions(sources: Sequence[str | Path], *, annotators: Sequence[str] = (),
                        tolerance_ns: int = DEFAULT_TOLERANCE_NS,
                        decisions: dict[str, list[Decision]] | None = None,
                        save: bool = False) -> dict[str, Proposal]:
    """The consensus of every episode with at least two annotators' label sets.

    With ``save``, an episode whose questions are all answered by ``decisions`` (or has
    none) gets its adjudicated label set saved.

    Raises:
        LabelError: Sets of different taxonomy versions, or a decision that does not fit.

    """
    proposals: dict[str, Proposal] = {}
    for store, episode in _episodes(sources):
        sets = _people(store, episode, annotators)
        if len(sets) < 2:
            continue
        proposal = propose(sets, tolerance_ns)
        key = f'{store.session_dir.name}/{episode}'
        proposals[key] = proposal
        answers = (decisions or {}).get(episode, [])
        if save and len(answers) >= len(proposal.questions):
            store.save(settle(proposal, answers), note='adjudicated')
    return proposals


def _run_prelabel(args: argparse.Namespace) -> int:
    done, failed = prelabel_sessions(args.sessions, Path(args.taxonomy), Path(args.contact))
    console = make_console()
    table = Table('episode', 'revision', 'phases', 'contacts', 'uncertainty',
                  title='pre-labels')
    for item in sorted(done, key=lambda d: -d.uncertainty):
        table.add_row(str(item.episode), str(item.revision), str(item.phases),
                      str(item.contacts), f'{item.uncertainty:.3f}')
    for folder, reason in failed.items():
        table.add_row(folder, '[red]failed[/]', '', '', reason)
    console.print(table)
    return 1 if failed or not done else 0


def _run_adjudicate(args: argparse.Namespace) -> int:
    decisions = load_decisions(Path(args.decisions) if args.decisions else None,
                               args.adjudicator)
    proposals = adjudicate_sessions(
        args.sessions, annotators=[a for a in args.annotators.split(',') if a],
        tolerance_ns=int(args.tolerance_ms * 1e6), decisions=decisions, save=args.save)
    console = make_console()
    for name, proposal in proposals.items():
        console.print(f'[bold]{name}[/]: {len(proposal.label_set.phases)} phases, '
                      f'{len(proposal.label_set.contacts)} contacts agreed; '
                      f'{len(proposal.questions)} open questions')
        for q in proposal.questions:
            console.print(f'  {q.key}: proposed {q.proposal} ({q.why}); '
                          f'{"; ".join(q.options)}')
    if not proposals:
        console.print('nothing to adjudicate: no episode has two annotators\' label sets')
    if args.freeze_gold:
        for session in {Path(s) for s in args.sessions}:
            console.print(f'gold set frozen: {freeze_gold(session, args.freeze_gold)}')
    return 0 if proposals else 1


def _run_assign(args: argparse.Namespace) -> int:
    config = load_assignments(args.config)
    scores: dict[str, float] = {}
    labelled: dict[str, list[str]] = {}
    for store, episode in _episodes(args.sessions):
        sets = store.load_all(episode)
        key = f'{store.session_dir.name}/{episode}'
        # Without pre-labels nothing says how certain an episode is: it goes first.
        scores[key] = uncertainty(sets[PRELABEL]) if PRELABEL in sets else 1.0
        labelled[key] = [w for w, ls in sets.items()
                         if ls.role in (Role.ANNOTATOR, Role.REVIEWER)]
    assignments = plan(config, review_queue(scores), labelled)
    if args.save:
        stores = {store.session_dir.name: store for store, _ in _episodes(args.sessions)}
        for name, store in sorted(stores.items()):
            mine = [a for a in assignments if a.episode.split('/', 1)[0] == name]
            try:
                written = save_plan(store.root, config, mine)
            except OSError as err:
                raise LabelError(f'{store.root}: cannot save the assignments: '
                                 f'{err.strerror or err}') from err
            print(f'saved {len(mine)} assignments: {written}', file=sys.stderr)
    body = {'blind': config.blind, 'show_prelabels': config.show_prelabels,
            'assignments': [a._asdict() for a in assignments]}
    if args.json:
        print(json.dumps(body, indent=2))
    else:
        print(yaml.safe_dump(body, sort_keys=False), end='')
    return 0


def print_qa(result: QaResult) -> None:
    """Print the QA result as tables (the terminal view of ``qa``)."""
    console = make_console()
    console.print(f'[bold]annotation QA[/]: {", ".join(result.sessions) or "no session"}; '
                  f'taxonomy {result.taxonomy}; {result.label_sets} label sets compared')
    left_out = Counter((e.annotator, e.taxonomy) for e in result.excluded)
    for (annotator, taxonomy), count in sorted(left_out.items()):
        console.print(f'[yellow]left out[/]: {count} label sets of {escape(repr(annotator))} '
                      f'made under taxonomy {escape(repr(taxonomy))}, not '
                      f'{escape(repr(result.taxonomy))}')
    for title, report in result.sections():
        for text_table in qa_tables(report, title, top=10):
            if not text_table.rows:
                continue            # an audit with nothing in it
            table = Table(*text_table.headers, title=text_table.title)
            for row in text_table.rows:
                table.add_row(*map(escape, row))
            console.print(table)


def _run_qa(args: argparse.Namespace) -> int:
    result = qa_sessions(args.sessions, gold=args.gold, reference=args.reference,
                         annotators=[a for a in args.annotators.split(',') if a])
    if args.json:
        print(result.to_json_text())
    else:
        print_qa(result)
    if result.nothing_to_compare:
        print(result.nothing_to_compare, file=sys.stderr)
        return 1
    if args.report:
        print(f'report: {write_report(result, args.report)}',
              file=sys.stderr if args.json else sys.stdout)
    return 0


def add_parsers(verbs: Any) -> None:
    """Register ``prelabel``, ``adjudicate``, ``assign`` and ``qa``."""
    pre = verbs.add_parser('prelabel', help='write the automatic label set of each episode')
    pre.add_argument('sessions', nargs='+', metavar='SESSION')
    pre.add_argument('--taxonomy', default=str(default_taxonomy()))
    pre.add_argument('--contact', default=str(default_contact_config()),
                     help='contact.yaml for the offline re-detection')
    pre.set_defaults(run=_run_prelabel)
    adj = verbs.add_parser('adjudicate', help='consensus of annotators, questions left')
    adj.add_argument('sessions', nargs='+', metavar='SESSION')
    adj.add_argument('--annotators', default='', help='comma-separated (default: all)')
    adj.add_argument('--tolerance-ms', type=float, default=DEFAULT_TOLERANCE_NS / 1e6)
    adj.add_argument('--decisions', help='YAML: episode id -> [{key, value, why}]')
    adj.add_argument('--adjudicator', default='adjudicator', help='who decides')
    adj.add_argument('--save', action='store_true',
                     help='save the adjudicated set of every episode with nothing left open')
    adj.add_argument('--freeze-gold', metavar='VERSION',
                     help='then freeze the adjudicated episodes as gold set VERSION')
    adj.set_defaults(run=_run_adjudicate)
    assign = verbs.add_parser('assign', help='who labels which episode next')
    assign.add_argument('sessions', nargs='+', metavar='SESSION')
    assign.add_argument('--config', required=True, help='assignment YAML')
    assign.add_argument('--json', action='store_true')
    assign.add_argument('--save', action='store_true',
                        help='write each session\'s plan to <session>/labels/assignments.yaml; '
                             'from then on only its annotators may save labels there')
    assign.set_defaults(run=_run_assign)
    qa = verbs.add_parser('qa', help='agreement of annotators and pre-labels, scores on gold')
    qa.add_argument('sessions', nargs='+', metavar='SESSION')
    qa.add_argument('--gold', metavar='VERSION', help='also score everyone on this gold set')
    qa.add_argument('--reference', metavar='NAME',
                    help='compare everyone with this annotator (e.g. adjudicated); '
                         'default: every pair')
    qa.add_argument('--annotators', default='',
                    help='comma-separated, prelabel for the pre-labels (default: all)')
    qa.add_argument('--json', action='store_true', help='the whole result as JSON')
    qa.add_argument('--report', metavar='DIR',
                    help='write DIR/agreement.html (self-contained) and DIR/agreement.json')
    qa.set_defaults(run=_run_qa)
