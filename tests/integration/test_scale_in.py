"""playbooks/scale_in.yml on the lab: the newest autoscaled VM leaves after its connections
drained, read back from vcsim, both F5 devices, the targets, the leases and the event log; never
below min, never a static member or a protected VM; a failure to take the member out leaves the
VM untouched and the member back in service."""

import subprocess
import time

from conftest import REPO
from labclient import F5_A, F5_B, emulator, f5, find_vm, wait_for
from pyVmomi import vim
from scaling import POOL, events, leases, members, snapshot, targets

# One VM per run (the lab's acme-web scales in two at a time): these tests follow each VM.
NO_COOLDOWN = (
    "-e",
    "scale_out_respect_cooldown=false",
    "-e",
    "scale_in_respect_cooldown=false",
    "-e",
    "scale_in_step=1",
)


def load(service, demand):
    subprocess.run([str(REPO / "lab" / "load"), service, str(demand)], capture_output=True, check=True)


def scale_out_two(run_playbook, lab):
    """Two new VMs; their names, oldest first (numbering follows what vCenter lists)."""
    run = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", "scale_out_step=2", *NO_COOLDOWN)
    assert run.returncode == 0, run.stdout[-3000:]
    return [a["vm"] for a in events(lab)[-1]["actions"] if a["type"] == "vm-creation"]


def hold(vm, count, seconds):
    """Open ``count`` long sessions on the VM's guest for ``seconds`` (lab/load --hold): they stay
    open whatever the F5 does with the member, as downloads or websockets do on a real one."""
    done = subprocess.run([str(REPO / "lab" / "load"), "--vm", vm, "--hold", str(count), "--seconds", str(seconds)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return time.monotonic() + seconds


def release(vm):
    """End the VM's held sessions now (lab/load --release)."""
    done = subprocess.run(
        [str(REPO / "lab" / "load"), "--vm", vm, "--release"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def connections(ip):
    """The connections bigip-a (the active device, which the guests report to) counts to a member."""
    stats = f5("GET", f"{POOL}/members/~Common~{ip}:80/stats", device=F5_A).json()
    (entry,) = stats["entries"].values()
    return entry["nestedStats"]["entries"]["serverside.curConns"]["value"]


def ip_of(vsphere, name):
    vm = find_vm(vsphere, name)
    return {o.key: o.value for o in vm.config.extraConfig}["guestinfo.vm_autoscale.ip"]


def test_the_newest_vm_is_drained_and_removed_and_min_holds(run_playbook, prepared, vsphere):
    lab = prepared
    first, second = scale_out_two(run_playbook, lab)
    newest, older = ip_of(vsphere, second), ip_of(vsphere, first)
    load("acme-web", 150)  # the members hold connections: the drain has something to wait for
    try:
        wait_for(lambda: connections(newest) > 5, 20, "connections on the newest member")
        # Long sessions on the newest member outlast a 2 s drain: with abort, the member goes back
        # into service. They stay until released, however long the run takes to reach its drain.
        hold(second, 3, 3600)
        before = snapshot(lab, vsphere)
        aborted = run_playbook("playbooks/scale_in.yml", "-l", "acme-web", *NO_COOLDOWN, "-e", "scale_in_drain_timeout=2",
                               "-e", "scale_in_drain_timeout_action=abort", "-e", "scale_in_poll_interval=1")  # fmt: skip
        assert aborted.returncode != 0
        message = aborted.task("Fail with what went wrong", "acme-web")["msg"]
        assert f"failed at 'Decide what a drain that timed out means' (VM {second})" in message
        assert "still had connections on bigip-a" in message and "after 2 s of draining" in message
        assert "The member was put back in service; the VM was not touched." in message
        assert snapshot(lab, vsphere) == before and find_vm(vsphere, second).runtime.powerState == "poweredOn"
        for device in (F5_A, F5_B):
            member = f5("GET", f"{POOL}/members/~Common~{newest}:80", device=device).json()
            assert member["session"] in ("monitor-enabled", "user-enabled"), member
        assert events(lab)[-1]["status"] == "failed"

        # The default timeout (300 s) and proceed: the drain waits until every connection ended,
        # the long sessions included (new ones of 20 s: whenever the drain starts, the VM leaves after they end).
        release(second)
        sessions_end = hold(second, 3, 20)
        wait_for(lambda: connections(newest) > 5, 20, "connections back on the newest member")
        run = run_playbook("playbooks/scale_in.yml", "-l", "acme-web", *NO_COOLDOWN)
        assert run.returncode == 0, run.stdout[-3000:]
        assert time.monotonic() >= sessions_end, "the VM left before its long sessions ended"
        assert find_vm(vsphere, second) is None and find_vm(vsphere, first) is not None
        for device in (F5_A, F5_B):
            assert members(device) == sorted(["198.18.1.11:80", "198.18.1.12:80", f"{older}:80"])
        assert emulator("f5", "GET", "/sync-status")["status"] == "In Sync"
        assert [t["labels"]["vm"] for t in targets(lab)] == [first]
        assert newest not in leases(lab) and leases(lab)[older]["state"] == "in_use"
        event = events(lab)[-1]
        assert event["action"] == "scale_in" and event["status"] == "success"
        assert [a["type"] for a in event["actions"]] == ["f5-pool-disable", "drain", "f5-pool-remove",
                                                         "vm-deletion", "ip-release"]  # fmt: skip
        assert event["actions"][1] == {"type": "drain", "vm": second, "drained": True, "busy_on": []}

        # Down to min (2), with a 1 s timeout and proceed: the member still holds connections and goes anyway.
        wait_for(lambda: connections(older) > 5, 20, "connections on the older member")
        hold(first, 2, 3600)  # they go with the VM
        hurried = run_playbook("playbooks/scale_in.yml", "-l", "acme-web", *NO_COOLDOWN, "-e", "scale_in_drain_timeout=1",
                               "-e", "scale_in_poll_interval=1")  # fmt: skip
        assert hurried.returncode == 0, hurried.stdout[-3000:]
        drain = events(lab)[-1]["actions"][1]
        assert drain["vm"] == first and drain["drained"] is False and "bigip-a" in drain["busy_on"]
        assert find_vm(vsphere, first) is None
    finally:
        load("acme-web", 0)

    # At min nothing more goes.
    before = snapshot(lab, vsphere)
    at_min = run_playbook("playbooks/scale_in.yml", "-l", "acme-web", *NO_COOLDOWN)
    assert at_min.returncode == 0
    assert "no scale-in: at min: 2 of min 2 instances" in at_min.task("Say why nothing is done", "acme-web")["msg"]
    assert snapshot(lab, vsphere) == before
    assert find_vm(vsphere, "acme-web-01") is not None and find_vm(vsphere, "acme-web-02") is not None


def test_a_protected_vm_is_never_picked(run_playbook, prepared, vsphere):
    first, second = scale_out_two(run_playbook, prepared)
    newest = find_vm(vsphere, second)
    spec = vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key="guestinfo.vm_autoscale.protected", value="true")])
    task = newest.ReconfigVM_Task(spec)
    wait_for(lambda: task.info.state in ("success", "error"), 10, "the reconfiguration")
    run = run_playbook("playbooks/scale_in.yml", "-l", "acme-web", *NO_COOLDOWN)
    assert run.returncode == 0, run.stdout[-3000:]
    assert find_vm(vsphere, second) is not None and find_vm(vsphere, first) is None


def test_when_the_member_cannot_be_removed_the_vm_is_untouched_and_back_in_service(run_playbook, prepared, vsphere):
    lab = prepared
    _first, second = scale_out_two(run_playbook, lab)
    newest = ip_of(vsphere, second)
    before = snapshot(lab, vsphere)
    emulator("f5", "POST", "/faults", {"device": "bigip-a", "method": "DELETE", "path": f"{POOL}/members",
                                       "status": 500, "count": 5})  # fmt: skip
    run = run_playbook("playbooks/scale_in.yml", "-l", "acme-web", *NO_COOLDOWN)
    assert run.returncode != 0
    message = run.task("Fail with what went wrong", "acme-web")["msg"]
    assert "The member was put back in service; the VM was not touched." in message
    assert find_vm(vsphere, second).runtime.powerState == "poweredOn"
    for device in (F5_A, F5_B):
        member = f5("GET", f"{POOL}/members/~Common~{newest}:80", device=device).json()
        assert member["session"] in ("monitor-enabled", "user-enabled"), member
    assert snapshot(lab, vsphere) == before
    event = events(lab)[-1]
    assert event["status"] == "failed" and "Remove the member from the pool" in event["step"]
