"""An episode process that never answers: stands in for a hung encoder in batch tests.

It lives in its own module so a spawned process can import it by name.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any


def never_answers(send: Any, episode: str, staging: str, *args: str) -> None:
    """Start staging like a real worker, then block for good without sending anything."""
    Path(staging).mkdir(parents=True, exist_ok=True)
    (Path(staging) / 'partial.bin').write_bytes(b'half an episode')
    threading.Event().wait()
