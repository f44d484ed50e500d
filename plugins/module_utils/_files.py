# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic file replacement, shared by the collection's modules. Private to the collection."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable


def write_atomic(path: str, text: str, mode: int, before_replace: Callable[[], None] | None = None) -> None:
    """Replace ``path`` with ``text``: temporary file in the same folder, fsync, rename, fsync of the folder.

    A reader sees the old file or the new one, never a part; a crash leaves the old one. Raises
    OSError (the temporary file is removed). ``before_replace`` runs just before the rename.
    """
    directory = os.path.dirname(path) or "."
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        if before_replace is not None:
            before_replace()
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    folder = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def current_mode(path: str, default: int) -> int:
    """Permission bits of ``path``, or ``default`` when it does not exist."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return default
