"""playbooks/scale_out.yml on the lab: a VM added in the safe order, read back from vcsim, both
F5 devices, the targets file, the lease file, the event log and Prometheus; guards; a failure
half-way leaves every system exactly as before, with a failed event naming the step."""

import json

import pytest
from labclient import F5_A, F5_B, emulator, f5, find_vm, prometheus_value, vm_names, wait_for

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


@pytest.fixture
def prepared(run_playbook, lab, vsphere):
    for playbook in ("playbooks/onboard.yml", "playbooks/create_template.yml"):
        assert run_playbook(playbook).returncode == 0
    state = lab.state / "statehost" / "vm_autoscale" / "services" / "acme-web.json"
    state.unlink(missing_ok=True)  # no cooldown or breaker left by another test
    yield lab
    autoscaled = [name for name in vm_names(vsphere) if name.startswith("acme-web-auto-")]
    if autoscaled:
        removed = run_playbook(REMOVE_AUTOSCALED, "-e", json.dumps({"autoscaled": autoscaled}))
        assert removed.returncode == 0, removed.stdout[-3000:]
    state.unlink(missing_ok=True)
    emulator("f5", "DELETE", "/faults")


def test_scale_out_adds_a_ready_vm_everywhere_then_cooldown_holds(run_playbook, prepared, vsphere):
    lab = prepared
    run = run_playbook("playbooks/scale_out.yml", "-l", "acme-web")
    assert run.returncode == 0, run.stdout[-3000:]

    vm = find_vm(vsphere, "acme-web-auto-0001")
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

    assert targets(lab) == [{"targets": [f"{ip}:9100"], "labels": {"service": "acme-web", "vm": "acme-web-auto-0001"}}]
    assert leases(lab)[ip]["owner"] == "acme-web-auto-0001" and leases(lab)[ip]["state"] == "in_use"
    event = events(lab)[-1]
    assert event["status"] == "success" and event["action"] == "scale_out"
    assert [a["type"] for a in event["actions"]] == ["ip-allocation", "vm-creation", "f5-pool-add"]
    assert event["actions"][1]["vm_id"] == vm._moId
    # Prometheus scrapes the new VM through the file_sd target (no reload), and the metric follows.
    wait_for(lambda: prometheus_value(f'up{{instance="{ip}:9100",service="acme-web"}}') == 1, 30, "the new target up")
    wait_for(lambda: prometheus_value('vm_autoscale_instances{service="acme-web"}') == 3, 30, "instances = 3")

    before = snapshot(lab, vsphere)
    again = run_playbook("playbooks/scale_out.yml", "-l", "acme-web")
    assert again.returncode == 0
    assert "no scale-out: in cooldown for" in again.task("Say why nothing is done", "acme-web")["msg"]
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
    assert plan[1].startswith("- clone tpl-acme-web into acme-web-auto-0001 with IP 198.18.1.1")
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
    assert "Everything it made was removed (VMs acme-web-auto-0001" in message
    wait_for(lambda: snapshot(lab, vsphere) == before, 10, "every system as before")
    event = events(lab)[-1]
    assert (
        event["status"] == "failed" and event["step"] == "Add the member to the pool (active device, or every device)"
    )
    assert event["undone"] is True and [a["type"] for a in event["actions"]] == ["ip-allocation", "vm-creation"]
    state = json.loads((lab.state / "statehost" / "vm_autoscale" / "services" / "acme-web.json").read_text())
    assert state["consecutive_failures"] == 1 and state["lock"] is None
