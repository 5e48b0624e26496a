"""Value checks shared by every config loader, so each mapping level is strict alike.

A loader hands each raw value from a file to one of these with ``where`` (the file and
key); a bad value raises ``ConfigError`` naming that place, what was expected and the
offending value cut short.
"""

from __future__ import annotations

import math
import reprlib
from dataclasses import fields
from enum import Enum
from typing import Any, TypeVar

from humanoid_data.core.settings import settings_from
from humanoid_data.errors import ConfigError

E = TypeVar('E', bound=Enum)
S = TypeVar('S')

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60


def short_repr(value: object) -> str:
    """``repr`` of a value from a file, cut short for an error message."""
    return _SHORT.repr(value)


def parse_enum(enum: type[E], value: object, where: str) -> E:
    """Return the member of ``enum`` named by ``value``.

    Args:
        enum: The closed vocabulary.
        value: The raw value from a file or parameter.
        where: Location used in the error message (file and key).

    Returns:
        The enum member.

    Raises:
        ConfigError: ``value`` is not one of the allowed values, which the message lists.

    """
    try:
        return enum(value)
    except (ValueError, TypeError):
        allowed = ', '.join(str(m.value) for m in enum)
        raise ConfigError(f'{where}: {short_repr(value)} is not one of: {allowed}') from None


def check_mapping(raw: object, allowed: set[str], where: str,
                  noun: str = 'key') -> dict[str, Any]:
    """``raw`` as a mapping holding only ``allowed`` keys.

    Raises:
        ConfigError: Not a mapping, or an unknown key (named with the allowed ones).

    """
    if not isinstance(raw, dict):
        raise ConfigError(f'{where}: expected a mapping, got {short_repr(raw)}')
    unknown = sorted((k for k in raw if k not in allowed), key=repr)
    if unknown:
        raise ConfigError(f'{where}: unknown {noun} {short_repr(unknown[0])}; '
                          f'allowed: {", ".join(sorted(allowed))}')
    return raw


def check_number(value: object, where: str, *, above: float | None = None,
                 minimum: float | None = None, maximum: float | None = None) -> float:
    """``value`` as a finite float within the given bounds.

    Raises:
        ConfigError: Not a number (a boolean is not), NaN or infinite, or out of range.

    """
    number = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:   # an integer beyond float range
            pass
    if (not math.isfinite(number) or (above is not None and not number > above)
            or (minimum is not None and number < minimum)
            or (maximum is not None and number > maximum)):
        bounds = ' and '.join(f'{op} {limit:g}' for op, limit in (
            ('>', above), ('>=', minimum), ('<=', maximum)) if limit is not None)
        raise ConfigError(f'{where}: expected a finite number {bounds}'.rstrip()
                          + f', got {short_repr(value)}')
    return number


def check_int(value: object, where: str, *, minimum: int | None = None) -> int:
    """``value`` as an integer (not a boolean, not a float) of at least ``minimum``.

    Raises:
        ConfigError: Not an integer, or below ``minimum``.

    """
    if (isinstance(value, bool) or not isinstance(value, int)
            or (minimum is not None and value < minimum)):
        bound = f' >= {minimum}' if minimum is not None else ''
        raise ConfigError(f'{where}: expected an integer{bound}, got {short_repr(value)}')
    return value


def parse_settings(cls: type[S], raw: object, where: str, **fixed: Any) -> S:
    """Settings dataclass ``cls`` from a mapping of its fields (``fixed`` ones excluded).

    Raises:
        ConfigError: Not a mapping, an unknown key (the allowed ones listed), a value of
            the wrong type, a number that is NaN or infinite, or a range check failed.

    """
    allowed = {f.name for f in fields(cls)} - set(fixed)  # type: ignore[arg-type]
    values = check_mapping(raw, allowed, where, noun='parameter')
    for key, value in values.items():
        if isinstance(value, float):
            check_number(value, f'{where}: {key}')
    return settings_from(cls, {**values, **fixed}, where)
