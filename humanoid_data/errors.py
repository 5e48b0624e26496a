"""The one exception hierarchy of humanoid_data.

Every error the project raises on purpose is a ``HumanoidDataError``; the CLI catches
exactly these, prints ``error: ...`` and exits non-zero. Anything else is a bug.
"""

from __future__ import annotations


class HumanoidDataError(Exception):
    """Base class of every error humanoid_data raises on purpose."""


class ConfigError(HumanoidDataError):
    """A configuration file or parameter is missing, malformed or inconsistent."""


class BagError(HumanoidDataError):
    """A bag cannot be written, opened or read."""


class EpisodeStateError(HumanoidDataError):
    """An episode command is not valid in the recorder's current state."""


class EventError(HumanoidDataError):
    """An event on the events topic is malformed or of an unknown kind."""


class DecodeError(HumanoidDataError):
    """A serialized message cannot be decoded into arrays."""


class LabelError(HumanoidDataError):
    """A label set is malformed, inconsistent with its taxonomy, or cannot be stored."""


class UnassignedAnnotatorError(LabelError):
    """A person's labels for a session whose assignment file does not name them."""
