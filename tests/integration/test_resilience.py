"""Resilience on the lab: vCenter unreachable in the middle of a scale-out, and one F5 device
down. (Jenkins down when an alert fires, and an alert storm: test_demo_story.py.)

Read back from vcsim (a fresh connection once it answers again), both F5 devices, the leases,
the targets, the state document and the event log."""

import json
import os
import subprocess
from contextlib import contextmanager

from conftest import REPO
from labclient import F5_A, F5_B, emulator, wait_for
from labctl import vcsim
from labctl.plan import load_plan
from labctl.state import default_paths
from pyVim.connect import Disconnect
from pyVmomi import vim
from scaling import events, leases, members, snapshot, targets

VCENTER = load_plan().vcenter["address"]
CLONE = "Clone the service's template into the VM with its static address, and power it on"
NO_COOLDOWN = ("-e", "scale_out_respect_cooldown=false")


@contextmanager
def unreachable(address):
    """``cut()`` makes ``address`` unreachable at once (connections fail with 'No route to host')."""

    def cut():
        subprocess.run(["ip", "route", "add", "unreachable", f"{address}/32"], check=True)
        subprocess.run(["ip", "addr", "del", f"{address}/32", "dev", "lo"], check=True)

    try:
        yield cut
    finally:
        subprocess.run(["ip", "route", "del", "unreachable", f"{address}/32"], check=False, capture_output=True)
        present = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], check=True, capture_output=True, text=True)
        if f" {address}/32 " not in present.stdout:
            subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], check=True)


def autoscaled_vms():
    """The autoscaled VMs of acme-web, through a new vCenter session."""
    paths = default_paths()
    si = vcsim.connect(load_plan(), paths, paths.secrets / "vcenter_password")
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        names = sorted(vm.name for vm in view.view if vm.name.startswith("acme-web-auto-"))
        view.Destroy()
        return names
    finally:
        Disconnect(si)


def state(lab):
    return json.loads((lab.state / "statehost" / "vm_autoscale" / "services" / "acme-web.json").read_text())


def failure_message(stdout):
    for play in json.loads(stdout)["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].endswith("Fail with what went wrong"):
                return task["hosts"]["acme-web"]["msg"]
    raise AssertionError("the run did not fail with its message")


def test_vcenter_unreachable_mid_scale_out_fails_keeps_the_lease_it_cannot_prove_free_then_recovers(
    run_playbook, prepared, vsphere
):
    lab = prepared
    before = snapshot(lab, vsphere)
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", "playbooks/scale_out.yml",
            "-l", "acme-web", *NO_COOLDOWN]  # fmt: skip
    with unreachable(VCENTER) as cut:
        run = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # The moment the address is reserved (step 4), before the clone (step 5) connects.
            ip = wait_for(lambda: next((a for a, lease in leases(lab).items() if lease["state"] == "reserved"), None),
                          60, "the address reserved", interval=0.02)  # fmt: skip
            cut()
            stdout = run.communicate(timeout=300)[0]
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
        assert run.returncode != 0
        message = failure_message(stdout)
    vm = leases(lab)[ip]["owner"]
    # The clone could not be made, nor could vCenter say that no VM exists: the run says what is
    # left, and keeps the VM's address reserved - handing it out again could make two VMs share it.
    assert f"failed at '{CLONE}'" in message and "UNDO INCOMPLETE - remove by hand" in message, message
    assert vm in message and ip in message, message
    event = events(lab)[-1]
    assert event["status"] == "failed" and event["step"] == CLONE and event["undone"] is False, event
    assert state(lab)["consecutive_failures"] == 1 and state(lab)["lock"] is None
    assert leases(lab)[ip]["state"] == "reserved"
    for device in (F5_A, F5_B):
        assert members(device) == before["bigip-a"]
    assert targets(lab) == before["targets"]
    assert autoscaled_vms() == []  # vCenter answers again: the clone never happened

    # vCenter is back. Reconcile finds the reserved address of a VM that does not exist and frees it.
    fixed = run_playbook("playbooks/reconcile.yml", "-l", "acme-web", "-e", "reconcile_fix=true")
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert ip not in leases(lab)
    # The next trigger scales out, with the address that is free again.
    again = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN)
    assert again.returncode == 0, again.stdout[-3000:]
    assert len(autoscaled_vms()) == 1
    assert events(lab)[-1]["status"] == "success" and state(lab)["consecutive_failures"] == 0
    wait_for(lambda: all(f"{ip}:80" in members(d) for d in (F5_A, F5_B)), 30, "the new member on both devices")


def test_one_f5_device_down_fails_the_scale_out_before_any_change_recorded_and_counted(run_playbook, prepared, vsphere):
    lab = prepared
    before = snapshot(lab, vsphere)
    emulator("f5", "POST", "/devices/bigip-b/reachable", {"reachable": False})
    try:
        run = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN)
    finally:
        emulator("f5", "POST", "/devices/bigip-b/reachable", {"reachable": True})
    assert run.returncode != 0
    message = run.task("Fail with what went wrong, before any change", "acme-web")["msg"]
    assert "bigip-b (https://198.18.0.22:443) cannot be reached" in message, message
    assert "before changing anything" in message and "Nothing was changed" in message
    assert snapshot(lab, vsphere) == before
    event = events(lab)[-1]
    assert event["status"] == "failed" and event["undone"] is True and event["actions"] == [], event
    assert event["step"] == "Read the pool on every F5 device, and which device is active"
    assert state(lab)["consecutive_failures"] == 1 and state(lab)["lock"] is None
    # Back: both devices hold the same members, and reconcile finds no drift to repair.
    assert members(F5_A) == members(F5_B) == before["bigip-a"]
    report = run_playbook("playbooks/reconcile.yml", "-l", "acme-web", "-e", "reconcile_fail_on_drift=true")
    assert report.returncode == 0, report.stdout[-3000:]


def test_the_standby_lost_mid_scale_out_keeps_a_stale_member_that_reconcile_removes(run_playbook, prepared, vsphere):
    """bigip-b stops answering after the config sync gave it the new member, while the run waits for
    the member to come up: the undo removes the member from bigip-a, but cannot reach bigip-b. Once
    bigip-b is back, reconcile finds the stale member there and makes both devices equal."""
    lab = prepared
    before = snapshot(lab, vsphere)
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", "playbooks/scale_out.yml",
            "-l", "acme-web", *NO_COOLDOWN, "-e", "scale_out_f5_member_timeout=10"]  # fmt: skip
    run = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    vm = None
    try:
        # Once the lease is confirmed (the VM is healthy), its application fails: the member never
        # comes up, so the run waits on it - and meanwhile the standby goes away.
        ip, vm = wait_for(lambda: next(((a, lease["owner"]) for a, lease in leases(lab).items() if lease["state"] == "in_use"),
                                       None), 120, "the lease confirmed", interval=0.05)  # fmt: skip
        emulator("guests", "PUT", f"/guests/{vm}", {"health": "unhealthy"})
        wait_for(lambda: any(m["address"] == ip for m in emulator("f5", "GET", "/devices/bigip-b/members")),
                 60, "the member synced to bigip-b", interval=0.05)  # fmt: skip
        emulator("f5", "POST", "/devices/bigip-b/reachable", {"reachable": False})
        stdout = run.communicate(timeout=300)[0]
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
        emulator("f5", "POST", "/devices/bigip-b/reachable", {"reachable": True})
        if vm:
            emulator("guests", "PUT", f"/guests/{vm}", {"health": "healthy"})
    assert run.returncode != 0
    message = failure_message(stdout)
    assert "UNDO INCOMPLETE - remove by hand" in message and "bigip-b" in message, message
    assert events(lab)[-1]["undone"] is False
    # The VM, its target and its lease are gone; bigip-a is as before; bigip-b holds the stale member.
    assert autoscaled_vms() == [] and ip not in leases(lab) and targets(lab) == before["targets"]
    assert members(F5_A) == before["bigip-a"]
    assert members(F5_B) == sorted([*before["bigip-b"], f"{ip}:80"])

    report = run_playbook("playbooks/reconcile.yml", "-l", "acme-web", "-e", "reconcile_fail_on_drift=true")
    assert report.returncode != 0 and f"{ip}:80" in report.stdout
    fixed = run_playbook("playbooks/reconcile.yml", "-l", "acme-web", "-e", "reconcile_fix=true")
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert members(F5_A) == members(F5_B) == before["bigip-a"]
    assert emulator("f5", "GET", "/sync-status")["status"] == "In Sync"
