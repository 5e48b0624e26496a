"""The strict YAML reader every config file of the project goes through.

``read_yaml`` checks the size before reading, then ``parse_yaml_text`` walks the parser's
events once to bound nesting and alias expansion and refuse duplicate keys, before a safe
loader builds the document. Syntax and value errors name the line and column; every
failure is a ``ConfigError`` naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from humanoid_data.core.checks import short_repr
from humanoid_data.errors import ConfigError

#: A config file larger than this is refused before it is read whole (a 50 MB suite took
#: 68 s and 550 MB to parse); the largest accepted loads in a few seconds.
MAX_CONFIG_BYTES = 1 << 20
#: Deepest nesting of mappings and lists, aliases expanded (the suite needs 4).
MAX_CONFIG_DEPTH = 32
#: Most nodes a document may hold once every alias is expanded ("billion laughs").
MAX_CONFIG_NODES = 1_000_000

#: libyaml parses about 30 times faster than the pure-Python parser, when it is installed.
_LIBYAML = hasattr(yaml, 'CSafeLoader')
_SafeLoader: type = yaml.CSafeLoader if _LIBYAML else yaml.SafeLoader
_RESOLVER = yaml.resolver.Resolver()
_MERGE_TAG = 'tag:yaml.org,2002:merge'


class _ConfigLoader(_SafeLoader):  # type: ignore[misc]
    """Safe loader whose value errors (a bad date, a 5000-digit int, `!!bool x`) name the line."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as err:
            raise ConstructorError(None, None, str(err), node.start_mark) from err
        except (TypeError, AttributeError, KeyError, IndexError) as err:   # '!!bool x', '!!int'
            kind = str(node.tag).rsplit(':', 1)[-1]
            raise ConstructorError(None, None, f'not a valid {kind}', node.start_mark) from err


@dataclass
class _Collection:
    """A mapping or list still open in the event stream."""

    anchor: str | None
    is_mapping: bool
    first_value: int      # values counted before it, itself included
    height: int = 0
    children: int = 0
    keys: set[tuple[str, str]] = field(default_factory=set)


_START_EVENTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_END_EVENTS = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def _check_events(text: str) -> None:
    """Refuse nesting, alias bombs and duplicate keys before anything is built.

    Aliases share one Python object, so loading a "billion laughs" document is cheap, but
    walking it (the checks, the digest) is not. One pass over the parser's events (no
    recursion, linear in the file) counts the values with every alias expanded and
    refuses more than ``MAX_CONFIG_NODES`` of them, nesting deeper than
    ``MAX_CONFIG_DEPTH``, an alias inside the node it names and a second document (without
    reading on through 40,000 more). The composer, which is recursive, only ever sees
    documents that passed.
    """
    open_: list[_Collection] = []
    anchors: dict[str, tuple[int, int]] = {}   # anchor -> values and height it stands for
    total = 0
    document = None
    events: Iterator[Any] = yaml.parse(text, Loader=_SafeLoader)   # C or Python events
    for event in events:
        kind = type(event)
        if kind is yaml.DocumentStartEvent:   # stop at a second one, as the composer would
            if document is not None:
                raise ComposerError('expected a single document in the stream',
                                    document.start_mark, 'but found another document',
                                    event.start_mark)
            document = event
            continue
        if kind in _END_EVENTS:
            done = open_.pop()
            if done.anchor is not None:
                anchors[done.anchor] = (total - done.first_value + 1, done.height)
            if open_:
                open_[-1].height = max(open_[-1].height, done.height + 1)
            continue
        size, height = 1, 0
        if kind is yaml.AliasEvent:
            if any(c.anchor == event.anchor for c in open_):
                _refuse(event, f'alias *{event.anchor} is inside the node it names')
            size, height = anchors.get(event.anchor, (1, 0))  # undefined: the composer says
        elif kind is not yaml.ScalarEvent and kind not in _START_EVENTS:
            continue
        total += size
        if total > MAX_CONFIG_NODES:
            _refuse(event, f'more than {MAX_CONFIG_NODES} values once aliases are expanded')
        if len(open_) + height > MAX_CONFIG_DEPTH:
            expanded = ' once aliases are expanded' if height else ''
            _refuse(event, f'nested deeper than {MAX_CONFIG_DEPTH} levels{expanded}')
        if open_:
            _add_child(open_[-1], event, height)
        if kind in _START_EVENTS:
            open_.append(_Collection(event.anchor, kind is yaml.MappingStartEvent, total))
        elif kind is yaml.ScalarEvent and event.anchor is not None:
            anchors[event.anchor] = (1, 0)


def _add_child(parent: _Collection, event: Any, height: int) -> None:
    """Count a value into its collection; a mapping's scalar key must be new."""
    if parent.is_mapping and not parent.children % 2 and type(event) is yaml.ScalarEvent:
        tag = event.tag if event.tag not in (None, '!') else _RESOLVER.resolve(
            yaml.ScalarNode, event.value, event.implicit)
        if tag != _MERGE_TAG and (tag, event.value) in parent.keys:
            _refuse(event, f'duplicate key {event.value!r}')
        parent.keys.add((tag, event.value))
    parent.children += 1
    parent.height = max(parent.height, height + 1)


def _refuse(event: Any, problem: str) -> None:
    raise ComposerError(None, None, problem, event.start_mark)


def _yaml_problem(err: yaml.YAMLError, text: str) -> str:
    """Where and what: `` at line 3, column 9: mapping values are not allowed here``."""
    if isinstance(err, yaml.reader.ReaderError):
        # libyaml counts UTF-8 bytes, the pure-Python reader characters
        before = (text.encode()[:err.position].decode(errors='ignore') if _LIBYAML
                  else text[:err.position])
        line, column = before.count('\n') + 1, len(before) - before.rfind('\n')
        return (f' at line {line}, column {column}: unacceptable character '
                f'#x{err.character:04x}: {err.reason}')
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        where = f' at line {mark.line + 1}, column {mark.column + 1}' if mark else ''
        problem = err.problem or err.context or 'malformed'
        context = f' ({err.context})' if err.context and err.problem else ''
        return f'{where}: {problem}{context}'
    return f': {err}'


def parse_yaml_text(text: str, source: str) -> object:
    """Parse one YAML document held in a string; an error names ``source`` and the line.

    Raises:
        ConfigError: Longer than ``MAX_CONFIG_BYTES``, not YAML, a duplicate key, nested
            deeper than ``MAX_CONFIG_DEPTH`` or more than ``MAX_CONFIG_NODES`` values
            once aliases are expanded.

    """
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f'{source}: {len(text)} characters; config text is limited to '
                          f'{MAX_CONFIG_BYTES} (1 MiB)')
    loader = None
    try:
        text.encode()
        _check_events(text)
        loader = _ConfigLoader(text)
        return loader.get_single_data()
    except UnicodeEncodeError as err:
        raise ConfigError(f'{source}: not text: {err.reason}') from None
    except yaml.YAMLError as err:
        raise ConfigError(f'{source}: not valid YAML{_yaml_problem(err, text)}') from err
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml(path: str | Path, what: str) -> object:
    """Read a YAML file; a failure names the file and what it should have held.

    The size is checked before the file is read, and at most ``MAX_CONFIG_BYTES + 1``
    bytes are read (a pipe or device reports no size).

    Raises:
        ConfigError: The file cannot be read, is larger than ``MAX_CONFIG_BYTES``, is not
            UTF-8 text, or is not YAML (naming the line and column).

    """
    path = Path(path)
    try:
        with path.open('rb') as stream:
            size = os.fstat(stream.fileno()).st_size
            data = b'' if size > MAX_CONFIG_BYTES else stream.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise ConfigError(f'{path}: cannot read {what}: {err.strerror or err}') from err
    if size > MAX_CONFIG_BYTES or len(data) > MAX_CONFIG_BYTES:
        shown = f'{size} bytes' if size > MAX_CONFIG_BYTES else f'over {MAX_CONFIG_BYTES} bytes'
        raise ConfigError(f'{path}: {what} is {shown}; config files are limited to '
                          f'{MAX_CONFIG_BYTES} bytes (1 MiB)')
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as err:
        line = data.count(b'\n', 0, err.start) + 1
        raise ConfigError(f'{path}: {what} is not UTF-8 text (byte 0x{data[err.start]:02x} '
                          f'at line {line})') from None
    return parse_yaml_text(text, str(path))


def parse_yaml_mapping(text: str, source: str, expected: str) -> dict[Any, Any]:
    """A YAML mapping given as text (a ROS parameter); empty or only comments: ``{}``.

    Raises:
        ConfigError: Not YAML (``parse_yaml_text``), or not a mapping: the message says
            ``source: expected <expected>``.

    """
    if not text.strip():
        return {}
    data = parse_yaml_text(text, source)
    if data is None:        # only comments
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f'{source}: expected {expected}, got {short_repr(data)}')
    return data
