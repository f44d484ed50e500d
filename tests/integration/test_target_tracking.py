"""Target tracking in the lab: acme-web holds 60 % CPU (+-10 %), max 4, scale-in step 2.

- A 3.5x load step on its 2 static VMs (from 33 % to 100 % CPU each, capped): once Prometheus
  reads it, the scale-out alert fires (a rule file of the test's own, labclient.firing_alert,
  so that the test does not wait out the rule's `for`; that the real rule fires on this load is
  proven by the rules' promtool tests and the demo's story, which takes the same step through
  Jenkins). The run of playbooks/autoscale.yml for that notification reads the load from
  Prometheus and adds 2 VMs in one action: ceil(2 x 100 / 60) = 4. Read back from vCenter, both
  F5 devices, the leases, the targets and the event.
- A tracked scale-in right after, with the load still there, is sized by the load's peak over its
  window: the peak needs every instance, so none goes - read back the same way.
- With Prometheus out of reach, a tracked scale-out adds one VM (as a step of 1) and says why.
"""

import json

from labclient import F5_A, F5_B, emulator, firing_alert, prometheus_value, vm_names, wait_for
from scaling import events, leases, members, targets

STATIC = ["198.18.1.11:80", "198.18.1.12:80"]
STEADY = 60  # % of one VM's CPU: 30 % on each of 2 VMs, plus 3 % idle
NO_COOLDOWN = ("-e", "scale_in_respect_cooldown=false")
CPU = 'vm_autoscale:cpu_percent{service="acme-web"}'
LABELS = {"service": "acme-web", "vm_autoscale": "action", "autoscale_action": "scale_out"}


def load(demand):
    emulator("guests", "PUT", "/demand/acme-web", {"demand": demand})


def notification(alertname, action):
    labels = {"alertname": alertname, "service": "acme-web", "vm_autoscale": "action",
              "autoscale_action": action, "severity": "info"}  # fmt: skip
    alert = {"status": "firing", "labels": labels, "annotations": {}, "startsAt": "2026-12-07T10:00:00Z",
             "fingerprint": "0123456789abcdef"}  # fmt: skip
    return {"version": "4", "status": "firing", "receiver": "autoscale-acme-web", "alerts": [alert]}


def autoscaled(vsphere):
    return {name: vm.runtime.powerState for name, vm in vm_names(vsphere).items() if name.startswith("acme-web-auto-")}


def test_a_3_5x_load_step_on_2_vms_reaches_4_in_one_action(run_playbook, prepared, vsphere, tmp_path):
    lab = prepared
    count = len(events(lab))
    # onboarding exported the target, which the dashboard draws beside the load
    assert prometheus_value('max(vm_autoscale_target_cpu_percent{service="acme-web"})') == 60
    try:
        load(3.5 * STEADY)
        wait_for(lambda: (prometheus_value(CPU) or 0) > 95, 120, "Prometheus to read acme-web's CPU above 95 %", 1)
        body = tmp_path / "notification.json"
        body.write_text(json.dumps(notification("VmAutoscaleScaleOut", "scale_out")))
        with firing_alert("VmAutoscaleScaleOut", LABELS):
            run = run_playbook("playbooks/autoscale.yml", "-l", "acme-web", "-e", f"autoscale_payload_file={body}")
        assert run.returncode == 0, run.failed

        (event,) = events(lab)[count:]
        assert (event["action"], event["status"], event["instances_before"]) == ("scale_out", "success", 2)
        sizing = event["sizing"]
        assert sizing["policy"] == "target_tracking" and sizing["metric"] == "cpu", sizing
        assert sizing["targets"]["cpu"] == 60 and sizing["reading"]["cpu"] > 90 and sizing["desired"] == 4, sizing
        created = {a["vm"]: a["ip"] for a in event["actions"] if a["type"] == "vm-creation"}
        assert len(created) == 2, event["actions"]

        # Read back: 2 VMs powered on, 4 members on both devices, 2 leases in use, 2 targets.
        assert autoscaled(vsphere) == dict.fromkeys(created, "poweredOn")
        for device in (F5_A, F5_B):
            assert members(device) == sorted(STATIC + [f"{ip}:80" for ip in created.values()])
        assert {ip: (lease["owner"], lease["state"]) for ip, lease in leases(lab).items()} == {
            ip: (vm, "in_use") for vm, ip in created.items()
        }
        assert sorted(entry["labels"]["vm"] for entry in targets(lab)) == sorted(created)

        # A tracked scale-in now: the peak of the last minute (100 % on 2 VMs) needs all 4.
        before = (autoscaled(vsphere), members(F5_A), members(F5_B), leases(lab))
        held = run_playbook("playbooks/scale_in.yml", "-l", "acme-web", "-e", "scale_in_policy=target_tracking",
                            *NO_COOLDOWN)  # fmt: skip
        assert held.returncode == 0, held.failed
        skipped = events(lab)[-1]
        assert (skipped["action"], skipped["status"]) == ("scale_in", "skipped"), skipped
        assert "the load's peak over the scale-in window (cpu " in skipped["reason"], skipped["reason"]
        assert skipped["reason"].endswith("instances at the target: all 4 stay"), skipped["reason"]
        assert (autoscaled(vsphere), members(F5_A), members(F5_B), leases(lab)) == before
    finally:
        load(0)


def test_without_a_load_reading_a_tracked_scale_out_adds_one_vm_and_says_why(run_playbook, prepared, vsphere):
    lab = prepared
    count = len(events(lab))
    # a Prometheus that does not answer: the PLG host's address, a port nothing listens on
    nowhere = "https://198.18.0.40:9"
    run = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", "scale_out_policy=target_tracking",
                       "-e", f"scale_out_prometheus_url={nowhere}")  # fmt: skip
    assert run.returncode == 0, run.failed
    assert f"{nowhere}/api/v1/query" in run.stdout + run.stderr  # the warning names what did not answer
    (event,) = events(lab)[count:]
    assert event["status"] == "success" and event["sizing"]["desired"] is None, event
    assert "no load reading" in event["sizing"]["note"]
    created = [a["vm"] for a in event["actions"] if a["type"] == "vm-creation"]
    assert len(created) == 1 and autoscaled(vsphere) == dict.fromkeys(created, "poweredOn")
    assert len(members(F5_A)) == len(members(F5_B)) == 3
