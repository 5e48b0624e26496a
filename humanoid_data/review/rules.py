"""Who sees and saves what in the review workbench: the role rules.

=============  =================================================  ============================
role           sees (tracks)                                      edits (mine)
=============  =================================================  ============================
annotator      own set; pre-labels when ``show_prelabels``          own set (role annotator)
reviewer       every set (annotators, pre-labels, adjudicated)    own set (role reviewer)
adjudicator    as the reviewer                                    ``adjudicated``, with reason
=============  =================================================  ============================

``blind``, ``show_prelabels`` and ``per_episode`` come from the session's
``labels/assignments.yaml`` (written by ``assign --save``; defaults: blind, pre-labels
shown, one person per episode); its ``annotators`` are the roster: an annotator or
reviewer not on it may not save. Reviewer and adjudicator see the disagreements between
every pair of people's sets (role annotator or reviewer): boundaries further apart than
the adjudication tolerance, a phase or contact in one set only, categorical labels that
differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Mapping, Sequence

from humanoid_data.core.yaml_file import read_yaml
from humanoid_data.errors import ConfigError, LabelError
from humanoid_data.labels.adjudicate import DEFAULT_TOLERANCE_NS, propose
from humanoid_data.labels.agreement import (
    CategoricalField, choice_value, compare_contacts, match_boundaries, phase_boundaries,
    top_level_segments)
from humanoid_data.labels.model import LabelSet, LabelSource, Role, TextLabel
from humanoid_data.labels.prelabel import PRELABEL
from humanoid_data.labels.store import ADJUDICATED, ROSTER, check_name

#: Boundaries further apart than this are matched and reported as far apart (beyond it,
#: a boundary counts as one set's only).
MATCH_WINDOW_NS = 1_000_000_000
#: The people's roles: their sets count towards an episode's status and are compared.
PEOPLE = (Role.ANNOTATOR, Role.REVIEWER)


class RuleError(LabelError):
    """A role rule refuses what was asked (HTTP 403)."""


@dataclass(frozen=True)
class SessionRules:
    """A session's assignment settings (defaults when it has no assignments file)."""

    blind: bool = True
    show_prelabels: bool = True
    per_episode: int = 1
    roster: tuple[str, ...] | None = None


def _flag(data: Mapping[str, Any], key: str, default: bool, where: Path) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise LabelError(f'{where}: {key}: expected true or false, got {value!r:.40}')
    return value


def session_rules(session: Path) -> SessionRules:
    """The assignment settings of ``session`` (``labels/assignments.yaml``).

    Raises:
        LabelError: The file is damaged or a key has the wrong type (file and key named).

    """
    path = Path(session) / 'labels' / ROSTER
    if not path.is_file():
        return SessionRules()
    try:
        data = read_yaml(path, 'assignments')
    except ConfigError as err:
        raise LabelError(str(err)) from err
    if data is None:
        return SessionRules()
    if not isinstance(data, dict):
        raise LabelError(f'{path}: expected a mapping')
    names = data.get('annotators')
    if names is not None and (not isinstance(names, list)
                              or not all(isinstance(n, str) for n in names)):
        raise LabelError(f'{path}: annotators: expected a list of names')
    per_episode = data.get('per_episode', 1)
    if isinstance(per_episode, bool) or not isinstance(per_episode, int) or per_episode < 1:
        raise LabelError(f'{path}: per_episode: expected an integer >= 1, '
                         f'got {per_episode!r:.40}')
    return SessionRules(_flag(data, 'blind', True, path),
                        _flag(data, 'show_prelabels', True, path), per_episode,
                        tuple(names) if names is not None else None)


@dataclass(frozen=True)
class User:
    """The person a workbench serves: a name and a role."""

    name: str
    role: Role

    def __post_init__(self) -> None:
        """A safe name; a person's role; a name that is not a reserved set's."""
        check_name(self.name, 'annotator')
        if self.role not in (Role.ANNOTATOR, Role.REVIEWER, Role.ADJUDICATOR):
            raise LabelError(f'role {self.role.value!r}: expected annotator, reviewer or '
                             'adjudicator')
        if self.name in (ADJUDICATED, PRELABEL):
            raise LabelError(f'annotator {self.name!r} is the name of the '
                             f'{"adjudicated" if self.name == ADJUDICATED else "pre-label"} '
                             'set; choose a person\'s name')

    @property
    def set_name(self) -> str:
        """The annotator name of the set this user edits."""
        return ADJUDICATED if self.role is Role.ADJUDICATOR else self.name

    @property
    def sees_all(self) -> bool:
        """Reviewer and adjudicator see every set and the disagreements."""
        return self.role in (Role.REVIEWER, Role.ADJUDICATOR)


def people(sets: Mapping[str, LabelSet]) -> dict[str, LabelSet]:
    """The sets made by persons: role annotator or reviewer."""
    return {who: ls for who, ls in sets.items() if ls.role in PEOPLE}


def visible(user: User, rules: SessionRules, sets: Mapping[str, LabelSet]) -> list[str]:
    """Names of the sets ``user`` may see, pre-labels first, then by name."""
    if user.sees_all:
        names = list(sets)
    else:
        names = [n for n in sets if n == user.name
                 or (n == PRELABEL and rules.show_prelabels)]
    return sorted(names, key=lambda n: (n != PRELABEL, n == ADJUDICATED, n))


def check_roster(user: User, rules: SessionRules, session: str) -> None:
    """Refuse an annotator or reviewer the session's assignments do not name.

    Raises:
        RuleError: A roster exists and the user is not on it.

    """
    if rules.roster is None or user.role is Role.ADJUDICATOR or user.name in rules.roster:
        return
    raise RuleError(f'session {session}: {user.name!r} is not one of the annotators of its '
                    f'labels/{ROSTER} ({", ".join(rules.roster) or "none"})')


def check_save(user: User, rules: SessionRules, session: str, named: object,
               reason: str) -> None:
    """Whether ``user`` may save a set whose body names annotator ``named``.

    Raises:
        RuleError: The body names someone else, the user is not on the roster, or the
            adjudicator gave no reason.

    """
    if named not in (None, '', user.set_name, user.name):
        raise RuleError(f'label_set.annotator: {named!r:.40} is not you ({user.name}, '
                        f'saving {user.set_name!r}); nobody saves another\'s labels')
    check_roster(user, rules, session)
    if user.role is Role.ADJUDICATOR and not reason.strip():
        raise RuleError('reason: the adjudicator gives a reason with every save')


def decision(user: User, reason: str) -> TextLabel:
    """The decision an adjudicator's save records: ``"<name>: <reason>"``."""
    return TextLabel(f'{user.name}: {reason.strip()}', LabelSource.HUMAN)


def starting_point(user: User, rules: SessionRules, sets: Mapping[str, LabelSet],
                   empty: LabelSet) -> LabelSet:
    """What a user with nothing saved starts from.

    An annotator or reviewer: the pre-labels (when shown) as their own, else ``empty``;
    the adjudicator: the consensus proposal of the people's sets (``empty`` when there
    are none or they cannot be merged).
    """
    if user.role is Role.ADJUDICATOR:
        merged = people(sets)
        if not merged:
            return empty
        try:
            proposal = propose(merged).label_set
        except LabelError:
            return empty
        return LabelSet(empty.episode, ADJUDICATED, Role.ADJUDICATOR, proposal.taxonomy,
                        proposal.task or empty.task, proposal.phases, proposal.contacts,
                        proposal.outcome, proposal.failure_mode, proposal.verdict,
                        proposal.instructions or empty.instructions)
    pre = sets.get(PRELABEL)
    if pre is not None and (rules.show_prelabels or user.sees_all):
        return LabelSet(empty.episode, user.set_name, user.role, pre.taxonomy,
                        pre.task or empty.task, pre.phases, pre.contacts, pre.outcome,
                        pre.failure_mode, pre.verdict, pre.instructions or empty.instructions)
    return empty


@dataclass(frozen=True)
class Listing:
    """How an episode shows in a user's list."""

    status: str
    labeled_by: int
    annotators: tuple[str, ...]


def listing(user: User, rules: SessionRules, names_roles: Mapping[str, Role],
            gold: bool) -> Listing:
    """Status, count and names of the people who labelled an episode, as ``user`` may see.

    ``gold`` (in a frozen gold set), ``adjudicated``, ``labeled`` (at least
    ``per_episode`` people), ``in_progress`` (fewer), ``unlabeled``. An annotator working
    blind sees only whether they labelled it themselves.
    """
    who = tuple(sorted(n for n, r in names_roles.items() if r in PEOPLE))
    if user.role is Role.ANNOTATOR and rules.blind:
        mine = user.name in who
        return Listing('labeled' if mine else 'unlabeled', int(mine),
                       (user.name,) if mine else ())
    if gold:
        status = 'gold'
    elif ADJUDICATED in names_roles:
        status = 'adjudicated'
    elif len(who) >= rules.per_episode:
        status = 'labeled'
    else:
        status = 'in_progress' if who else 'unlabeled'
    return Listing(status, len(who), who)


@dataclass(frozen=True)
class Disagreement:
    """Where two people's sets differ (absolute stamps; None for an episode-wide label)."""

    kind: str            # phase, contact, outcome, failure_mode, verdict
    name: str
    t0_ns: int | None
    t1_ns: int | None
    between: tuple[str, str]
    detail: str


def _phase_items(a: str, sa: LabelSet, b: str, sb: LabelSet,
                 tolerance_ns: int) -> list[Disagreement]:
    out = []
    seg_a, seg_b = top_level_segments(sa), top_level_segments(sb)
    match = match_boundaries(phase_boundaries(seg_a), phase_boundaries(seg_b),
                             MATCH_WINDOW_NS / 1e6)
    for pair in match.pairs:
        gap = abs(pair.offset_ns)
        if gap > tolerance_ns:
            stamps = sorted((pair.reference.stamp_ns, pair.other.stamp_ns))
            out.append(Disagreement('phase', pair.reference.after, stamps[0], stamps[1],
                                    (a, b), f'boundary {gap / 1e6:.0f} ms apart '
                                    f'({pair.reference.before} -> {pair.reference.after})'))
    for who, bounds in ((a, match.unmatched_reference), (b, match.unmatched_other)):
        out += [Disagreement('phase', bound.after, bound.stamp_ns, bound.stamp_ns, (a, b),
                             f'boundary {bound.before} -> {bound.after} only in {who}')
                for bound in bounds]
    names_a, names_b = {s.name for s in seg_a}, {s.name for s in seg_b}
    for who, segments, others in ((a, seg_a, names_b), (b, seg_b, names_a)):
        out += [Disagreement('phase', s.name, s.begin_ns, s.end_ns, (a, b),
                             f'phase {s.name} only in {who}')
                for s in segments if s.name not in others]
    return out


def _contact_items(a: str, sa: LabelSet, b: str, sb: LabelSet,
                   tolerance_ns: int) -> list[Disagreement]:
    out = []
    (agreement,) = compare_contacts(sa, sb)
    for channel in agreement.channels:
        for pair in channel.pairs:
            errors = [('onset', pair.onset_error_ms), ('offset', pair.offset_error_ms)]
            far = [(edge, e) for edge, e in errors
                   if e is not None and abs(e) * 1e6 > tolerance_ns]
            if far:
                out.append(Disagreement(
                    'contact', channel.channel,
                    min(pair.reference.onset_ns, pair.other.onset_ns),
                    max(pair.reference.end_ns, pair.other.end_ns), (a, b),
                    ', '.join(f'{edge} {abs(e):.0f} ms apart' for edge, e in far)))
        for who, spans in ((a, channel.unmatched_reference), (b, channel.unmatched_other)):
            out += [Disagreement('contact', s.channel, s.onset_ns, s.end_ns, (a, b),
                                 f'contact only in {who}') for s in spans]
    return out


def _label_items(a: str, sa: LabelSet, b: str, sb: LabelSet) -> list[Disagreement]:
    out = []
    for label in CategoricalField:
        left, right = choice_value(sa, label), choice_value(sb, label)
        if left != right:
            out.append(Disagreement(label.value, label.value, None, None, (a, b),
                                    f'{a}: {left or "(unset)"}, {b}: {right or "(unset)"}'))
    return out


def disagreements(sets: Mapping[str, LabelSet],
                  tolerance_ns: int = DEFAULT_TOLERANCE_NS) -> list[Disagreement]:
    """Disagreements between every pair of people's sets, in time order.

    Args:
        sets: Annotator -> label set of one episode (only people's sets are compared).
        tolerance_ns: Boundaries and contact edges further apart than this differ
            (the adjudication tolerance by default).

    Returns:
        Timed disagreements by time, then the categorical ones.

    """
    chosen = people(sets)
    out: list[Disagreement] = []
    for a, b in combinations(sorted(chosen), 2):
        sa, sb = chosen[a], chosen[b]
        out += _phase_items(a, sa, b, sb, tolerance_ns)
        out += _contact_items(a, sa, b, sb, tolerance_ns)
        out += _label_items(a, sa, b, sb)
    return sorted(out, key=lambda d: (d.t0_ns is None, d.t0_ns or 0, d.kind, d.name,
                                      d.between))


def parse_role(text: str) -> Role:
    """A role given on the command line or to ``create_app``.

    Raises:
        LabelError: Not annotator, reviewer or adjudicator.

    """
    allowed: Sequence[Role] = (Role.ANNOTATOR, Role.REVIEWER, Role.ADJUDICATOR)
    for role in allowed:
        if text == role.value:
            return role
    raise LabelError(f'role {text!r:.40}: expected one of: '
                     f'{", ".join(r.value for r in allowed)}')


__all__ = ['Disagreement', 'Listing', 'RuleError', 'SessionRules', 'User', 'check_roster',
           'check_save', 'decision', 'disagreements', 'listing', 'parse_role', 'people',
           'session_rules', 'starting_point', 'visible']
