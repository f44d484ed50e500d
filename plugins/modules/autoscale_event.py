#!/usr/bin/python
# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: autoscale_event
short_description: Record a scale event of a service, count it and move its circuit breaker
version_added: 0.1.0
description:
  - Appends one JSON line to the service's event log on the state host (the planners' scale-event
    fields) and, in the same step, updates the service's state and metrics
    (C(vm_autoscale_instances), C(vm_autoscale_suspended), C(vm_autoscale_consecutive_failures),
    C(vm_autoscale_last_scale_timestamp_seconds{action}),
    C(vm_autoscale_actions_total{action,result})).
  - A successful action sets the cooldown's start (the last scale time of its action). Skipped
    actions are counted but move neither the cooldown nor the breaker.
  - The circuit breaker counts failed scale-outs in a row; at O(breaker_threshold) the service is
    suspended (metric C(vm_autoscale_suspended) 1, which fires the operator alert
    C(VmAutoscaleSuspended) and keeps the scale alerts from firing) until an operator resets it
    with M(danacloud.vm_autoscale.autoscale_state) (O(danacloud.vm_autoscale.autoscale_state#module:breaker=reset)).
    A successful scale-out sets the count back to 0.
  - Idempotent per event id - a retried task does not count an event twice.
author:
  - Dana Cloud platform team (@danacloud)
extends_documentation_fragment:
  - danacloud.vm_autoscale.state
attributes:
  check_mode:
    description: Can run in check mode; returns the event and state it would write.
    support: full
  diff_mode:
    description: Shows the state document before and after.
    support: full
options:
  event:
    description:
      - The event, a mapping. Required keys are C(action) (V(scale_out), V(scale_in), or
        V(reconcile) or V(notification) - a notification that asked no valid action -, which are
        recorded but move no counter, cooldown or breaker) and
        C(status) (V(success), V(failed), V(skipped), or V(abandoned) - a run that died half-way,
        recorded with the dead run's id by the run that repaired what it left; it moves no cooldown and
        no breaker). C(id) is the event's unique id (the run's id is a good one), generated when missing.
        An event with the id of the run in the service's intent record ends that record.
      - Other keys are kept as given, for example C(trigger), C(alert), C(fingerprint),
        C(actions) (a list of C({type, vm, ip, pool, member})), C(duration_seconds), C(step) and
        C(reason) (of a failure), C(run). C(timestamp) and C(service) are set by the module.
      - C(limit) on a skipped event names the blast-radius limit that refused it (V(max_instances)
        or V(site_cap)); it is counted in the C(vm_autoscale_refusals_total) metric.
      - C(breaker_counts) V(false) on a failed scale-out keeps it out of the circuit breaker's count -
        a refusal the operator must fix (a missing template), not a sign of a sick site.
    type: dict
    required: true
  instances:
    description: The service's instance count after the action (static members included), for
      the C(vm_autoscale_instances) metric. Omit to keep the last one.
    type: int
  breaker_threshold:
    description: Failed scale-outs in a row that suspend the service.
    type: int
    default: 3
  release_lock:
    description:
      - Also release the run lock held by this owner (the run's id), in the same write as the
        event - the last step of a run. A lock held by another run is left alone
        (RV(lock_released) is then null).
    type: str
"""

EXAMPLES = r"""
- name: Record the scale-out
  danacloud.vm_autoscale.autoscale_event:
    service: acme-web
    state_dir: "{{ vm_autoscale_state_dir }}"
    textfile_dir: "{{ vm_autoscale_textfile_dir }}"
    instances: 3
    event:
      id: "{{ autoscale_run_id }}"
      action: scale_out
      status: success
      trigger: prometheus-alert
      alert: VmAutoscaleScaleOut
      actions:
        - {type: ip-allocation, ip: 198.18.1.100}
        - {type: vm-creation, vm: acme-web-auto-0001, ip: 198.18.1.100}
        - {type: f5-pool-add, pool: acme-web-pool, member: "198.18.1.100:80"}
      duration_seconds: 41.2
  delegate_to: "{{ groups['state_host'] | first }}"
"""

RETURN = r"""
event:
  description: The event as written to the log (null when this id was already recorded).
  returned: always
  type: dict
state:
  description: The service's state document after the call.
  returned: always
  type: dict
duplicate:
  description: An event with this id had already been recorded; nothing was written.
  returned: always
  type: bool
breaker_opened:
  description: This event opened the circuit breaker (the service is now suspended).
  returned: always
  type: bool
lock_released:
  description: The lock record released with O(release_lock) (null when none was).
  returned: always
  type: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _state
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._failure import ModuleFailure, run

ARGUMENT_SPEC = {
    **_state.ARGUMENT_SPEC,
    "event": {"type": "dict", "required": True},
    "instances": {"type": "int"},
    "breaker_threshold": {"type": "int", "default": 3},
    "release_lock": {"type": "str"},
}


def _record_and_release(event: dict, params: dict, now: float):
    """Mutation: record the event, then release the run's lock if it still holds it."""
    record = _state.record(event, params["instances"], params["breaker_threshold"], now)
    release = _state.release(params["release_lock"], False, now)

    def mutate(state: dict) -> tuple:
        changed, extra = record(state)
        if params["release_lock"]:
            try:
                released, more = release(state)
            except _state.Locked:  # another run took over an expired lock: not ours to release
                released, more = False, {"released": None}
            changed = changed or released
            extra = {**extra, "lock_released": more["released"]}
        return changed, extra

    return mutate


def _checked(params: dict, action: str, now: float) -> dict:
    """The event to record, or a failure naming the first thing wrong with it."""
    event = {key: value for key, value in params["event"].items() if key not in ("timestamp", "service")}
    problem = None
    if event.get("action") not in _state.RECORDED_ACTIONS:
        problem = f"event.action is {event.get('action')!r}, expected one of {', '.join(_state.RECORDED_ACTIONS)}"
    elif event.get("status") not in _state.RESULTS:
        problem = f"event.status is {event.get('status')!r}, expected one of {', '.join(_state.RESULTS)}"
    elif event.get("limit") not in (None, "", *_state.LIMITS):
        problem = f"event.limit is {event.get('limit')!r}, expected one of {', '.join(_state.LIMITS)}"
    if problem:
        raise ModuleFailure(action, problem)
    if not event.get("limit"):
        event.pop("limit", None)
    event["id"] = str(event.get("id") or _state.new_event_id(now))
    if not _state.EVENT_ID.match(event["id"]):
        problem = f"event.id {event['id']!r} is not a valid id (letters, digits, '.', '_', ':', '-'; 1-100)"
    elif params["instances"] is not None and params["instances"] < 0:
        problem = f"instances is {params['instances']}, expected a count (0 or more)"
    elif params["breaker_threshold"] < 1:
        problem = f"breaker_threshold is {params['breaker_threshold']}, expected 1 or more"
    if problem:
        raise ModuleFailure(action, problem)
    return event


def _run(module: AnsibleModule) -> dict:
    params = module.params
    now = time.time()
    action = f"record an event of service {params['service']}"
    event = _checked(params, action, now)
    try:
        store = _state.ServiceState.from_params(params)
        changed, before, after, extra = store.change(_record_and_release(event, params, now), module.check_mode)
    except _state.StateError as exc:
        raise ModuleFailure(action, exc) from exc
    result = {
        "changed": changed,
        "event": extra.get("event"),
        "state": after,
        "duplicate": extra.get("duplicate", False),
        "breaker_opened": extra.get("breaker_opened", False),
        "lock_released": extra.get("lock_released"),
    }
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run(module, _run)


if __name__ == "__main__":
    main()
