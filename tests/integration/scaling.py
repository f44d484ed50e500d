"""What the scale-out and scale-in tests read back (acme-web), and the fixture that prepares the lab."""

import json

from labclient import F5_A, F5_B, f5, vm_names

POOL = "/mgmt/tm/ltm/pool/~Common~acme-web-pool"

# Removes every VM the autoscaler made for acme-web, with the role's own undo steps.
REMOVE_AUTOSCALED = """
- name: Remove acme-web's autoscaled VMs
  hosts: acme-web
  gather_facts: false
  tasks:
    - name: Find the F5 devices to write to
      ansible.builtin.include_role:
        name: danacloud.vm_autoscale.scale_out
        tasks_from: f5_targets.yml
    - name: Undo each VM
      ansible.builtin.include_role:
        name: danacloud.vm_autoscale.scale_out
        tasks_from: undo.yml
      loop: "{{ autoscaled }}"
      loop_control:
        loop_var: scale_out_vm
"""


def members(device):
    return sorted(m["name"] for m in f5("GET", f"{POOL}/members", device=device).json()["items"])


def leases(lab):
    path = lab.state / "statehost" / "vm_autoscale" / "ipam" / "acme-web.json"
    return json.loads(path.read_text())["leases"] if path.exists() else {}


def targets(lab):
    path = lab.state / "plg" / "prometheus" / "file_sd" / "vm_autoscale-acme-web-auto.json"
    return json.loads(path.read_text())


def service_state(lab):
    """acme-web's state document on the state host (lock, cooldown, breaker)."""
    return json.loads((lab.state / "statehost" / "vm_autoscale" / "services" / "acme-web.json").read_text())


def events(lab):
    path = lab.state / "statehost" / "vm_autoscale" / "events" / "acme-web.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def snapshot(lab, vsphere):
    return {
        "vms": sorted(vm_names(vsphere)),
        "bigip-a": members(F5_A),
        "bigip-b": members(F5_B),
        "targets": targets(lab),
        "leases": {ip: (lease["owner"], lease["state"]) for ip, lease in leases(lab).items()},
    }
