"""playbooks/scale_out.yml on the lab: a VM added in the safe order, read back from vcsim, both
F5 devices, the targets file, the lease file, the event log and Prometheus; guards; a failure
half-way leaves every system exactly as before, with a failed event naming the step."""

import contextlib
import json
import os
import re
import subprocess
from urllib.parse import urlsplit

import yaml
from conftest import REPO
from labclient import F5_A, F5_B, emulator, f5, find_vm, prometheus_value, unreachable_route, vm_names, wait_for
from labctl.plan import load_plan
from scaling import POOL, events, leases, members, remove_autoscaled, service_state, snapshot, targets

VCENTER = load_plan().vcenter["address"]


def test_scale_out_adds_a_ready_vm_everywhere_then_cooldown_holds(run_playbook, prepared, vsphere):
    lab = prepared
    run = run_playbook("playbooks/scale_out.yml", "-l", "acme-web")
    assert run.returncode == 0, run.stdout[-3000:]

    # The name comes after the highest number vCenter lists (0001 on a fresh lab).
    name = next(a["vm"] for a in events(lab)[-1]["actions"] if a["type"] == "vm-creation")
    assert name.startswith("acme-web-auto-")
    vm = find_vm(vsphere, name)
    assert vm is not None and vm.runtime.powerState == "poweredOn" and not vm.config.template
    settings = {option.key: option.value for option in vm.config.extraConfig}
    ip = settings["guestinfo.vm_autoscale.ip"]
    assert settings["guestinfo.vm_autoscale.service"] == "acme-web"
    assert settings["guestinfo.vm_autoscale.role"] == "autoscaled"
    assert f"Autoscaled member of acme-web ({ip})" in vm.config.annotation

    for device in (F5_A, F5_B):
        assert members(device) == sorted(["198.18.1.11:80", "198.18.1.12:80", f"{ip}:80"])
        stats = f5("GET", f"{POOL}/members/~Common~{ip}:80/stats", device=device).json()
        (entry,) = stats["entries"].values()
        assert entry["nestedStats"]["entries"]["status.availabilityState"]["description"] == "available"
    assert emulator("f5", "GET", "/sync-status")["status"] == "In Sync"

    assert targets(lab) == [{"targets": [f"{ip}:9100"], "labels": {"service": "acme-web", "vm": name}}]
    assert leases(lab)[ip]["owner"] == name and leases(lab)[ip]["state"] == "in_use"
    event = events(lab)[-1]
    assert event["status"] == "success" and event["action"] == "scale_out"
    assert [a["type"] for a in event["actions"]] == ["ip-allocation", "vm-creation", "f5-pool-add"]
    assert event["actions"][1]["vm_id"] == vm._moId
    # Prometheus scrapes the new VM through the file_sd target (no reload), and the metric follows.
    wait_for(lambda: prometheus_value(f'up{{instance="{ip}:9100",service="acme-web"}}') == 1, 30, "the new target up")
    wait_for(lambda: prometheus_value('vm_autoscale_instances{service="acme-web"}') == 3, 30, "instances = 3")
    # Its CPU is in Prometheus under the service's label: what the service's CPU rules aggregate.
    cpu = f'count(node_cpu_seconds_total{{instance="{ip}:9100",service="acme-web",vm="{name}",mode="user"}})'
    wait_for(lambda: prometheus_value(cpu) == 2, 30, "the new VM's 2 CPUs in Prometheus")

    before = snapshot(lab, vsphere)
    # A run refused by the cooldown reads neither vCenter nor the F5 devices: with the routes to all
    # three cut it still ends green as skipped (a read would have failed it).
    with contextlib.ExitStack() as cut:
        for address in (VCENTER, *(urlsplit(device).hostname for device in (F5_A, F5_B))):
            cut.enter_context(unreachable_route(f"{address}/32"))
        again = run_playbook("playbooks/scale_out.yml", "-l", "acme-web")
    assert again.returncode == 0, again.stdout[-3000:]
    assert "no scale-out: in cooldown for" in again.task("Say why nothing is done", "acme-web")["msg"]
    assert again.task("List the service's VMs in vCenter", "acme-web").get("skipped") is True
    assert snapshot(lab, vsphere) == before
    assert events(lab)[-1]["status"] == "skipped" and "in cooldown" in events(lab)[-1]["reason"]


def test_a_dry_run_prints_the_plan_and_changes_nothing(run_playbook, prepared, vsphere):
    lab = prepared
    before = snapshot(lab, vsphere)
    count = len(events(lab))
    run = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", "scale_out_dry_run=true",
                       "-e", "scale_out_step=2")  # fmt: skip
    assert run.returncode == 0
    plan = run.task("The plan (dry run, nothing changed)", "acme-web")["msg"]
    assert plan[0] == "service acme-web: would scale out from 2 to 4 instances (max 4):"
    assert plan[1].startswith("- clone tpl-acme-web into acme-web-auto-0") and "with IP 198.18.1.1" in plan[1]
    assert "to acme-web-pool on bigip-a and bigip-b" in plan[2]
    assert snapshot(lab, vsphere) == before and len(events(lab)) == count


def test_an_f5_failure_undoes_every_step_and_is_recorded(run_playbook, prepared, vsphere):
    lab = prepared
    before = snapshot(lab, vsphere)
    emulator("f5", "POST", "/faults", {"device": "bigip-a", "method": "POST", "path": f"{POOL}/members",
                                       "status": 500, "count": 3})  # fmt: skip
    run = run_playbook("playbooks/scale_out.yml", "-l", "acme-web")
    assert run.returncode != 0
    message = run.task("Fail with what went wrong", "acme-web")["msg"]
    assert "failed at 'Add the member to the pool (active device, or every device)'" in message
    assert "Everything it made was removed (VMs acme-web-auto-0" in message
    wait_for(lambda: snapshot(lab, vsphere) == before, 10, "every system as before")
    event = events(lab)[-1]
    assert (
        event["status"] == "failed" and event["step"] == "Add the member to the pool (active device, or every device)"
    )
    assert event["undone"] is True and [a["type"] for a in event["actions"]] == ["ip-allocation", "vm-creation"]
    state = service_state(lab)
    assert state["consecutive_failures"] == 1 and state["lock"] is None


def test_a_vm_that_does_not_boot_in_time_is_deleted_and_its_lease_released(run_playbook, prepared, vsphere):
    lab = prepared
    before = snapshot(lab, vsphere)
    # The lab's guests boot in 5 s (lab/plan.yml): a 1 s boot timeout is a VM that never boots.
    run = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", "scale_out_boot_timeout=1")
    assert run.returncode != 0
    message = run.task("Fail with what went wrong", "acme-web")["msg"]
    assert "failed at 'Wait for the VM to boot (its application port accepts connections)'" in message
    wait_for(lambda: snapshot(lab, vsphere) == before, 10, "every system as before")
    event = events(lab)[-1]
    assert event["status"] == "failed" and event["undone"] is True
    assert [a["type"] for a in event["actions"]] == ["ip-allocation", "vm-creation"]


def test_no_free_address_fails_before_anything_is_made(run_playbook, prepared, vsphere):
    lab = prepared
    before = snapshot(lab, vsphere)
    # Every address of the pool held back: the pool is exhausted.
    exclude = json.dumps({"scale_out_exclude": ["198.18.1.100-198.18.1.119"]})
    run = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", exclude)
    assert run.returncode != 0
    message = run.task("Fail with what went wrong", "acme-web")["msg"]
    assert "failed at 'Reserve an address" in message and "no free address in pool acme-web" in message
    assert snapshot(lab, vsphere) == before
    assert events(lab)[-1]["status"] == "failed" and events(lab)[-1]["actions"] == []


def test_two_triggers_at_once_make_one_vm(lab, prepared, vsphere):
    """Two runs for the same service started together: the lock lets one act; the other then meets the cooldown."""
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    command = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", "playbooks/scale_out.yml",
               "-l", "acme-web"]  # fmt: skip
    runs = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True) for _n in range(2)]
    outputs = [json.loads(run.communicate(timeout=600)[0]) for run in runs]
    assert all(run.returncode == 0 for run in runs)
    autoscaled = [name for name in vm_names(vsphere) if name.startswith("acme-web-auto-")]
    assert len(autoscaled) == 1, autoscaled
    assert len(members(F5_A)) == 3 and len(members(F5_B)) == 3
    statuses = sorted(e["status"] for e in events(prepared)[-2:])
    assert statuses == ["skipped", "success"], statuses
    reason = next(e["reason"] for e in events(prepared)[-2:] if e["status"] == "skipped")
    assert "in cooldown" in reason or "is acting since" in reason, reason
    assert all(o["stats"]["acme-web"]["failures"] == 0 for o in outputs)


def test_two_services_at_once_both_scale(run_playbook, prepared, vsphere):
    """Two services scaled in one run act side by side: their config syncs of the one device group
    overlap (each service has its own lock), the emulator refuses the second while the first
    runs, as a sync under way is refused, and both end in sync."""
    globex_state = prepared.state / "statehost" / "vm_autoscale" / "services" / "globex-api.json"
    globex_state.unlink(missing_ok=True)
    timing = emulator("f5", "GET", "/sync-timing")
    emulator("f5", "PUT", "/sync-timing", {"start_seconds": 0.5, "seconds": 4})  # sure to overlap
    seq = emulator("f5", "GET", "/devices/bigip-a/requests")[-1]["seq"]
    run = run_playbook(
        "playbooks/scale_out.yml", "-l", "acme-web,globex-api", "-e", "vm_autoscale_several_services=true"
    )
    emulator("f5", "PUT", "/sync-timing", timing)
    try:
        assert run.returncode == 0, run.stdout[-3000:]
        names = vm_names(vsphere)
        assert len([n for n in names if n.startswith("acme-web-auto-")]) == 1
        globex = [n for n in names if n.startswith("globex-api-auto-")]
        assert len(globex) == 1
        for device in (F5_A, F5_B):
            globex_members = f5("GET", "/mgmt/tm/ltm/pool/~Common~globex-api-pool/members", device=device).json()
            assert len(globex_members["items"]) == 3 and all(
                m["name"].endswith(":8080") for m in globex_members["items"]
            )
            assert len(members(device)) == 3
        syncs = [c for c in emulator("f5", "GET", f"/devices/bigip-a/requests?since={seq}")
                 if c["method"] == "POST" and c["path"].rstrip("/") == "/mgmt/tm/cm"]  # fmt: skip
        assert 400 in [c["status"] for c in syncs] and 200 in [c["status"] for c in syncs], syncs
        assert emulator("f5", "GET", "/sync-status")["status"] == "In Sync"
    finally:
        remove_autoscaled(prepared, vsphere, "globex-api")
        globex_state.unlink(missing_ok=True)


def _failed_run(run_playbook, lab, vsphere, step, *args):
    """A scale-out that fails at ``step`` and leaves every system exactly as before; its message."""
    before = snapshot(lab, vsphere)
    run = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", "scale_out_respect_cooldown=false", *args)
    assert run.returncode != 0, run.stdout[-3000:]
    message = run.task("Fail with what went wrong", "acme-web")["msg"]
    assert f"failed at '{step}'" in message, message
    wait_for(lambda: snapshot(lab, vsphere) == before, 10, "every system as before")
    event = events(lab)[-1]
    assert event["status"] == "failed" and event["step"] == step and event["undone"] is True, event
    return message


def test_failures_at_each_step_are_undone_and_three_in_a_row_open_the_breaker(run_playbook, prepared, vsphere):
    lab = prepared
    # 1. The clone fails (no such cluster; a missing template is refused before any change, and is
    #    not counted - test_template_check.py): the lease taken for it is released, and the message
    #    names the lease, not a VM that was never made.
    message = _failed_run(run_playbook, lab, vsphere, "Clone the service's template into the VM with its static address, and power it on",
                          "-e", "scale_out_cluster=NoSuchCluster")  # fmt: skip
    assert re.search(r"Everything it made was removed \(IP leases 198\.18\.1\.\d+\)\.", message), message
    assert service_state(lab)["consecutive_failures"] == 1

    # 2. The VM boots but its application never becomes healthy: the VM is deleted.
    autoscaled = [int(n.rsplit("-", 1)[1]) for n in vm_names(vsphere) if n.startswith("acme-web-auto-")]
    upcoming = [f"acme-web-auto-{n:04d}" for n in range(max(autoscaled, default=0) + 1, max(autoscaled, default=0) + 4)]
    for name in upcoming:
        emulator("guests", "PUT", f"/guests/{name}", {"health": "unhealthy"})
    try:
        _failed_run(run_playbook, lab, vsphere, "Wait for the application's health endpoint",
                    "-e", "scale_out_health_timeout=3", "-e", "scale_out_poll_interval=1")  # fmt: skip
    finally:
        for name in upcoming:
            emulator("guests", "PUT", f"/guests/{name}", {"health": "healthy"})
    assert service_state(lab)["consecutive_failures"] == 2

    # 3. Prometheus cannot be given the new target (its file_sd directory is not there; the
    #    autoscaled targets need no reload): the third failure in a row opens the breaker.
    message = _failed_run(run_playbook, lab, vsphere, "Add the VM to the service's Prometheus targets (file_sd, read without a reload)",
                          "-e", "scale_out_file_sd_dir=/nonexistent/file_sd")  # fmt: skip
    assert "The circuit breaker is now open" in message
    state = service_state(lab)
    assert state["consecutive_failures"] == 3 and state["suspended"] is True
    wait_for(lambda: prometheus_value('vm_autoscale_suspended{service="acme-web"}') == 1, 30, "suspended in Prometheus")

    # Suspended: the next trigger does nothing until the documented reset.
    before = snapshot(lab, vsphere)
    held = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", "scale_out_respect_cooldown=false")
    assert held.returncode == 0
    assert "no scale-out: suspended by the circuit breaker" in held.task("Say why nothing is done", "acme-web")["msg"]
    assert snapshot(lab, vsphere) == before and events(lab)[-1]["status"] == "skipped"
    reset = run_playbook("playbooks/breaker_reset.yml", "-l", "acme-web", "-e", "reset_reason=tests fixed the faults")
    assert reset.returncode == 0
    assert service_state(lab)["suspended"] is False and service_state(lab)["consecutive_failures"] == 0

    # 4. An F5 error on one device only (every device written on its own): the member already
    #    added on the other device is removed again.
    seen = max((r["seq"] for r in emulator("f5", "GET", "/devices/bigip-a/requests")), default=0)
    emulator("f5", "POST", "/faults", {"device": "bigip-b", "method": "POST", "path": f"{POOL}/members",
                                       "status": 500, "count": 1})  # fmt: skip
    _failed_run(run_playbook, lab, vsphere, "Add the member to the pool (active device, or every device)",
                "-e", "scale_out_f5_mode=each")  # fmt: skip
    on_a = [(r["method"], r["status"]) for r in emulator("f5", "GET", f"/devices/bigip-a/requests?since={seen}")
            if r["path"].startswith(f"{POOL}/members")]  # fmt: skip
    assert ("POST", 200) in on_a and ("DELETE", 200) in on_a, on_a  # added on bigip-a, then removed again
    assert service_state(lab)["consecutive_failures"] == 1


def test_at_max_and_disabled_nothing_is_done_and_it_is_recorded(run_playbook, prepared, vsphere):
    lab = prepared
    # At max (4): two more members in the pool on both devices count as instances.
    extra = ["198.18.1.240", "198.18.1.241"]
    for device in (F5_A, F5_B):
        for ip in extra:
            answer = f5("POST", f"{POOL}/members", device=device, json={"name": f"{ip}:80", "address": ip})
            assert answer.status_code == 200, answer.text
    try:
        before = snapshot(lab, vsphere)
        full = run_playbook("playbooks/scale_out.yml", "-l", "acme-web")
        assert full.returncode == 0
        assert "no scale-out: at max: 4 of 4 instances" in full.task("Say why nothing is done", "acme-web")["msg"]
        assert snapshot(lab, vsphere) == before
        assert events(lab)[-1]["status"] == "skipped" and events(lab)[-1]["reason"] == "at max: 4 of 4 instances"
    finally:
        for device in (F5_A, F5_B):
            for ip in extra:
                f5("DELETE", f"{POOL}/members/~Common~{ip}:80", device=device)

    # Disabled in the inventory.
    mapping = yaml.safe_load((REPO / "inventories" / "lab" / "host_vars" / "acme-web.yml").read_text())["autoscale"]
    disabled = json.dumps({"autoscale": {**mapping, "enabled": False}})
    before = snapshot(lab, vsphere)
    off = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", disabled)
    assert off.returncode == 0
    assert (
        "autoscaling of the service is disabled in the inventory"
        in off.task("Say why nothing is done", "acme-web")["msg"]
    )
    assert snapshot(lab, vsphere) == before and events(lab)[-1]["status"] == "skipped"
    state = json.loads((lab.state / "statehost" / "vm_autoscale" / "services" / "acme-web.json").read_text())
    assert state["lock"] is None and state["actions_total"]["scale_out"]["skipped"] == 2
