"""A storm: 20 concurrent runs of playbooks/autoscale.yml for one firing alert - what several
Jenkins agents, AWX or an event-driven runner do with duplicate notifications. Exactly one
action; every other run ends green as skipped with its reason; read back from vCenter, both F5
devices, the leases and the event log.

The alert is made to fire by a rule file of the test's own (labclient.firing_alert), so that the
storm starts at once instead of after a load ramp and the rule's `for`; that the real rule fires
on load is proven by the rules' promtool tests and the demo's story.
"""

import json

from labclient import F5_A, F5_B, firing_alert, vm_names
from scaling import events, leases, members

STORM = 20
LABELS = {"service": "acme-web", "vm_autoscale": "action", "autoscale_action": "scale_out"}
SKIP_REASONS = ("is acting since", "in cooldown for", "is not firing in Prometheus now")


def notification():
    alert = {"status": "firing", "labels": {"alertname": "VmAutoscaleScaleOut", "severity": "info", **LABELS},
             "annotations": {}, "startsAt": "2026-11-22T10:00:00Z", "fingerprint": "0123456789abcdef"}  # fmt: skip
    return {"version": "4", "status": "firing", "receiver": "autoscale-acme-web", "alerts": [alert]}


def test_twenty_runs_for_one_firing_alert_make_one_action_and_no_red_run(run_playbook, prepared, vsphere, tmp_path):
    lab = prepared
    count = len(events(lab))
    body = tmp_path / "notification.json"
    body.write_text(json.dumps(notification()))
    with firing_alert("VmAutoscaleScaleOut", LABELS):
        args = ("-l", "acme-web", "-e", f"autoscale_payload_file={body}")
        started = [run_playbook.start("playbooks/autoscale.yml", *args, "-e", f"autoscale_run_id=storm-{n}")
                   for n in range(STORM)]  # fmt: skip
        runs = [run_playbook.finish(process) for process in started]

    red = [run.stdout[-1500:] for run in runs if run.returncode != 0 or run.stats["acme-web"]["failures"]]
    assert not red, red[0]
    new = [event for event in events(lab)[count:] if event["id"].startswith("storm-")]
    assert len(new) == STORM and len({event["id"] for event in new}) == STORM
    acted = [event for event in new if event["status"] == "success"]
    skipped = [event for event in new if event["status"] == "skipped"]
    assert len(acted) == 1 and acted[0]["action"] == "scale_out", [e["status"] for e in new]
    assert len(skipped) == STORM - 1
    for event in skipped:
        assert any(reason in event["reason"] for reason in SKIP_REASONS), event["reason"]
    assert any("is acting since" in event["reason"] for event in skipped)  # some met the running action

    # Read back: one VM in vCenter, one member more on both devices, one lease.
    (vm,) = [a["vm"] for a in acted[0]["actions"] if a["type"] == "vm-creation"]
    ip = next(a["ip"] for a in acted[0]["actions"] if a["type"] == "vm-creation")
    assert [name for name in vm_names(vsphere) if name.startswith("acme-web-auto-")] == [vm]
    for device in (F5_A, F5_B):
        assert members(device) == sorted(["198.18.1.11:80", "198.18.1.12:80", f"{ip}:80"])
    assert {address: lease["owner"] for address, lease in leases(lab).items()} == {ip: vm}
