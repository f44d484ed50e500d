"""playbooks/autoscale.yml on the lab: a notification is a hint - only a scale alert of the
service that Prometheus reports firing now leads to an action; everything else does nothing and
says why. Read back from vcsim, the F5 pool and the event log. A firing alert that scales out
once, and the same notification again that adds nothing, run through Jenkins in
test_demo_story.py."""

import json

from scaling import events, snapshot


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


def test_notifications_that_ask_nothing_do_nothing_and_say_why(run_playbook, prepared, vsphere, tmp_path):
    lab = prepared
    before, count = snapshot(lab, vsphere), len(events(lab))
    cases = [
        (notification("globex-api"), "no alert of service acme-web in the payload (it is about globex-api)"),
        (notification("acme-web", status="resolved"), "resolved notification for acme-web"),
        (notification("acme-web", kind="operator", alertname="VmAutoscaleSuspended"), "are not scale actions"),
        (notification("acme-web", action="scale_sideways"), 'unknown autoscale_action "scale_sideways"'),
        ({"hello": "world"}, "not an Alertmanager notification"),
    ]
    for payload, reason in cases:
        run = run_with(run_playbook, tmp_path, payload)
        assert run.returncode == 0, run.stdout[-2000:]
        assert reason in run.task("Say why nothing is done", "acme-web")["msg"]
    assert snapshot(lab, vsphere) == before
    # each notification not acted on is recorded with its reason (no counter moves)
    recorded = events(lab)[count:]
    assert [event["status"] for event in recorded] == ["skipped"] * len(cases)
    assert [event["action"] for event in recorded] == ["notification"] * len(cases)
    assert all(reason in event["reason"] for (_payload, reason), event in zip(cases, recorded, strict=True))

    # Well-formed but not firing in Prometheus (load is idle): stale, replayed or forged.
    forged = run_with(run_playbook, tmp_path, notification("acme-web"))
    assert forged.returncode == 0
    assert "is not firing in Prometheus now" in forged.task("Say why nothing is done", "acme-web")["msg"]
    assert snapshot(lab, vsphere) == before
    assert events(lab)[-1]["status"] == "skipped" and "forged" in events(lab)[-1]["reason"]
