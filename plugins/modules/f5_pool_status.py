#!/usr/bin/python
# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: f5_pool_status
short_description: Read a pool on every device of a BIG-IP pair at once, and wait on a member's state
version_added: 0.1.0
description:
  - Reads the pool's members on every device, and optionally which device is active
    (C(cm/failover-status)), in one call over iControl REST. RV(agree) says whether the devices
    hold the same members.
  - With O(wait), polls one member's stats on every device until it is V(available) on all of
    them (after a scale-out) or V(drained), with no current connections on any of them (before a
    scale-in removes it), or until O(wait.timeout).
  - Changes to the pool are made with C(f5networks.f5_modules); this module only reads. It
    replaces a read task per device and URL with one module run, which is most of a scale
    action's F5 time.
author:
  - Dana Cloud platform team (@danacloud)
extends_documentation_fragment:
  - danacloud.vm_autoscale.f5
attributes:
  check_mode:
    description: Only reads; runs the same in check mode.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
options:
  devices:
    description: The devices, as the inventory's C(f5_devices) lists them.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The device's name, used in results and messages.
        type: str
        required: true
      server:
        description: Its management address.
        type: str
        required: true
      server_port:
        description: Its management port.
        type: int
        default: 443
  timeout:
    description: Seconds per request.
    type: int
    default: 10
  partition:
    description: The pool's partition.
    type: str
    default: Common
  pool:
    description: The pool's name.
    type: str
    required: true
  failover:
    description: Also read each device's failover state and return the active device.
    type: bool
    default: false
  wait:
    description: Wait on one member's state on every device (members are then not read).
    type: dict
    suboptions:
      member:
        description: The member, C(<address>:<port>).
        type: str
        required: true
      until:
        description: V(available) on every device, or V(drained) (no current connections on any device).
        type: str
        choices: [available, drained]
        required: true
      timeout:
        description: Seconds to wait.
        type: int
        default: 120
      interval:
        description: Seconds between two polls.
        type: float
        default: 2
      fail_on_timeout:
        description: Fail when the state is not reached in time; false returns RV(met=false).
        type: bool
        default: true
"""

EXAMPLES = r"""
- name: Read the pool on both devices, and which one is active
  danacloud.vm_autoscale.f5_pool_status:
    devices: "{{ f5_devices }}"
    username: "{{ f5_username }}"
    password: "{{ f5_password }}"
    pool: acme-web-pool
    failover: true
  delegate_to: localhost
  register: pool

- name: Wait until the new member is available on every device
  danacloud.vm_autoscale.f5_pool_status:
    devices: "{{ f5_devices }}"
    username: "{{ f5_username }}"
    password: "{{ f5_password }}"
    pool: acme-web-pool
    wait:
      member: 198.18.1.100:80
      until: available
      timeout: 120
  delegate_to: localhost
"""

RETURN = r"""
devices:
  description: Per device, its name, its failover state (with O(failover)) and the pool's members.
  returned: without O(wait)
  type: list
  elements: dict
  sample: [{"name": "bigip-a", "failover": "ACTIVE", "members": [{"name": "198.18.1.11:80", "address": "198.18.1.11",
            "session": "monitor-enabled", "state": "up", "description": ""}]}]
active:
  description: The device that reports itself ACTIVE (null when none does, or without O(failover)).
  returned: without O(wait)
  type: str
agree:
  description: Every device holds the same member names.
  returned: without O(wait)
  type: bool
member_names:
  description: The member names of the first device, sorted.
  returned: without O(wait)
  type: list
  elements: str
stats:
  description: Per device, the member's C(availability), C(enabled) and C(connections) (null when it is not in the pool).
  returned: with O(wait)
  type: dict
met:
  description: The state waited for was reached on every device.
  returned: with O(wait)
  type: bool
waited:
  description: Seconds waited.
  returned: with O(wait)
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _bigip
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._failure import ModuleFailure, run

ARGUMENT_SPEC = {
    "devices": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {
            "name": {"type": "str", "required": True},
            "server": {"type": "str", "required": True},
            "server_port": {"type": "int", "default": 443},
        },
    },
    **_bigip.AUTH_SPEC,
    "timeout": {"type": "int", "default": 10},
    "partition": {"type": "str", "default": "Common"},
    "pool": {"type": "str", "required": True},
    "failover": {"type": "bool", "default": False},
    "wait": {
        "type": "dict",
        "options": {
            "member": {"type": "str", "required": True},
            "until": {"type": "str", "choices": ["available", "drained"], "required": True},
            "timeout": {"type": "int", "default": 120},
            "interval": {"type": "float", "default": 2},
            "fail_on_timeout": {"type": "bool", "default": True},
        },
    },
}


def _wait(devices: list, partition: str, pool: str, wait: dict) -> dict:
    """Poll the member on every device until it is available or drained (or the timeout)."""
    action = f"wait for member {wait['member']} of pool {pool}"
    try:
        stats, met, waited = _bigip.wait_member(
            devices,
            partition,
            pool,
            wait["member"],
            until=wait["until"],
            timeout=wait["timeout"],
            interval=wait["interval"],
        )
    except _bigip.BigipError as exc:
        raise ModuleFailure(action, exc) from exc
    result = {"changed": False, "stats": stats, "met": met, "waited": waited}
    if not met and wait["fail_on_timeout"]:
        states = "; ".join(
            f"{name}: " + ("not in the pool" if value is None else
                           f"{value['availability']}, {value['enabled']}, {value['connections']} connections")
            for name, value in stats.items()
        )  # fmt: skip
        raise ModuleFailure(
            action, f"it is not {wait['until']} on every device after {waited:.0f} s ({states})", **result
        )
    return result


def _read(devices: list, partition: str, pool: str, failover: bool) -> dict:
    """The pool's members on every device (and which device is active)."""
    read = []
    try:
        for device in devices:
            entry = {"name": device.name, "members": _bigip.members(device, partition, pool)}
            if failover:
                entry["failover"] = _bigip.failover(device)
            read.append(entry)
    except _bigip.BigipError as exc:
        raise ModuleFailure(f"read pool {pool}", exc) from exc
    names = [sorted(member["name"] for member in entry["members"]) for entry in read]
    return {
        "changed": False,
        "devices": read,
        "active": next((entry["name"] for entry in read if entry.get("failover") == "ACTIVE"), None),
        "agree": all(each == names[0] for each in names),
        "member_names": names[0],
    }


def _run(module: AnsibleModule) -> dict:
    params = module.params
    if not params["devices"]:
        raise ModuleFailure(f"read pool {params['pool']}", "devices is empty: list the F5 devices (f5_devices)")
    auth = {key: params[key] for key in ("username", "password", "validate_certs", "ca_path", "timeout")}
    devices = [_bigip.Device(device, auth) for device in params["devices"]]
    if params["wait"]:
        return _wait(devices, params["partition"], params["pool"], params["wait"])
    return _read(devices, params["partition"], params["pool"], params["failover"])


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run(module, _run)


if __name__ == "__main__":
    main()
