# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic file replacement, the flock, and JSON documents read and written under it - shared by the
collection's stores (the leases, the service state, the Prometheus targets). Private to the collection."""

from __future__ import annotations

import fcntl
import json
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


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


class LockUnavailable(Exception):
    """The lock could not be taken: ``timed_out``, or the lock file could not be opened (``reason``)."""

    def __init__(self, lock_path: str, reason: str, timed_out: bool = False) -> None:
        super().__init__(f"{lock_path}: {reason}")
        self.reason = reason
        self.timed_out = timed_out


@contextmanager
def flocked(lock_path: str, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` of ``lock_path`` (created, folder included, mode 0750).

    Raises LockUnavailable (only ever before the body runs) after ``timeout`` seconds of waiting
    or when the file cannot be opened. The lock goes with the descriptor: a killed process never
    leaves it held.
    """
    try:
        os.makedirs(os.path.dirname(lock_path) or ".", mode=0o750, exist_ok=True)
        handle = open(lock_path, "a+", encoding="utf-8")
    except OSError as exc:
        raise LockUnavailable(lock_path, exc.strerror or str(exc)) from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockUnavailable(lock_path, f"still locked after {timeout:g} s", timed_out=True) from None
                time.sleep(0.01 + random.random() * 0.02)  # noqa: S311 (jitter, not crypto)
        yield
    finally:
        handle.close()  # closing the descriptor releases the lock


class DocumentError(Exception):
    """A JSON document could not be read; ``kind``: ``unreadable`` (the file) or ``not_json`` (its text)."""

    def __init__(self, path: str, kind: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.kind = kind
        self.detail = detail


def read_json(path: str, missing: Callable[[], Any], blank_is_missing: bool = False) -> Any:
    """The JSON document at ``path``, or ``missing()`` when there is no file (or, with
    ``blank_is_missing``, only white space). Raises DocumentError and leaves the file as it is; the
    caller checks the document's shape and words the error for its own store."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return missing()
    except OSError as exc:
        raise DocumentError(path, "unreadable", exc.strerror or str(exc)) from None
    if blank_is_missing and not text.strip():
        return missing()
    try:
        return json.loads(text)
    except ValueError as exc:
        raise DocumentError(path, "not_json", str(exc)) from None


def write_json(
    path: str,
    document: Any,
    default_mode: int,
    sort_keys: bool = True,
    before_replace: Callable[[], None] | None = None,
) -> None:
    """Replace ``path`` with ``document`` as indented JSON (write_atomic), keeping the file's mode
    (``default_mode`` for a new one). Raises OSError."""
    text = json.dumps(document, indent=2, sort_keys=sort_keys) + "\n"
    write_atomic(path, text, current_mode(path, default_mode), before_replace=before_replace)
