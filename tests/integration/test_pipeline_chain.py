"""The alert-to-VM chain through the lab's Jenkins (marker ``chain``; ``make test-chain`` runs it
alone): load raises acme-web's real Prometheus alert, the real Alertmanager posts it to the
service's job with its token, the build runs jenkins/autoscale.sh, which scales acme-web out; the
same notification again adds nothing; the load falls and it scales back in. Resolved
notifications, another service's alert and a wrong token start no build. globex-api is untouched
throughout. Read back from vcsim, both F5 devices, Prometheus, Jenkins and the event log."""

import json
import subprocess

import pytest
from conftest import REPO
from labclient import F5_A, F5_B, emulator, f5, jenkins, prometheus_alerts, secret, vm_names, wait_for
from scaling import POOL, events, members

ON = {"VM_AUTOSCALE_LAB_PIPELINES": "on"}
JOB = "autoscale-acme-web"
STATIC = ["198.18.1.11:80", "198.18.1.12:80"]


def load(service, demand):
    subprocess.run([str(REPO / "lab" / "load"), service, str(demand)], capture_output=True, check=True)


def autoscaled(vsphere):
    return sorted(name for name in vm_names(vsphere) if name.startswith("acme-web-auto-"))


def serving(ip):
    for device in (F5_A, F5_B):
        answer = f5("GET", f"{POOL}/members/~Common~{ip}:80/stats", device=device)
        if answer.status_code != 200:
            return False
        (entry,) = answer.json()["entries"].values()
        if entry["nestedStats"]["entries"]["status.availabilityState"]["description"] != "available":
            return False
    return True


def finished_builds():
    numbers = [b["number"] for b in jenkins("GET", f"/job/{JOB}/api/json?tree=builds[number]").json().get("builds", [])]
    builds = [jenkins("GET", f"/job/{JOB}/{n}/api/json").json() for n in numbers]
    return [b for b in builds if not b["building"]]


def scaled(lab, action):
    """The last successful event of ``action`` recorded by a Jenkins build, or None."""
    return next((e for e in reversed(events(lab)) if e["action"] == action and e["status"] == "success"
                 and e["id"].startswith(f"jenkins-{JOB}-")), None)  # fmt: skip


def notify(token, status="firing", service="acme-web"):
    """An Alertmanager notification of ``service``'s scale-out, posted to the trigger as Alertmanager does."""
    labels = {"alertname": "VmAutoscaleScaleOut", "service": service, "vm_autoscale": "action",
              "autoscale_action": "scale_out", "severity": "info"}  # fmt: skip
    body = {"version": "4", "status": status, "receiver": f"vm_autoscale-{service}",
            "groupLabels": {"service": service, "autoscale_action": "scale_out"}, "commonLabels": labels,
            "alerts": [{"status": status, "labels": labels, "annotations": {}, "fingerprint": "0123456789abcdef",
                        "startsAt": "2026-11-22T10:00:00Z"}]}  # fmt: skip
    return jenkins("POST", "/generic-webhook-trigger/invoke", json=body, auth=None,
                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip


def build_numbers():
    return {b["number"] for b in jenkins("GET", f"/job/{JOB}/api/json?tree=builds[number]").json().get("builds", [])}


def globex():
    pool = "/mgmt/tm/ltm/pool/~Common~globex-api-pool/members"
    return {d: sorted(m["name"] for m in f5("GET", pool, device=d).json()["items"]) for d in (F5_A, F5_B)}


@pytest.mark.chain
def test_load_scales_acme_web_out_through_jenkins_and_back_in(run_playbook, prepared, vsphere):
    lab = prepared
    assert run_playbook("playbooks/onboard.yml", env=ON).returncode == 0  # the jobs enabled
    token = (lab.state / "secrets" / "webhook-acme-web").read_text().strip()
    untouched = (globex(), [n for n in vm_names(vsphere) if n.startswith("globex-api")])
    seen = {b["number"] for b in finished_builds()}
    numbers = build_numbers()
    posts = len(emulator("jenkins", "GET", "/webhooks"))
    try:
        load("acme-web", 400)
        # While the alert's rate window and `for` run: what must start no build at all.
        resolved = notify(token, status="resolved")
        assert resolved.status_code == 200 and resolved.json()["jobs"][JOB]["triggered"] is False
        other = notify(token, service="globex-api")
        assert other.status_code == 200 and other.json()["jobs"][JOB]["triggered"] is False
        wrong = notify("not-the-token-of-any-service-000")
        assert wrong.status_code == 404 and wrong.json()["jobs"] is None
        assert build_numbers() == numbers

        event = wait_for(lambda: scaled(lab, "scale_out"), 300, "a scale-out through Jenkins")
        assert len(autoscaled(vsphere)) == 1, autoscaled(vsphere)
        ip = next(a["ip"] for a in event["actions"] if a["type"] == "vm-creation")
        wait_for(lambda: serving(ip), 60, "the new member available on both devices")
        load("acme-web", 0)
        # Alertmanager's post reached acme-web's job only (the trigger matched its bearer token).
        triggered = [hook for hook in emulator("jenkins", "GET", "/webhooks")[posts:] if hook["triggered"]]
        assert triggered and {hook["job"] for hook in triggered} == {JOB}, triggered
        firing = [a["labels"]["service"] for a in prometheus_alerts("VmAutoscaleScaleOut") if a["state"] == "firing"]
        assert "globex-api" not in firing
        assert event["id"].startswith(f"jenkins-{JOB}-") and event["trigger"] == "prometheus-alert"
        assert event["alert"] == "VmAutoscaleScaleOut"
        number = int(event["id"].rsplit("-", 1)[1])
        wait_for(lambda: any(b["number"] == number for b in finished_builds()), 60, "the build to finish")
        console = jenkins("GET", f"/job/{JOB}/{number}/consoleText").text
        assert "autoscale: summary" in console and event["id"] in console, console[-3000:]
        assert "Finished: SUCCESS" in console
        for name in ("vcenter_password", "f5_password"):
            assert secret(name) not in console
        summary = jenkins("GET", f"/job/{JOB}/{number}/artifact/autoscale-result/{event['id']}.json").json()
        assert summary["decision"] == "scale_out" and summary["event"]["status"] == "success"

        # The same notification again (Alertmanager repeats it, or a retry): a build, and no second VM.
        replay = notify(token)
        assert replay.json()["jobs"][JOB]["triggered"] is True
        replayed = wait_for(lambda: [e for e in events(lab) if e["id"].startswith(f"jenkins-{JOB}-")
                                     and int(e["id"].rsplit("-", 1)[1]) > number], 120, "the replay's build")  # fmt: skip
        assert [e["status"] for e in replayed] == ["skipped"], replayed
        assert "is not firing in Prometheus now" in replayed[0]["reason"] or "in cooldown" in replayed[0]["reason"]
        assert len(autoscaled(vsphere)) == 1

        # The load is gone: the scale-in alert, the same chain, back to the static members.
        wait_for(lambda: scaled(lab, "scale_in"), 420, "a scale-in through Jenkins")
        assert not autoscaled(vsphere)
        for device in (F5_A, F5_B):
            assert members(device) == STATIC
        # Three builds at least: the scale-out, the replay and the scale-in; every one a success.
        new = wait_for(lambda: len(build_numbers() - seen) >= 3 and len(finished_builds()) == len(build_numbers())
                       and [b for b in finished_builds() if b["number"] not in seen], 120, "the builds to finish")  # fmt: skip
        assert all(b["result"] == "SUCCESS" for b in new), new
        assert (globex(), [n for n in vm_names(vsphere) if n.startswith("globex-api")]) == untouched
        hooks = emulator("jenkins", "GET", "/webhooks")[posts:]
        assert not [hook for hook in hooks if hook["job"] != JOB and hook["triggered"]], hooks
    finally:
        load("acme-web", 0)
        assert run_playbook("playbooks/onboard.yml").returncode == 0  # the jobs disabled again
    print(json.dumps({"builds": len(new)}))
