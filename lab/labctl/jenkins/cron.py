"""Jenkins's cron syntax (the TimerTrigger's ``spec``), for the emulator's timed builds.

Source: Jenkins's ``hudson.scheduler.CronTab`` and its documentation (the "Build periodically"
help): five fields - minute (0-59), hour (0-23), day of month (1-31), month (1-12), day of week
(0-7, 0 and 7 Sunday) - each ``*``, a number, a range ``a-b``, a step ``*/n`` or ``a-b/n``, a
comma list of those, or ``H`` (a value hashed from the job's name, so that jobs spread over the
period), ``H/n``, ``H(a-b)`` and ``H(a-b)/n``; the aliases ``@yearly``, ``@annually``,
``@monthly``, ``@weekly``, ``@daily``, ``@midnight`` and ``@hourly`` (all hashed); several lines,
``#`` comments and blank lines. A spec Jenkins refuses is refused here with the field that is
wrong.

Where it differs: Jenkins hashes with ``Hash.from(job full name)`` (a seeded random); the emulator
uses a stable SHA-256 of the name, so ``H`` picks another, equally fixed, value for a job.
Time zones (``TZ=``) are not modelled: the lab runs in UTC.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
ALIASES = {
    "@yearly": "H H H H *",
    "@annually": "H H H H *",
    "@monthly": "H H H * *",
    "@weekly": "H H * * H",
    "@daily": "H H * * *",
    "@midnight": "H H(0-2) * * *",
    "@hourly": "H * * * *",
}
_TERM = re.compile(r"^(?:(\*)|(H)(?:\((\d+)-(\d+)\))?|(\d+)(?:-(\d+))?)(?:/(\d+))?$")


class CronError(ValueError):
    """A spec Jenkins would refuse; the message names the line and the field."""


def _hash(job: str, field: int, span: int) -> int:
    digest = hashlib.sha256(f"{job}\0{field}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % span


def _field(text: str, index: int, job: str) -> frozenset:
    name, low, high = FIELDS[index]
    values: set = set()
    for term in text.split(","):
        match = _TERM.match(term)
        if not match:
            raise CronError(f"{name} {text!r}: {term!r} is not a value, a range, a step, * or H")
        star, hashed, h_low, h_high, start, end, step = match.groups()
        every = int(step) if step else 1
        if every < 1:
            raise CronError(f"{name} {text!r}: a step must be at least 1")
        if star:
            first, last = low, high
        elif hashed:
            # a plain H stays valid in every month (1-28) and week (0-6)
            first, last = (int(h_low), int(h_high)) if h_low else (low, {2: 28, 4: 6}.get(index, high))
            span = min(every, last - first + 1) if step else last - first + 1
            first = first + _hash(job, index, span)
            if not step:
                last = first
        else:
            first = int(start)
            last = int(end) if end else (high if step else first)
        if not low <= first <= last <= high:
            raise CronError(f"{name} {text!r}: {term!r} is outside {low}-{high} (or its range is backwards)")
        values.update(range(first, last + 1, every))
    if index == 4 and 7 in values:  # Sunday is 0 and 7
        values.add(0)
    return frozenset(values)


class CronTab:
    """A TimerTrigger spec of a job: ``matches(moment)`` says whether a build starts in that minute."""

    def __init__(self, spec: str, job: str) -> None:
        self.lines = []
        for number, raw in enumerate(spec.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            line = ALIASES.get(line, line)
            parts = line.split()
            if len(parts) != 5:
                raise CronError(f"line {number} {raw.strip()!r}: expected 5 fields, got {len(parts)}")
            try:
                self.lines.append(tuple(_field(part, index, job) for index, part in enumerate(parts)))
            except CronError as exc:
                raise CronError(f"line {number}: {exc}") from None

    def matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7  # Python: Monday 0; cron: Sunday 0
        wanted = (moment.minute, moment.hour, moment.day, moment.month, weekday)
        return any(all(value in field for value, field in zip(wanted, line, strict=True)) for line in self.lines)
