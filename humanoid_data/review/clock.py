"""The workbench's clock: label-set stamps relative to an episode's origin, and back.

Robot stamps exceed 2**53, beyond what a JavaScript number holds exactly, so the page
works in nanoseconds relative to the episode's origin (sent once as a decimal string);
``shift_stamps`` moves every stamp field of a label set's JSON by an offset, and
``label_origin``/``label_extent`` give the span of label sets with no bag to set it.
"""

from __future__ import annotations

from typing import Any, Iterable

from humanoid_data.labels.model import LabelSet

#: Every stamp field of a label set's JSON (``labels/codec.py``).
STAMP_FIELDS = ('begin_ns', 'end_ns', 'onset_ns', 'offset_ns', 'stamp_ns')
SLIPS = 'slips_ns'


def label_stamps(label_set: LabelSet) -> list[int]:
    """Every stamp a label set holds."""
    stamps = [s for p in label_set.phases for s in (p.begin_ns, p.end_ns)]
    for contact in label_set.contacts:
        stamps += [contact.onset_ns, *contact.slips_ns]
        stamps += [] if contact.offset_ns is None else [contact.offset_ns]
    stamps += [t.stamp_ns for t in (*label_set.instructions, *label_set.notes,
                                    *label_set.decisions) if t.stamp_ns is not None]
    return stamps


def label_origin(label_sets: Iterable[LabelSet]) -> int | None:
    """The earliest stamp of the label sets; None when they hold none."""
    return min((s for ls in label_sets for s in label_stamps(ls)), default=None)


def label_extent(label_sets: Iterable[LabelSet]) -> int | None:
    """The latest stamp of the label sets; None when they hold none."""
    return max((s for ls in label_sets for s in label_stamps(ls)), default=None)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def shift_stamps(data: Any, offset: int) -> Any:
    """A copy of a label set's JSON with ``offset`` added to every integer stamp field.

    Every ``*_ns`` field of the codec (``begin_ns``, ``end_ns``, ``onset_ns``,
    ``offset_ns``, ``stamp_ns``, each of ``slips_ns``) that holds an integer is shifted;
    anything else (None, a wrong type) is left for the codec to name.
    """
    if isinstance(data, list):
        return [shift_stamps(item, offset) for item in data]
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        if key in STAMP_FIELDS and _is_int(value):
            out[key] = value + offset
        elif key == SLIPS and isinstance(value, list):
            out[key] = [v + offset if _is_int(v) else v for v in value]
        else:
            out[key] = shift_stamps(value, offset)
    return out


__all__ = ['SLIPS', 'STAMP_FIELDS', 'label_extent', 'label_origin', 'label_stamps',
           'shift_stamps']
