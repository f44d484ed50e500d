"""Verify-before-act that no payload can steer: forged notifications against the real lab.

While the test runs, an operator alert of acme-web that carries the action labels
(``vm_autoscale="action"``, ``autoscale_action="scale_out"``) really fires in Prometheus - the
"alert that fires for another reason" every injection class below tries to point the check at.
Each forged notification must end with exit 0, no change in vCenter, either F5 device, the leases
or the targets, and a reason both in the run's summary and in the event log. The classes are
generated more widely in tests/unit/plugins/module_utils/test_request.py.
"""

import json

import pytest
from labclient import firing_alert
from scaling import events, snapshot

DECOY = "LabOperatorAlert"
DECOY_LABELS = {"service": "acme-web", "vm_autoscale": "action", "autoscale_action": "scale_out"}


@pytest.fixture
def decoy_firing(prepared):
    with firing_alert(DECOY, DECOY_LABELS):
        yield prepared


def alert(alertname="VmAutoscaleScaleOut", service="acme-web", action="scale_out", kind="action", **fields):
    labels = {"alertname": alertname, "service": service, "vm_autoscale": kind, "autoscale_action": action}
    return {"status": "firing", "labels": labels, "annotations": {}, "startsAt": "2026-11-22T10:00:00Z",
            "fingerprint": "0123456789abcdef", **fields}  # fmt: skip


def body(*alerts):
    return {"version": "4", "status": "firing", "receiver": "autoscale-acme-web", "alerts": list(alerts)}


# One case per class of attack; the reason each must give.
FORGED = {
    "promql injection in the alert name": (
        body(alert(alertname=f'VmAutoscaleScaleOut"}} or ALERTS{{alertname="{DECOY}"')),
        "alertname",
    ),
    "regex matcher injection": (body(alert(alertname=f'{DECOY}",alertstate=~".+')), "alertname"),
    "comment and newline": (body(alert(alertname='VmAutoscaleScaleOut"} # \n')), "alertname"),
    "injection in the service label beside a genuine alert": (
        body(alert(), alert(service='acme-web"} or vector(1) #')),
        "service",
    ),
    "unicode look-alike service": (body(alert(service="acme\u2010web")), "service"),
    "very long value": (body(alert(action="scale_out" + "x" * 5000)), "autoscale_action"),
    "type confusion": (body(alert(alertname=["VmAutoscaleScaleOut"])), "alertname"),
    "operator alert with action labels, firing for another reason": (body(alert(alertname=DECOY)), "mislabelled"),
    "scale-out alert asked as scale-in": (body(alert(action="scale_in")), "mislabelled"),
    "another service's alert": (body(alert(service="globex-api")), "no alert of service acme-web"),
    "well-formed, not firing": (body(alert()), "is not firing in Prometheus now"),
}


def test_forged_notifications_do_nothing_and_say_why(run_playbook, decoy_firing, vsphere, tmp_path):
    lab = decoy_firing
    before = snapshot(lab, vsphere)
    runs = {}
    for name, (payload, _reason) in FORGED.items():  # all at once, as a burst of forged posts would come
        slug = str(len(runs))
        (tmp_path / f"{slug}.json").write_text(json.dumps(payload))
        summary = tmp_path / f"{slug}-summary.json"
        args = ("-l", "acme-web", "-e", f"autoscale_payload_file={tmp_path / slug}.json",
                "-e", f"autoscale_summary_file={summary}", "-e", f"autoscale_run_id=forged-{slug}")  # fmt: skip
        runs[name] = (run_playbook.start("playbooks/autoscale.yml", *args), summary, slug)
    logged = {}
    for name, (process, summary, slug) in runs.items():
        run = run_playbook.finish(process)
        assert run.returncode == 0, f"{name}: {run.stdout[-2000:]}"
        reason = FORGED[name][1]
        written = json.loads(summary.read_text())
        assert written["decision"] == "", name
        assert reason in written["reason"], f"{name}: {written['reason']}"
        logged[slug] = (name, reason)
    recorded = {event["id"].rsplit("-", 1)[0]: event for event in events(lab)}
    for slug, (name, reason) in logged.items():
        event = recorded[f"forged-{slug}"]
        assert event["status"] == "skipped" and reason in event["reason"], f"{name}: {event}"
        assert "\n" not in event["reason"] and len(event["reason"]) < 300
    assert snapshot(lab, vsphere) == before
