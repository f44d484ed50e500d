# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planners' event list: scale events as a fixed-width table, one line per VM.

An event's ``actions`` name the same VM several times (its lease, its clone, its pool member on
each device); the table names each VM once, with its address, one per line under the event's
first line. Each event says its run id, what triggered it (and the alert), its result and how
long it took; a failure's step and reason are cut to ``REASON_WIDTH`` characters so that a line
does not wrap (the whole reason is in the event log). Only plain data in, plain data out.
"""

from __future__ import annotations

HEADER = ("time", "run", "action", "result", "trigger", "took", "VMs", "step / reason")
REASON_WIDTH = 120


def _cut(text: str, width: int = REASON_WIDTH) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def event_vms(event: dict) -> list:
    """Each VM the event's actions name, once, in the order first named, with its address."""
    seen = {}
    for action in event.get("actions") or []:
        if not isinstance(action, dict) or not action.get("vm"):
            continue
        name = str(action["vm"])
        if not seen.get(name):
            seen[name] = str(action.get("ip") or "")
    return [f"{name} {ip}".strip() for name, ip in seen.items()]


def _result(event: dict) -> str:
    status = str(event.get("status", "?"))
    if event.get("limit"):
        status = f"{status} ({event['limit']})"
    if event.get("breaker_counts") is False or str(event.get("breaker_counts")).lower() == "false":
        status = f"{status}, not counted"
    return status


def _trigger(event: dict) -> str:
    trigger = str(event.get("trigger") or "-")
    return f"{trigger} ({event['alert']})" if event.get("alert") else trigger


def _took(event: dict) -> str:
    duration = event.get("duration_seconds")
    try:
        return f"{float(duration):.1f} s"
    except (TypeError, ValueError):
        return "-"


def _detail(event: dict) -> str:
    detail = str(event.get("reason") or "")
    if event.get("step"):
        detail = f"{event['step']}: {detail}".rstrip(": ")
    if event.get("breaker"):
        detail = f"{detail} (breaker {event['breaker']})".strip()
    return _cut(detail) or "-"


def event_rows(event: dict) -> list:
    """The table rows of one event: its first line, then one line per further VM."""
    vms = event_vms(event) or ["-"]
    first = (
        str(event.get("timestamp", "?")),
        str(event.get("id") or event.get("run") or "-"),
        str(event.get("action", "?")),
        _result(event),
        _trigger(event),
        _took(event),
        vms[0],
        _detail(event),
    )
    blank = ("",) * 6
    return [first, *((*blank, vm, "") for vm in vms[1:])]


def event_table(events: list) -> list:
    """Lines of the table of ``events`` (as ``autoscale_state`` returns them), header first."""
    if not isinstance(events, list):
        raise ValueError("expects the events list that autoscale_state returns")
    rows = [HEADER]
    for event in events:
        if isinstance(event, dict):
            rows.extend(event_rows(event))
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADER) - 1)]
    lines = ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]]).rstrip() for row in rows]
    if len(rows) == 1:
        lines.append("(no events)")
    return lines
