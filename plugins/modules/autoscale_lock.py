#!/usr/bin/python
# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: autoscale_lock
short_description: Take or release a service's run lock on the state host
version_added: 0.1.0
description:
  - A scale action of a service runs many tasks (IP, clone, F5, targets); two actions of the same
    service at once would both see room below the maximum. The run lock makes them take turns.
  - The lock is a record in the service's state file on the state host, with an owner (the run's
    id) and an expiry, so that it holds across tasks and runners, and a run killed half-way blocks
    the service only until O(ttl) has passed.
  - O(state=present) takes the lock, or renews it when O(owner) already holds it. When another
    run holds it, the module waits up to O(wait) seconds, then fails naming the holder - or, with
    O(busy=skip), returns RV(acquired=false) and the reason (RV(busy_reason)), so that a duplicate
    run ends green as skipped instead of red.
  - O(state=absent) releases it. Another owner's live lock is only released with O(force=true)
    (an operator clearing the lock of a dead run).
  - O(renew=true) renews the lock this run holds for O(ttl) more seconds - a run renews it before each
    step, for that step's own time limit plus a margin, so that an expired lock means a dead run - and
    records in the service's intent record what the run is about to do (O(plan)) and what it has done
    (O(progress)). It never takes a lock - when another run has taken it over, the module fails and the
    run must stop without acting further (RV(lost)).
  - Taking the lock returns RV(abandoned), the intent record of a run that died half-way (its lock
    expired or was cleared), for this run to repair first (docs/operations.md, "A run that dies").
author:
  - Dana Cloud platform team (@danacloud)
extends_documentation_fragment:
  - danacloud.vm_autoscale.state
attributes:
  check_mode:
    description: Can run in check mode; reports whether the lock could be taken, and takes nothing.
    support: full
  diff_mode:
    description: Shows the lock record before and after.
    support: full
options:
  owner:
    description:
      - The run's id, unique per run (for example the Jenkins build tag or the AWX job id).
      - Required with O(state=present); with O(state=absent) only this owner's lock is released
        unless O(force=true).
    type: str
  action:
    description: What the run is doing, shown to whoever waits for the lock.
    type: str
  state:
    description: V(present) takes or renews the lock, V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  ttl:
    description: Seconds the lock is held without renewal. Longer than the longest scale action.
    type: int
    default: 1800
  wait:
    description: Seconds to wait for another run's lock to be released (0 fails at once).
    type: int
    default: 0
  force:
    description: With O(state=absent), release the lock whoever holds it.
    type: bool
    default: false
  busy:
    description:
      - What to do when another live run holds the lock.
      - V(fail) waits up to O(wait) seconds, then fails naming the holder (an operator's run, reconcile).
      - V(skip) returns at once, without the lock, when the holder does the same O(action) (another
        run is acting on the same alert, and waiting would only meet the cooldown); otherwise it waits
        up to O(wait) seconds like V(fail), then returns without the lock. Either way
        RV(acquired) is false, RV(busy_reason) says why, and nothing is changed.
    type: str
    choices: [fail, skip]
    default: fail
  renew:
    description:
      - With O(state=present), only renew the lock O(owner) holds (expired or not, as long as no other
        run took it over) and update the intent record; fail at once, with RV(lost), when it is not
        O(owner)'s any more.
    type: bool
    default: false
  step:
    description: With O(renew=true), the step the run is about to start, shown in the lock record.
    type: str
  plan:
    description:
      - With O(renew=true), start the run's intent record, before its first change.
      - C(action) is V(scale_out) or V(scale_in); C(vms) lists the VMs it will add or remove, each
        a name or a mapping with C(vm) and, when known, C(ip).
    type: dict
  progress:
    description:
      - With O(renew=true), mark a step of one planned VM done in the intent record.
      - C(vm), C(step) (scale-out - planned, leased, booted, serving; scale-in - chosen, drained,
        member_removed) and, when it became
        known, C(ip).
    type: dict
  cooldown_seconds:
    description:
      - The service's cooldown. With O(state=present), RV(cooldown_remaining) is computed from it,
        so that a run reads its guards (cooldown, circuit breaker) in the same call that locks.
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: Lock the service for this run
  danacloud.vm_autoscale.autoscale_lock:
    service: acme-web
    owner: "{{ autoscale_run_id }}"
    action: scale_out
    wait: 60
    state_dir: "{{ vm_autoscale_state_dir }}"
  delegate_to: "{{ groups['state_host'] | first }}"

- name: Release it (always, in the always section of the run's block)
  danacloud.vm_autoscale.autoscale_lock:
    service: acme-web
    owner: "{{ autoscale_run_id }}"
    state: absent
    state_dir: "{{ vm_autoscale_state_dir }}"
  delegate_to: "{{ groups['state_host'] | first }}"

- name: Renew it before a step, for the step's limit plus a margin, and mark a VM's progress
  danacloud.vm_autoscale.autoscale_lock:
    service: acme-web
    owner: "{{ autoscale_run_id }}"
    renew: true
    ttl: 960
    step: clone acme-web-auto-0003
    progress: {vm: acme-web-auto-0003, step: leased, ip: 10.20.0.57}
    state_dir: "{{ vm_autoscale_state_dir }}"
  delegate_to: "{{ groups['state_host'] | first }}"

- name: Clear the lock of a run that died (operator)
  danacloud.vm_autoscale.autoscale_lock:
    service: acme-web
    state: absent
    force: true
    state_dir: "{{ vm_autoscale_state_dir }}"
"""

RETURN = r"""
lock:
  description: The lock record after the call (null when free).
  returned: always
  type: dict
  sample: {"owner": "jenkins-autoscale-acme-web-42", "action": "scale_out",
           "acquired_at": "2026-11-22T10:00:00Z", "expires_at": "2026-11-22T10:30:00Z"}
acquired:
  description: This run holds the lock now (false only with O(busy=skip) when another run holds it).
  returned: state=present
  type: bool
busy_reason:
  description: Why the lock was not taken (O(busy=skip)), naming the holder; empty when it was.
  returned: state=present
  type: str
  sample: "another run of acme-web (jenkins-autoscale-acme-web-41-k3x9q0ab, scale_out) is acting since 2026-11-22T10:00:00Z"
renewed:
  description: The owner already held the lock; its expiry was pushed back.
  returned: state=present
  type: bool
expired_lock:
  description: A lock of another run that had expired and was taken over (null if none).
  returned: state=present
  type: dict
released:
  description: The lock record that was released (null when there was none).
  returned: state=absent
  type: dict
abandoned:
  description:
    - The intent record of a run that died half-way (its lock expired or was cleared), with C(lock),
      its expired lock, when it had one; null when there is none. Taking the lock leaves the record in
      place; the event that records the dead run (status C(abandoned)) clears it.
  returned: state=present and not renew
  type: dict
  sample: {"run": "acme-web-20261122T100000Z-k3x9q0", "action": "scale_out", "started_at": "2026-11-22T10:00:00Z",
           "vms": [{"vm": "acme-web-auto-0003", "ip": "10.20.0.57", "step": "leased"}]}
intent:
  description: The run's intent record after the call.
  returned: renew
  type: dict
lost:
  description: The lock is no longer this run's (with O(renew=true), on failure).
  returned: failure
  type: bool
waited:
  description: Seconds spent waiting for another run's lock.
  returned: state=present
  type: float
state:
  description: The service's state document once the lock is taken (docs/state.md).
  returned: state=present
  type: dict
suspended:
  description: The circuit breaker is open; the service does not scale.
  returned: state=present
  type: bool
cooldown_remaining:
  description: Seconds until the cooldown (O(cooldown_seconds)) since the last successful scale
    action (either action) is over; 0 when over.
  returned: state=present
  type: int
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _state
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._failure import ModuleFailure, run

ARGUMENT_SPEC = {
    **_state.ARGUMENT_SPEC,
    "owner": {"type": "str"},
    "action": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "ttl": {"type": "int", "default": 1800},
    "wait": {"type": "int", "default": 0},
    "force": {"type": "bool", "default": False},
    "busy": {"type": "str", "choices": ["fail", "skip"], "default": "fail"},
    "cooldown_seconds": {"type": "int", "default": 0},
    "renew": {"type": "bool", "default": False},
    "step": {"type": "str"},
    "plan": {"type": "dict"},
    "progress": {"type": "dict"},
}


def _busy_reason(service: str, holder: dict, waited: float) -> str:
    what = f"another run of {service} ({holder.get('owner')}, {holder.get('action') or 'unknown action'})"
    since = f"since {holder.get('acquired_at')}"
    if waited < 1:
        return f"{what} is acting {since}: this run ends here (a duplicate trigger)"
    return f"{what} has held the lock {since}; waited {waited:.0f} s: this run ends here (the next alert tries again)"


def _action(params: dict) -> str:
    """What the call does, for its failure message."""
    verb = "release" if params["state"] == "absent" else "renew" if params["renew"] else "take"
    return f"{verb} the run lock of service {params['service']}"


def _take(module: AnsibleModule, store: _state.ServiceState) -> tuple:
    params = module.params
    started = time.monotonic()
    while True:
        mutation = _state.acquire(params["owner"], params["action"], params["ttl"], time.time())
        try:
            changed, before, after, extra = store.change(mutation, module.check_mode)
            waited = round(time.monotonic() - started, 3)
            return changed, before, after, {**extra, "waited": waited, "acquired": True, "busy_reason": ""}
        except _state.Locked as exc:
            waited = time.monotonic() - started
            same_action = params["action"] is not None and exc.holder.get("action") == params["action"]
            if params["busy"] == "skip" and (same_action or waited >= params["wait"]):
                state = store.read()
                extra = {"waited": round(waited, 3), "acquired": False, "holder": exc.holder}
                extra["busy_reason"] = _busy_reason(params["service"], exc.holder, waited)
                return False, state, state, extra
            if waited >= params["wait"]:
                raise ModuleFailure(_action(params), f"{exc} (waited {waited:.0f} s)", holder=exc.holder) from exc
            time.sleep(min(1.0, max(0.05, params["wait"] / 20)))


def _run(module: AnsibleModule) -> dict:
    params = module.params
    if params["ttl"] < 1 or params["wait"] < 0:
        raise ModuleFailure(
            _action(params),
            f"ttl must be at least 1 and wait at least 0 (got ttl={params['ttl']}, wait={params['wait']})",
        )
    try:
        store = _state.ServiceState.from_params(params)
        if params["state"] == "present" and params["renew"]:
            mutation = _state.hold(
                params["owner"],
                params["ttl"],
                time.time(),
                step=params["step"],
                plan=params["plan"],
                progress=params["progress"],
            )
            changed, before, after, extra = store.change(mutation, module.check_mode)
        elif params["state"] == "present":
            changed, before, after, extra = _take(module, store)
        else:
            mutation = _state.release(params["owner"], params["force"], time.time())
            changed, before, after, extra = store.change(mutation, module.check_mode)
    except _state.Locked as exc:
        raise ModuleFailure(_action(params), exc, holder=exc.holder) from exc
    except _state.Lost as exc:
        raise ModuleFailure(_action(params), exc, lost=True) from exc
    except _state.StateError as exc:
        raise ModuleFailure(_action(params), exc) from exc
    result = {"changed": changed, "lock": after["lock"], **extra}
    if params["state"] == "present" and not params["renew"]:
        remaining, _last = _state.cooldown(after, params["cooldown_seconds"], time.time())
        result.update(state=after, suspended=after["suspended"], cooldown_remaining=remaining)
    if module._diff:
        result["diff"] = {"before": {"lock": before["lock"]}, "after": {"lock": after["lock"]}}
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_if=[("state", "present", ("owner",))],
        supports_check_mode=True,
    )
    run(module, _run)


if __name__ == "__main__":
    main()
