"""Small HTTPS helpers for readiness probes, validating against the lab CA."""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.request
from pathlib import Path


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def get(url: str, ca: Path, timeout: float = 2.0, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    context = ssl.create_default_context(cafile=str(ca))
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - lab URLs only
    try:
        with urllib.request.urlopen(request, context=context, timeout=timeout) as response:  # noqa: S310 - lab URLs only
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def is_ok(url: str, ca: Path, headers: dict[str, str] | None = None) -> bool:
    return get(url, ca, headers=headers)[0] == 200
