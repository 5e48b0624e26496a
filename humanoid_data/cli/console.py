"""The rich console of the CLI verbs."""

from __future__ import annotations

import sys

from rich.console import Console


def make_console() -> Console:
    """A console for the terminal; wide enough for the tables when output goes to a file."""
    return Console() if sys.stdout.isatty() else Console(width=150)
