"""Small HTTPS helpers for readiness probes, validating against the lab CA."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from pathlib import Path


def get(url: str, ca: Path, timeout: float = 2.0) -> tuple[int, bytes]:
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(url, context=context, timeout=timeout) as response:  # noqa: S310 - lab URLs only
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def is_ok(url: str, ca: Path) -> bool:
    return get(url, ca)[0] == 200
