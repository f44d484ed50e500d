"""Resilience on the lab: vCenter unreachable in the middle of a scale-out, and one F5 device
down. (Jenkins down when an alert fires, and an alert storm: test_demo_story.py.)

Read back from vcsim (a fresh connection once it answers again), both F5 devices, the leases,
the targets, the state document and the event log."""

import subprocess
from contextlib import contextmanager

from labclient import F5_A, F5_B, emulator, unreachable_route, vm_names, wait_for
from labctl import vcsim
from labctl.plan import load_plan
from labctl.state import default_paths
from pyVim.connect import Disconnect
from scaling import events, leases, members, service_state, snapshot, targets

VCENTER = load_plan().vcenter["address"]
CLONE = "Clone the service's template into the VM with its static address, and power it on"
NO_COOLDOWN = ("-e", "scale_out_respect_cooldown=false")


@contextmanager
def address_gone(address):
    """``cut()`` takes ``address`` off the lab's loopback, with an unreachable route in its place:
    connections to it fail at once. It is back afterwards."""

    def cut():
        subprocess.run(["ip", "addr", "del", f"{address}/32", "dev", "lo"], check=True)

    try:
        with unreachable_route(f"{address}/32"):
            yield cut
    finally:
        present = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], check=True, capture_output=True, text=True)
        if f" {address}/32 " not in present.stdout:
            subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], check=True)


def autoscaled_vms():
    """The autoscaled VMs of acme-web, through a new vCenter session."""
    paths = default_paths()
    si = vcsim.connect(load_plan(), paths, paths.secrets / "vcenter_password")
    try:
        return sorted(name for name in vm_names(si.RetrieveContent()) if name.startswith("acme-web-auto-"))
    finally:
        Disconnect(si)


def test_vcenter_unreachable_mid_scale_out_fails_keeps_the_lease_it_cannot_prove_free_then_recovers(
    run_playbook, prepared, vsphere
):
    lab = prepared
    before = snapshot(lab, vsphere)
    with address_gone(VCENTER) as cut:
        process = run_playbook.start("playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN)
        try:
            # The moment the address is reserved (step 4), before the clone (step 5) connects.
            ip = wait_for(lambda: next((a for a, lease in leases(lab).items() if lease["state"] == "reserved"), None),
                          60, "the address reserved", interval=0.02)  # fmt: skip
            cut()
        finally:
            run = run_playbook.finish(process, timeout=300)
    assert run.returncode != 0
    message = run.task("Fail with what went wrong", "acme-web")["msg"]
    vm = leases(lab)[ip]["owner"]
    # The clone could not be made, nor could vCenter say that no VM exists: the run says what is
    # left, and keeps the VM's address reserved - handing it out again could make two VMs share it.
    assert f"failed at '{CLONE}'" in message and "UNDO INCOMPLETE - remove by hand" in message, message
    assert vm in message and ip in message, message
    event = events(lab)[-1]
    assert event["status"] == "failed" and event["step"] == CLONE and event["undone"] is False, event
    assert service_state(lab)["consecutive_failures"] == 1 and service_state(lab)["lock"] is None
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
    assert events(lab)[-1]["status"] == "success" and service_state(lab)["consecutive_failures"] == 0
    wait_for(lambda: all(f"{ip}:80" in members(d) for d in (F5_A, F5_B)), 30, "the new member on both devices")


def test_one_f5_device_down_fails_the_scale_out_before_any_change_recorded_and_counted(run_playbook, prepared, vsphere):
    lab = prepared
    before = snapshot(lab, vsphere)
    emulator("f5", "POST", "/devices/bigip-b/reachable", {"reachable": False})
    try:
        run = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN)
        scale_in = run_playbook("playbooks/scale_in.yml", "-l", "acme-web", "-e", "scale_in_respect_cooldown=false")
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
    assert service_state(lab)["consecutive_failures"] == 1 and service_state(lab)["lock"] is None
    # A scale-in meets the same: recorded, not counted by the breaker (it counts scale-outs).
    assert scale_in.returncode != 0
    message = scale_in.task("Fail with what went wrong, before any change", "acme-web")["msg"]
    assert message.startswith("service acme-web: scale-in ") and "bigip-b" in message, message
    event = events(lab)[-1]
    assert (event["action"], event["status"], event["actions"]) == ("scale_in", "failed", []), event
    assert event["step"].startswith("Read the pool on every F5 device"), event
    assert service_state(lab)["consecutive_failures"] == 1 and service_state(lab)["lock"] is None
    assert snapshot(lab, vsphere) == before
    # Back: both devices hold the same members, and reconcile finds no drift to repair.
    assert members(F5_A) == members(F5_B) == before["bigip-a"]
    report = run_playbook("playbooks/reconcile.yml", "-l", "acme-web", "-e", "reconcile_fail_on_drift=true")
    assert report.returncode == 0, report.stdout[-3000:]


def test_the_standby_lost_mid_scale_out_keeps_a_stale_member_that_reconcile_removes(run_playbook, prepared, vsphere):
    """bigip-b stops answering after the config sync gave it the new member, while the run waits for
    the member to come up (it asks bigip-b for the member's stats): the undo removes the member from bigip-a, but cannot reach bigip-b. Once
    bigip-b is back, reconcile finds the stale member there and makes both devices equal."""
    lab = prepared
    before = snapshot(lab, vsphere)
    seen = max((r["seq"] for r in emulator("f5", "GET", "/devices/bigip-b/requests")), default=0)
    process = run_playbook.start("playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN,
                                 "-e", "scale_out_f5_member_timeout=10")  # fmt: skip
    vm = None
    try:
        # Once the lease is confirmed (the VM is healthy), its application fails: the member never
        # comes up, so the run waits on it - and meanwhile the standby goes away.
        ip, vm = wait_for(lambda: next(((a, lease["owner"]) for a, lease in leases(lab).items() if lease["state"] == "in_use"),
                                       None), 120, "the lease confirmed", interval=0.05)  # fmt: skip
        emulator("guests", "PUT", f"/guests/{vm}", {"health": "unhealthy"})
        # The run is past the config sync once it asks bigip-b how the new member is doing.
        wait_for(lambda: any(r["seq"] > seen and ip in r["path"] and r["path"].endswith("/stats")
                             for r in emulator("f5", "GET", "/devices/bigip-b/requests")),
                 60, "the run waiting for the member on bigip-b", interval=0.05)  # fmt: skip
        emulator("f5", "POST", "/devices/bigip-b/reachable", {"reachable": False})
    finally:
        run = run_playbook.finish(process, timeout=300)
        emulator("f5", "POST", "/devices/bigip-b/reachable", {"reachable": True})
        if vm:
            emulator("guests", "PUT", f"/guests/{vm}", {"health": "healthy"})
    assert run.returncode != 0
    message = run.task("Fail with what went wrong", "acme-web")["msg"]
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
