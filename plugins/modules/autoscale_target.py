#!/usr/bin/python
# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: autoscale_target
short_description: Add or remove one autoscaled VM's target in a service's Prometheus file_sd file
version_added: 0.1.0
description:
  - The autoscaled VMs of a service are scraped through one file_sd file on the PLG host
    (C(vm_autoscale-<service>-auto.json)), which Prometheus reads again when it changes, with no
    reload. This module adds the target of one VM to it, or removes it, in one call. The entry
    is keyed by the C(vm) label.
  - The file is read, changed and replaced atomically under a lock file next to it
    (C(.<file>.lock)), so two writers never lose each other's change, and Prometheus never
    reads half a file.
  - Entries without a C(vm) label, and those of other VMs, are kept as they are.
  - With O(entries) instead of O(vm), the whole file is made equal to the given entries, under
    the same lock (reconcile writes the targets of the VMs that exist this way).
author:
  - Dana Cloud platform team (@danacloud)
attributes:
  check_mode:
    description: Can run in check mode and reports the change it would make.
    support: full
  diff_mode:
    description: Shows the file's entries before and after.
    support: full
options:
  path:
    description:
      - The service's file_sd file. Its directory must exist (the C(prometheus_autoscale) role makes it).
    type: path
    required: true
  vm:
    description: The VM's name, the entry's C(vm) label. Give O(vm) or O(entries).
    type: str
  entries:
    description:
      - Every entry of the file, as Prometheus's file_sd reads them (C(targets), C(labels)). The file
        is made equal to them; O(target), O(labels) and O(state) do not apply.
    type: list
    elements: dict
  target:
    description: The VM's node_exporter, C(<address>:<port>). Required with O(state=present).
    type: str
  labels:
    description: Labels of the entry besides C(vm), for example C({service = acme-web}).
    type: dict
    default: {}
  state:
    description: V(present) adds the entry or makes it equal; V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  mode:
    description: Mode of a new file (an existing file keeps its own).
    type: raw
    default: "0644"
  lock_timeout:
    description: Seconds to wait for another writer of the file.
    type: int
    default: 30
seealso:
  - name: docs/scale_out.md
    description: Where the target is added in a scale-out, and why there is no Prometheus reload.
    link: https://github.com/danacloud/vm_autoscale/blob/main/docs/scale_out.md
"""

EXAMPLES = r"""
- name: Scrape the new VM
  danacloud.vm_autoscale.autoscale_target:
    path: /etc/prometheus/file_sd/vm_autoscale-acme-web-auto.json
    vm: acme-web-auto-0001
    target: 198.18.1.100:9100
    labels:
      service: acme-web
  delegate_to: "{{ groups['plg'] | first }}"

- name: Stop scraping it
  danacloud.vm_autoscale.autoscale_target:
    path: /etc/prometheus/file_sd/vm_autoscale-acme-web-auto.json
    vm: acme-web-auto-0001
    state: absent
  delegate_to: "{{ groups['plg'] | first }}"

- name: The whole file at once
  danacloud.vm_autoscale.autoscale_target:
    path: /etc/prometheus/file_sd/vm_autoscale-acme-web-auto.json
    entries:
      - targets: [198.18.1.100:9100]
        labels: {service: acme-web, vm: acme-web-auto-0001}
  delegate_to: "{{ groups['plg'] | first }}"
"""

RETURN = r"""
targets:
  description: The file's entries after the call.
  returned: always
  type: list
  elements: dict
  sample: [{"targets": ["198.18.1.100:9100"], "labels": {"service": "acme-web", "vm": "acme-web-auto-0001"}}]
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._failure import ModuleFailure, run
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._files import (
    DocumentError,
    LockUnavailable,
    flocked,
    read_json,
    write_json,
)

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "vm": {"type": "str"},
    "entries": {"type": "list", "elements": "dict"},
    "target": {"type": "str"},
    "labels": {"type": "dict", "default": {}},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "mode": {"type": "raw", "default": "0644"},
    "lock_timeout": {"type": "int", "default": 30},
}


def _read(path: str) -> list:
    try:
        entries = read_json(path, list, blank_is_missing=True)
    except DocumentError as exc:
        raise ValueError(exc.detail) from None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ValueError("not a list of {targets, labels} entries")
    return entries


def _action(params: dict) -> str:
    """What the call does, for its failure message."""
    if params["entries"] is not None:
        return f"write the targets file {params['path']}"
    verb = "add" if params["state"] == "present" else "remove"
    return f"{verb} the target of {params['vm']} in {params['path']}"


def _mode(params: dict) -> int:
    value = params["mode"]
    try:
        return int(value, 8) if isinstance(value, str) else int(value)
    except (TypeError, ValueError) as exc:
        raise ModuleFailure(_action(params), f"mode is {value!r}, expected an octal mode such as '0644'") from exc


def _checked_entries(params: dict) -> list:
    """file_sd entries as Prometheus takes them: a list of targets (strings) and string labels."""
    checked = []
    for index, entry in enumerate(params["entries"]):
        targets, labels = entry.get("targets"), entry.get("labels") or {}
        if set(entry) - {"targets", "labels"} or not isinstance(targets, list) or not isinstance(labels, dict):
            raise ModuleFailure(
                _action(params),
                f"entries[{index}] is {entry!r}, expected {{targets: [<address>:<port>, ...], labels: {{...}}}}",
            )
        checked.append({"targets": [str(target) for target in targets],
                        "labels": {str(key): str(value) for key, value in labels.items()}})  # fmt: skip
    return checked


def _checked(params: dict) -> tuple:
    """The entries to write (or None: one VM's), the file mode, and the folder; or a failure."""
    action = _action(params)
    entries = _checked_entries(params) if params["entries"] is not None else None
    if entries is None and params["state"] == "present":
        host, _sep, port = (params["target"] or "").rpartition(":")
        if not params["target"]:
            raise ModuleFailure(action, "give its target (<address>:<port>) to add it, or state=absent")
        if not host or not port.isdigit():
            raise ModuleFailure(action, f"target is {params['target']!r}, expected <address>:<port>")
    return entries, _mode(params), os.path.dirname(params["path"]) or "."


def _run(module: AnsibleModule) -> dict:
    params = module.params
    path, vm = params["path"], params["vm"]
    entries, mode, directory = _checked(params)
    if not os.path.isdir(directory):
        if params["state"] == "absent" and entries is None:  # no file, so no entry: absent already
            return {"changed": False, "targets": []}
        raise ModuleFailure(_action(params), f"the targets directory {directory} does not exist: check the file_sd "
                            "directory (plg_prometheus_config_dir) and onboard the service first")  # fmt: skip
    lock_path = os.path.join(directory, f".{os.path.basename(path)}.lock")
    try:
        with flocked(lock_path, params["lock_timeout"]):
            try:
                before = _read(path)
            except ValueError as exc:
                raise ModuleFailure(_action(params), f"it is not a file_sd file ({exc}); fix or remove it") from exc
            after = [entry for entry in before if (entry.get("labels") or {}).get("vm") != vm]
            if entries is not None:
                after = entries
            elif params["state"] == "present":
                labels = {str(key): str(value) for key, value in params["labels"].items()}
                entry = {"targets": [params["target"]], "labels": {**labels, "vm": vm}}
                position = next((i for i, e in enumerate(before) if (e.get("labels") or {}).get("vm") == vm), None)
                after.insert(len(after) if position is None else position, entry)
            changed = after != before
            if changed and not module.check_mode:
                write_json(path, after, mode)
    except LockUnavailable as exc:
        raise ModuleFailure(_action(params), f"cannot lock it ({exc.reason}); another writer holds it, retry") from exc
    except OSError as exc:
        raise ModuleFailure(_action(params), f"cannot write {path}: {exc}") from exc
    result = {"changed": changed, "targets": after}
    if module._diff:
        result["diff"] = {"before": json.dumps(before, indent=2) + "\n", "after": json.dumps(after, indent=2) + "\n"}
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_one_of=[("vm", "entries")],
        mutually_exclusive=[("vm", "entries"), ("target", "entries")],
        supports_check_mode=True,
    )
    run(module, _run)


if __name__ == "__main__":
    main()
