# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an Alertmanager notification asks of a service, and how that is verified. Private.

A notification is a hint from outside: anyone who can reach a webhook, or replay one, controls
every byte of it. So nothing from it reaches PromQL, a URL, a shell or a template:

- each label value this collection reads (``service``, ``vm_autoscale``, ``autoscale_action``,
  ``alertname``, the status, the fingerprint, ``startsAt``) must match a strict pattern, else the
  whole notification is refused with a reason - a crafted notification is not half-trusted;
- the alert name must be the one the service's own rules define for the asked action
  (``_rules.ACTION_ALERTS``): an operator alert carrying action labels, or the scale-out alert
  asked as a scale-in, is refused;
- the question put to Prometheus is built from the inventory host and our rule's name only
  (``verify_query``), never from the payload;
- the answer counts only when a series carries exactly the labels asked (``verify``).

Reasons quote outside values through ``shown()``: ASCII-escaped, at most 60 characters, one line.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _rules
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._names import SERVICE

ACTIONS = ("scale_out", "scale_in")
ALERTNAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,99}\Z")
WORD = re.compile(r"\A[a-z_]{1,32}\Z")  # vm_autoscale, autoscale_action
STATUS = ("firing", "resolved")
FINGERPRINT = re.compile(r"\A[0-9a-f]{1,32}\Z")
TIMESTAMP = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{8,20}(?:Z|[+-][0-9]{2}:[0-9]{2})\Z")
MAX_PAYLOAD_BYTES = 1024 * 1024  # Alertmanager's own payloads are a few KB
MAX_ALERTS = 1000

# (key, where it is, pattern): what is read of each alert, and what it must look like.
_CHECKED = (
    ("service", "labels", SERVICE),
    ("vm_autoscale", "labels", WORD),
    ("autoscale_action", "labels", WORD),
    ("alertname", "labels", ALERTNAME),
    ("status", "alert", STATUS),
    ("fingerprint", "alert", FINGERPRINT),
    ("startsAt", "alert", TIMESTAMP),
)


def shown(value: Any, limit: int = 60) -> str:
    """An outside value safe to put in a message, a log line or an event: one escaped line."""
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _nothing(reason: str) -> dict:
    return {"action": "", "alertname": "", "fingerprint": "", "starts_at": "", "reason": reason}


def _bad_value(alert: dict, payload_status: Any) -> str:
    """Why an alert is malformed ('' when every value this collection reads is well-formed)."""
    labels = alert["labels"]
    for key, where, pattern in _CHECKED:
        if where == "labels":
            if key not in labels:
                if key in ("service", "alertname"):
                    return f"label {key} is missing"
                continue
            value = labels[key]
        else:
            value = alert.get(key, payload_status if key == "status" else None)
            if value is None and key != "status":
                continue
        if not isinstance(value, str):
            return f"{key} {shown(value)} is not a string"
        ok = value in pattern if isinstance(pattern, tuple) else bool(pattern.match(value))
        if not ok:
            return f"{key} {shown(value)} does not match the expected pattern"
    return ""


def parse_payload(payload: Any) -> tuple:
    """(the notification as a mapping, '') or (None, why it is not one)."""
    if isinstance(payload, (bytes, str)):
        if len(payload) > MAX_PAYLOAD_BYTES:
            return None, f"the payload is larger than {MAX_PAYLOAD_BYTES} bytes"
        try:
            payload = json.loads(payload)
        except ValueError:
            return None, "the payload is not JSON"
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        return None, "the payload is not an Alertmanager notification (no alerts list)"
    if len(payload["alerts"]) > MAX_ALERTS:
        return None, f"the payload holds more than {MAX_ALERTS} alerts"
    return payload, ""


def request(payload: Any, service: str) -> dict:
    """What ``payload`` asks of ``service``: ``{action, alertname, fingerprint, starts_at, reason}``.

    ``action`` is ``scale_out`` or ``scale_in`` when a well-formed firing action alert of this
    service, named as the service's rules name that action, is in the payload (scale-out first);
    else it is empty and ``reason`` says why nothing is asked.
    """
    if not isinstance(service, str) or not SERVICE.match(service):
        return _nothing(f"the service name {shown(service)} is not a valid service name")
    notification, problem = parse_payload(payload)
    if notification is None:
        return _nothing(problem)
    alerts = notification["alerts"]
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            return _nothing(f"alert {index} of the payload has no labels: a malformed or forged notification, refused")
        problem = _bad_value(alert, notification.get("status"))
        if problem:
            return _nothing(f"alert {index} of the payload: {problem}: a malformed or forged notification, refused")
    mine = [alert for alert in alerts if alert["labels"]["service"] == service]
    if not mine:
        others = sorted({alert["labels"]["service"] for alert in alerts})
        return _nothing(f"no alert of service {service} in the payload (it is about {', '.join(others) or 'nothing'})")
    actions = [alert for alert in mine if alert["labels"].get("vm_autoscale") == "action"]
    if not actions:
        return _nothing(f"the alerts of {service} are not scale actions (operator alerts)")
    firing = [alert for alert in actions if alert.get("status", notification.get("status")) == "firing"]
    if not firing:
        return _nothing(f"resolved notification for {service}: nothing to do")
    known = [alert for alert in firing if alert["labels"].get("autoscale_action") in ACTIONS]
    if not known:
        asked = sorted({shown(alert["labels"].get("autoscale_action")) for alert in firing})
        return _nothing(f"unknown autoscale_action {', '.join(asked)} (expected scale_out or scale_in)")
    for alert in known:
        action, name = alert["labels"]["autoscale_action"], alert["labels"]["alertname"]
        if name != _rules.ACTION_ALERTS[action]:
            return _nothing(
                f"alert {name} asks {action} of {service}, but the service's {action} alert is "
                f"{_rules.ACTION_ALERTS[action]}: a mislabelled or forged notification, refused"
            )
    chosen = sorted(known, key=lambda alert: ACTIONS.index(alert["labels"]["autoscale_action"]))[0]
    return {
        "action": chosen["labels"]["autoscale_action"],
        "alertname": chosen["labels"]["alertname"],
        "fingerprint": str(chosen.get("fingerprint", "")),
        "starts_at": str(chosen.get("startsAt", "")),
        "reason": "",
    }


def _selector(service: str, action: str) -> dict:
    if not isinstance(service, str) or not SERVICE.match(service):
        raise ValueError(f"the service name {shown(service)} is not a valid service name")
    if action not in ACTIONS:
        raise ValueError(f"the action {shown(action)} is not scale_out or scale_in")
    return {
        "alertname": _rules.ACTION_ALERTS[action],
        "service": service,
        "vm_autoscale": "action",
        "autoscale_action": action,
        "alertstate": "firing",
    }


def verify_query(service: str, action: str) -> str:
    """The PromQL that asks whether ``service``'s own ``action`` alert fires now (no payload value in it)."""
    labels = _selector(service, action)
    return "ALERTS{" + ",".join(f'{key}="{value}"' for key, value in labels.items()) + "}"


def verify(answer: Any, service: str, action: str) -> dict:
    """``{firing, reason}`` from Prometheus's answer to ``verify_query(service, action)``.

    Only a series carrying exactly the asked labels counts, so that an answer to another
    question (a proxy, a wrong URL) cannot confirm an action.
    """
    labels = _selector(service, action)
    if not isinstance(answer, dict) or answer.get("status") != "success":
        return {"firing": False, "reason": f"Prometheus did not answer the query about {service} ({shown(answer)})"}
    result = (answer.get("data") or {}).get("result")
    if not isinstance(result, list):
        return {"firing": False, "reason": f"Prometheus's answer about {service} holds no result list"}
    for series in result:
        metric = series.get("metric") if isinstance(series, dict) else None
        if isinstance(metric, dict) and all(metric.get(key) == value for key, value in labels.items()):
            return {"firing": True, "reason": ""}
    return {
        "firing": False,
        "reason": (
            f"alert {labels['alertname']} of {service} ({action}) is not firing in Prometheus now: "
            "a stale, replayed or forged notification"
        ),
    }
