"""Replace a file as a whole: readers see the old file or the new one, never half of one.

The text goes to a uniquely named temporary file in the same folder (so two writers never
share one), which then replaces the target with ``os.replace``; ``durable`` also forces
the file and its folder entry to disk, so a power cut after the call keeps it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace ``path`` by ``text`` (UTF-8) atomically.

    Raises:
        OSError: The file cannot be written; no temporary file is left behind.

    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as stream:
            stream.write(text)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
