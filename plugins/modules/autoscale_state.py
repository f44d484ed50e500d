#!/usr/bin/python
# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: autoscale_state
short_description: Read a service's autoscaling state and events; reset its circuit breaker
version_added: 0.1.0
description:
  - Returns the service's state from the state host - run lock, last scale per action, cooldown
    left, circuit breaker, action counters - and its events, filtered by status and time range
    (the planners' event list).
  - O(breaker=reset) closes the circuit breaker of a suspended service (an operator's decision
    once the cause of the failures is fixed). The service may then scale again, and the reset is
    recorded as an event with who did it and why.
author:
  - Dana Cloud platform team (@danacloud)
extends_documentation_fragment:
  - danacloud.vm_autoscale.state
attributes:
  check_mode:
    description: Can run in check mode; a reset is reported, not done.
    support: full
  diff_mode:
    description: Shows the breaker before and after a reset.
    support: full
options:
  drift:
    description:
      - Record what a reconcile run found and left (C(count), 0 for none, and C(run), its id). It is exported as
        C(vm_autoscale_drift) and C(vm_autoscale_drift_checked_timestamp_seconds), which the operator alert
        C(VmAutoscaleDrift) reads.
    type: dict
  breaker:
    description: V(reset) closes the circuit breaker; V(keep) (the default) only reads.
    type: str
    choices: [keep, reset]
    default: keep
  reset_by:
    description: Who resets the breaker (recorded in the event).
    type: str
    default: operator
  reset_reason:
    description: Why (recorded in the event), for example the fix that was made.
    type: str
    default: ""
  cooldown_seconds:
    description: The service's cooldown, to compute RV(cooldown_remaining).
    type: int
    default: 0
  events:
    description: Which events to return.
    type: dict
    default: {}
    suboptions:
      status:
        description: Only these statuses (empty list - all).
        type: list
        elements: str
        choices: [success, failed, skipped, unreadable]
        default: []
      since:
        description: Only events at or after this time (C(2026-11-22T10:00:00Z)).
        type: str
      before:
        description: Only events at or before this time.
        type: str
      limit:
        description: At most this many, the newest (0 - all).
        type: int
        default: 20
"""

EXAMPLES = r"""
- name: Read the state of acme-web and its failed events of the day
  danacloud.vm_autoscale.autoscale_state:
    service: acme-web
    state_dir: "{{ vm_autoscale_state_dir }}"
    cooldown_seconds: 300
    events:
      status: [failed]
      since: "2026-11-22T00:00:00Z"
  delegate_to: "{{ groups['state_host'] | first }}"
  register: acme_web_state

- name: Let acme-web scale again after fixing its template
  danacloud.vm_autoscale.autoscale_state:
    service: acme-web
    state_dir: "{{ vm_autoscale_state_dir }}"
    textfile_dir: "{{ vm_autoscale_textfile_dir }}"
    breaker: reset
    reset_by: jdoe
    reset_reason: template tpl-acme-web rebuilt (disk was full)
"""

RETURN = r"""
state:
  description: The service's state document (docs/state.md).
  returned: always
  type: dict
lock:
  description: The live run lock (null when free or expired).
  returned: always
  type: dict
intent:
  description:
    - The intent record of the run acting on the service - what it set out to do and how far each VM
      got (null when no run is acting). When the lock is gone or expired, it is what a dead run left
      and the next acting run repairs (docs/operations.md, "A run that dies").
  returned: always
  type: dict
  sample: {"run": "acme-web-20261122T100000Z-k3x9q0", "action": "scale_out", "started_at": "2026-11-22T10:00:00Z",
           "updated_at": "2026-11-22T10:01:10Z", "vms": [{"vm": "acme-web-auto-0003", "ip": "10.20.0.57", "step": "leased"}]}
suspended:
  description: The circuit breaker is open; the service does not scale.
  returned: always
  type: bool
cooldown_remaining:
  description: Seconds until the cooldown since the last successful scale action (either action)
    is over; 0 when over.
  returned: always
  type: int
last_scale_epoch:
  description: Epoch seconds of the last successful scale action (null if none).
  returned: always
  type: float
events:
  description: The selected events, oldest first.
  returned: always
  type: list
  elements: dict
reset_event:
  description: The event recording the breaker reset (null when nothing was reset).
  returned: always
  type: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _state
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._failure import ModuleFailure, run

ARGUMENT_SPEC = {
    **_state.ARGUMENT_SPEC,
    "breaker": {"type": "str", "choices": ["keep", "reset"], "default": "keep"},
    "drift": {"type": "dict"},
    "reset_by": {"type": "str", "default": "operator"},
    "reset_reason": {"type": "str", "default": ""},
    "cooldown_seconds": {"type": "int", "default": 0},
    "events": {
        "type": "dict",
        "default": {},
        "options": {
            "status": {
                "type": "list",
                "elements": "str",
                "choices": ["success", "failed", "skipped", "unreadable"],
                "default": [],
            },
            "since": {"type": "str"},
            "before": {"type": "str"},
            "limit": {"type": "int", "default": 20},
        },
    },
}


def _action(params: dict) -> str:
    """What the call does, for its failure message."""
    if params["breaker"] == "reset":
        return f"reset the circuit breaker of service {params['service']}"
    if params["drift"] is not None:
        return f"record the drift of service {params['service']}"
    return f"read the state of service {params['service']}"


def _time(params: dict, name: str) -> float | None:
    value = params["events"][name]
    if value is None:
        return None
    try:
        return _state.parse_time(value)
    except ValueError as exc:
        raise ModuleFailure(
            _action(params), f"events.{name} is {value!r}, expected a UTC time like 2026-11-22T10:00:00Z"
        ) from exc


def _run(module: AnsibleModule) -> dict:
    params = module.params
    since, not_after = _time(params, "since"), _time(params, "before")
    if params["events"]["limit"] < 0:
        raise ModuleFailure(_action(params), f"events.limit is {params['events']['limit']}, expected 0 (all) or more")
    now = time.time()
    reset_event = None
    try:
        store = _state.ServiceState.from_params(params)
        if params["breaker"] == "reset":
            mutation = _state.reset_breaker(params["reset_by"], params["reset_reason"], now)
            changed, before, state, extra = store.change(mutation, module.check_mode)
            reset_event = extra.get("event")
        elif params["drift"] is not None:
            count = params["drift"].get("count")
            if isinstance(count, str) and count.strip().isdigit():  # a templated count arrives as text
                count = int(count)
            mutation = _state.note_drift(count, str(params["drift"].get("run") or ""), now)
            changed, before, state, _extra = store.change(mutation, module.check_mode)
        else:
            changed, state = False, store.read()
            before = state
        events = _state.select_events(
            store.events(), params["events"]["status"], since, not_after, params["events"]["limit"]
        )
    except _state.StateError as exc:
        raise ModuleFailure(_action(params), exc) from exc
    remaining, last = _state.cooldown(state, params["cooldown_seconds"], now)
    result = {
        "changed": changed,
        "state": state,
        "lock": _state.lock_holder(state, now),
        "intent": state.get("intent"),
        "suspended": state["suspended"],
        "cooldown_remaining": remaining,
        "last_scale_epoch": last,
        "events": events,
        "reset_event": reset_event,
    }
    if module._diff and params["breaker"] == "reset":
        keys = ("suspended", "suspended_at", "suspended_reason", "consecutive_failures")
        result["diff"] = {
            "before": {key: before[key] for key in keys},
            "after": {key: state[key] for key in keys},
        }
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run(module, _run)


if __name__ == "__main__":
    main()
