#!/usr/bin/python
# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: f5_config_sync
short_description: Sync a BIG-IP device's configuration to its device group and wait until it is in sync
version_added: 0.1.0
description:
  - Runs C(config-sync to-group) on the device (the active one of a sync-failover pair), then
    polls C(cm/sync-status) every O(interval) seconds until the group reports C(In Sync).
  - The status is the group's own line of the sync status details; other device groups of the
    trust domain (C(device_trust_group), C(datasync-global-dg)) that hold the overall status at
    C(Changes Pending) neither make it sync nor keep it waiting.
  - Does nothing when the group is in sync already.
  - The sync is asynchronous on BIG-IP. A sync refused because one of the group is under way
    (another run's), or a group still C(Changes Pending) or C(Not All Devices Synced) 3 s after
    the last ask (a change that reached the device while another sync ran), is asked again, so
    that two runs syncing the same group at once both end in sync.
  - Fails when the group is C(Disconnected) (a peer is unreachable), in a status no sync passes
    through, or not in sync after O(timeout), naming the status, BIG-IP's summary and its
    recommended action.
  - The same iControl REST call as C(f5networks.f5_modules.bigip_configsync_action) with
    C(sync_device_to_group=true), which waits 3 s before it first looks; a scale action syncs
    up to twice.
author:
  - Dana Cloud platform team (@danacloud)
extends_documentation_fragment:
  - danacloud.vm_autoscale.f5
attributes:
  check_mode:
    description: Reads the status and reports whether it would sync.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
options:
  server:
    description: The device's management address.
    type: str
    required: true
  server_port:
    description: Its management port.
    type: int
    default: 443
  name:
    description: The device's name, for messages.
    type: str
  device_group:
    description: The sync-failover device group.
    type: str
    required: true
  timeout:
    description: Seconds to wait for the group to be in sync.
    type: int
    default: 120
  interval:
    description: Seconds between two looks at the sync status.
    type: float
    default: 1
"""

EXAMPLES = r"""
- name: Push the change to the peer
  danacloud.vm_autoscale.f5_config_sync:
    server: "{{ active.server }}"
    name: "{{ active.name }}"
    username: "{{ f5_username }}"
    password: "{{ f5_password }}"
    device_group: "{{ f5_device_group }}"
  delegate_to: localhost
"""

RETURN = r"""
status:
  description: The group's own sync status at the end (C(In Sync) on success).
  returned: always
  type: str
summary:
  description: BIG-IP's summary of it.
  returned: always
  type: str
waited:
  description: Seconds from the sync until the group was in sync.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _bigip
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._failure import ModuleFailure, run

ARGUMENT_SPEC = {
    "server": {"type": "str", "required": True},
    "server_port": {"type": "int", "default": 443},
    "name": {"type": "str"},
    **_bigip.AUTH_SPEC,
    "device_group": {"type": "str", "required": True},
    "timeout": {"type": "int", "default": 120},
    "interval": {"type": "float", "default": 1},
}


def _sync(module: AnsibleModule) -> dict:
    params = module.params
    auth = {"username": params["username"], "password": params["password"], "timeout": 30,
            "validate_certs": params["validate_certs"], "ca_path": params["ca_path"]}  # fmt: skip
    name = params["name"] or params["server"]
    device = _bigip.Device({"name": name, "server": params["server"], "server_port": params["server_port"]}, auth)
    try:
        if module.check_mode:
            state = _bigip.sync_status(device, params["device_group"])
            status = state["group_status"]
            return {"changed": status != "In Sync", "status": status, "summary": state["summary"], "waited": 0.0}
        synced, status, summary, waited = _bigip.config_sync(
            device, params["device_group"], timeout=params["timeout"], interval=params["interval"]
        )
    except _bigip.BigipError as exc:
        raise ModuleFailure(f"sync device group {params['device_group']} from {name}", exc) from exc
    return {"changed": synced, "status": status, "summary": summary, "waited": waited}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run(module, _sync)


if __name__ == "__main__":
    main()
