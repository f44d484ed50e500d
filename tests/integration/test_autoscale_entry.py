"""playbooks/autoscale.yml on the lab: a notification is a hint - only a scale alert of the
service that Prometheus reports firing now leads to an action; everything else does nothing and
says why. Read back from vcsim, the F5 pool, Prometheus and the event log."""

import json
import subprocess

import requests
from conftest import REPO
from labclient import F5_A, PROMETHEUS, ca, wait_for
from scaling import events, members, snapshot


def notification(service, status="firing", action="scale_out", kind="action", alertname="VmAutoscaleScaleOut"):
    labels = {"alertname": alertname, "service": service, "vm_autoscale": kind, "autoscale_action": action,
              "severity": "info"}  # fmt: skip
    return {
        "version": "4",
        "status": status,
        "receiver": f"autoscale-{service}",
        "groupLabels": {"service": service, "autoscale_action": action},
        "commonLabels": labels,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {},
                "startsAt": "2026-11-22T10:00:00Z",
                "fingerprint": "0123456789abcdef",
            }
        ],
    }


def run_with(run_playbook, tmp_path, payload, *extra):
    body = tmp_path / "body.json"
    body.write_text(json.dumps(payload))
    return run_playbook("playbooks/autoscale.yml", "-l", "acme-web", "-e", f"autoscale_payload_file={body}", *extra)


def firing_scale_out():
    answer = requests.get(f"{PROMETHEUS}/api/v1/alerts", verify=ca(), timeout=10).json()
    return [a for a in answer["data"]["alerts"] if a["labels"].get("alertname") == "VmAutoscaleScaleOut"
            and a["labels"].get("service") == "acme-web" and a["state"] == "firing"]  # fmt: skip


def test_notifications_that_ask_nothing_do_nothing_and_say_why(run_playbook, prepared, vsphere, tmp_path):
    lab = prepared
    before, count = snapshot(lab, vsphere), len(events(lab))
    cases = [
        (notification("globex-api"), "no alert of service acme-web in the payload (it is about globex-api)"),
        (notification("acme-web", status="resolved"), "resolved notification for acme-web"),
        (notification("acme-web", kind="operator", alertname="VmAutoscaleSuspended"), "are not scale actions"),
        (notification("acme-web", action="scale_sideways"), "unknown autoscale_action scale_sideways"),
        ({"hello": "world"}, "not an Alertmanager notification"),
    ]
    for payload, reason in cases:
        run = run_with(run_playbook, tmp_path, payload)
        assert run.returncode == 0, run.stdout[-2000:]
        assert reason in run.task("Say why nothing is done", "acme-web")["msg"]
    assert snapshot(lab, vsphere) == before and len(events(lab)) == count

    # Well-formed but not firing in Prometheus (load is idle): stale, replayed or forged.
    forged = run_with(run_playbook, tmp_path, notification("acme-web"))
    assert forged.returncode == 0
    assert "is not firing in Prometheus now" in forged.task("Say why nothing is done", "acme-web")["msg"]
    assert snapshot(lab, vsphere) == before
    assert events(lab)[-1]["status"] == "skipped" and "forged" in events(lab)[-1]["reason"]


def test_a_firing_alert_scales_out_once(run_playbook, prepared, vsphere, tmp_path):
    lab = prepared
    subprocess.run([str(REPO / "lab" / "load"), "acme-web", "190"], capture_output=True, check=True)
    try:
        # The real rule: above 75 % for the rate window plus duration_minutes (lab: 30 s + 1 min).
        wait_for(firing_scale_out, 240, "Prometheus to fire acme-web's scale-out", interval=2)
        run = run_with(run_playbook, tmp_path, notification("acme-web"))
        assert run.returncode == 0, run.stdout[-3000:]
        event = events(lab)[-1]
        assert event["status"] == "success" and event["trigger"] == "prometheus-alert"
        assert event["alert"] == "VmAutoscaleScaleOut"
        ip = next(a["ip"] for a in event["actions"] if a["type"] == "vm-creation")
        assert f"{ip}:80" in members(F5_A)

        # The same notification again (Alertmanager repeats, Jenkins retries): no second VM. The
        # rule's own cooldown guard has usually silenced the alert by now (the scale time is a
        # metric); if Prometheus has not evaluated it yet, the role's cooldown refuses.
        before = snapshot(lab, vsphere)
        again = run_with(run_playbook, tmp_path, notification("acme-web"))
        assert again.returncode == 0
        assert snapshot(lab, vsphere) == before
        reason = events(lab)[-1]["reason"]
        assert events(lab)[-1]["status"] == "skipped"
        assert "is not firing in Prometheus now" in reason or "in cooldown" in reason, reason
    finally:
        subprocess.run([str(REPO / "lab" / "load"), "acme-web", "0"], capture_output=True, check=True)
