"""playbooks/reconcile.yml on the lab: drift planted in vCenter, on the F5 devices, in the leases
and in the targets is reported (check mode changes nothing), then fixed, read back from vcsim,
both F5 devices, the lease file, the targets file and the event log."""

import json

from labclient import F5_A, F5_B, emulator, f5, find_vm, wait_for
from pyVmomi import vim
from scaling import POOL, events, leases, members, snapshot, targets

UNKNOWN = "198.18.9.9"  # a member the operator put there: neither static nor in the address pool
STRAY = "198.18.1.118"  # in the address pool, no VM
ORPHAN = "acme-web-auto-0099"

PLANT_LEASE = """
- name: A lease whose VM does not exist
  hosts: acme-web
  gather_facts: false
  tasks:
    - name: Lease 198.18.1.117 to a VM that was never made
      danacloud.vm_autoscale.ip_pool_allocate:
        service: acme-web
        owner: acme-web-auto-0098
        ip: 198.18.1.117
        confirm: true
        subnet: 198.18.1.0/24
        start: 198.18.1.100
        end: 198.18.1.119
        lease_dir: "{{ vm_autoscale_state_dir }}/ipam"
      delegate_to: "{{ groups['state_host'] | first }}"
"""


def clone_orphan(content):
    """An autoscaled VM that nothing else knows: what a scale-out whose undo failed leaves."""
    template = find_vm(content, "tpl-acme-web")
    folder = find_vm(content, "acme-web-01").parent
    settings = {"guestinfo.vm_autoscale.service": "acme-web", "guestinfo.vm_autoscale.role": "autoscaled",
                "guestinfo.vm_autoscale.ip": "198.18.1.119"}  # fmt: skip
    spec = vim.vm.CloneSpec(
        location=vim.vm.RelocateSpec(pool=find_vm(content, "acme-web-01").resourcePool),
        powerOn=False,
        template=False,
        config=vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key=k, value=v) for k, v in settings.items()]),
    )
    task = template.CloneVM_Task(folder=folder, name=ORPHAN, spec=spec)
    wait_for(lambda: task.info.state in ("success", "error"), 30, "the clone")
    assert task.info.state == "success", task.info.error


def add_member(ip, device):
    answer = f5("POST", f"{POOL}/members", device=device, json={"name": f"{ip}:80", "address": ip})
    assert answer.status_code == 200, answer.text


def remove_member(ip, device):
    answer = f5("DELETE", f"{POOL}/members/~Common~{ip}:80", device=device)
    assert answer.status_code == 200, answer.text


def report(run):
    return run.task("Report the drift", "acme-web")["msg"]


def test_reconcile_reports_every_drift_then_fixes_it(run_playbook, prepared, vsphere):
    lab = prepared
    out = run_playbook("playbooks/scale_out.yml", "-l", "acme-web")
    assert out.returncode == 0, out.stdout[-3000:]
    vm = next(a for a in events(lab)[-1]["actions"] if a["type"] == "vm-creation")
    name, ip = vm["vm"], vm["ip"]

    # Plant one drift of each kind.
    clone_orphan(vsphere)
    for device in (F5_A, F5_B):
        remove_member(ip, device)  # the autoscaled VM is in no pool
        add_member(STRAY, device)  # a member without VM
        add_member(UNKNOWN, device)  # the operator's: never touched
    remove_member("198.18.1.12", F5_B)  # a static member missing on the standby: the pools differ
    assert run_playbook(PLANT_LEASE).returncode == 0  # a lease without VM
    sd = lab.state / "plg" / "prometheus" / "file_sd" / "vm_autoscale-acme-web-auto.json"
    sd.write_text(json.dumps([*targets(lab), {"targets": ["198.18.1.116:9100"],
                                              "labels": {"service": "acme-web", "vm": "acme-web-auto-0097"}}]))  # fmt: skip

    # Check mode: every drift reported, nothing changed; fail_on_drift turns the run red.
    planted = snapshot(lab, vsphere)
    count = len(events(lab))
    check = run_playbook("playbooks/reconcile.yml", "-l", "acme-web", "--check", "-e", "reconcile_fix=true",
                         "-e", "reconcile_fail_on_drift=true")  # fmt: skip
    assert check.returncode != 0
    lines = report(check)
    assert lines[0] == "service acme-web: 8 drift(s) (report only: -e reconcile_fix=true fixes 7 of them):", lines
    found = {line.split(" ", 2)[0] + " " + line.split(" ", 2)[1].rstrip(":") for line in lines[1:]}
    assert found == {
        f"orphan_vm {ORPHAN}",
        f"vm_not_in_pool {name}",
        f"member_without_vm {STRAY}",
        f"unknown_member {UNKNOWN}",
        "static_member_missing acme-web-02",
        "lease_without_vm 198.18.1.117",
        "target_without_vm acme-web-auto-0097",
        "pool_differs acme-web-pool",
    }, lines
    assert "8 drift(s) left" in check.task("Fail when drift is left (reconcile_fail_on_drift)", "acme-web")["msg"]
    assert snapshot(lab, vsphere) == planted and len(events(lab)) == count

    # Fix.
    fixed = run_playbook("playbooks/reconcile.yml", "-l", "acme-web", "-e", "reconcile_fix=true")
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert find_vm(vsphere, ORPHAN) is None and find_vm(vsphere, name) is not None
    expected = sorted(["198.18.1.11:80", "198.18.1.12:80", f"{ip}:80", f"{UNKNOWN}:80"])
    for device in (F5_A, F5_B):
        assert members(device) == expected, device
    assert emulator("f5", "GET", "/sync-status")["status"] == "In Sync"
    for device in (F5_A, F5_B):  # the member is back and serving

        def available(device=device):
            stats = f5("GET", f"{POOL}/members/~Common~{ip}:80/stats", device=device).json()
            (entry,) = stats["entries"].values()
            return entry["nestedStats"]["entries"]["status.availabilityState"]["description"] == "available"

        wait_for(available, 20, f"{ip} available on {device}")
    assert sorted(leases(lab)) == [ip] and leases(lab)[ip]["owner"] == name
    assert targets(lab) == [{"targets": [f"{ip}:9100"], "labels": {"service": "acme-web", "vm": name}}]
    event = events(lab)[-1]
    assert event["action"] == "reconcile" and event["status"] == "success" and len(event["drift"]) == 8

    # A second run finds only what is the operator's, and fixes nothing.
    count = len(events(lab))
    again = run_playbook("playbooks/reconcile.yml", "-l", "acme-web", "-e", "reconcile_fix=true")
    assert again.returncode == 0
    lines = report(again)
    assert lines[0].startswith("service acme-web: 1 drift(s), fixing 0") and lines[1].startswith(
        f"unknown_member {UNKNOWN}:"
    ), lines
    assert len(events(lab)) == count  # nothing fixed, nothing recorded
    for device in (F5_A, F5_B):
        remove_member(UNKNOWN, device)
