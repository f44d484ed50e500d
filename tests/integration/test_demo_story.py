"""The demo's story as an end-to-end test (marker ``chain``; ``make test-chain`` runs it alone).

The same story as ``make demo`` (lab/labctl/story.py): acme-web's load rises, its real Prometheus
alert goes through the real Alertmanager to its Jenkins job, whose build scales it out - by
target tracking, 2 to 4 VMs in one action - the load falls and it scales back in to 2 in one
action; globex-api, under a steady load, is never touched. On the way, the test adds what must
not change the story's outcome:

- Jenkins is down when the scale-out alert fires: Alertmanager's posts fail and are retried;
  once Jenkins is back, the scale-out happens, exactly once;
- an alert storm: the moment Jenkins is back, the same notification is posted 20 times in a
  row, beside Alertmanager's own retry - one scale action (the notifications fold into one queued
  build; the lock, cooldown and the Prometheus check turn any other build into a skip);
- before the load rises: a resolved notification, another service's alert and a wrong token start
  no build; after the story, the same notification again runs a build that records a skip.

``Story.verify`` reads the outcome back from vcsim, both F5 devices, Prometheus, Jenkins and the
event logs; the test checks the same systems again itself, and what the faults should have left.
"""

import re
import sys
import time

import pytest
from labclient import (
    ALERTMANAGER,
    F5_A,
    F5_B,
    emulator,
    f5,
    jenkins,
    plg,
    prometheus_alerts,
    prometheus_value,
    secret,
    vm_names,
    wait_for,
)
from labctl.story import API, SCALE_IN, SCALE_OUT, STEADY, WEB, Observer, Story, build_of, tell, verify
from scaling import events, members

ON = {"VM_AUTOSCALE_LAB_PIPELINES": "on"}
JOB = f"autoscale-{WEB}"
STATIC = ["198.18.1.11:80", "198.18.1.12:80"]


def load(service, demand):
    emulator("guests", "PUT", f"/demand/{service}", {"demand": demand})


def notify(token, status="firing", service=WEB):
    """An Alertmanager notification of ``service``'s scale-out, posted to the trigger as Alertmanager does."""
    labels = {"alertname": SCALE_OUT, "service": service, "vm_autoscale": "action",
              "autoscale_action": "scale_out", "severity": "info"}  # fmt: skip
    body = {"version": "4", "status": status, "receiver": f"autoscale-{service}",
            "groupLabels": {"service": service, "autoscale_action": "scale_out"}, "commonLabels": labels,
            "alerts": [{"status": status, "labels": labels, "annotations": {}, "fingerprint": "0123456789abcdef",
                        "startsAt": "2026-11-22T10:00:00Z"}]}  # fmt: skip
    return jenkins("POST", "/generic-webhook-trigger/invoke", json=body, auth=None,
                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip


def build_numbers(job=JOB):
    return {b["number"] for b in jenkins("GET", f"/job/{job}/api/json?tree=builds[number]").json().get("builds", [])}


def failed_posts():
    """Alertmanager's own count of webhook notifications that failed (its /metrics)."""
    text = plg("GET", f"{ALERTMANAGER}/metrics").text
    found = re.findall(
        r'^alertmanager_notifications_failed_total\{[^}]*integration="webhook"[^}]*\} (\S+)$', text, re.M
    )
    return sum(float(value) for value in found)


def globex(vsphere):
    pool = "/mgmt/tm/ltm/pool/~Common~globex-api-pool/members"
    devices = {d: sorted(m["name"] for m in f5("GET", pool, device=d).json()["items"]) for d in (F5_A, F5_B)}
    return devices, sorted(n for n in vm_names(vsphere) if n.startswith(API))


class Faults:
    """Called at every poll of the story: Jenkins down until 10 s after the scale-out alert fired
    and Alertmanager has failed to post it; a storm of the same notification as Jenkins is back."""

    def __init__(self, token):
        self.token = token
        self.phase = "down"
        self.failed_before = failed_posts()
        self.firing_at = self.up_at = None
        self.retries = 0
        self.storm = []

    def __call__(self, story, views):
        web = views[WEB]
        firing = web.alerts.get(SCALE_OUT, {}).get("state") == "firing"
        if self.phase == "down" and firing:
            self.phase, self.firing_at = "refused", time.time()
        elif self.phase == "refused" and time.time() - self.firing_at >= 10 and failed_posts() > self.failed_before:
            self.retries = failed_posts() - self.failed_before
            emulator("jenkins", "POST", "/up")
            self.phase, self.up_at = "up", time.time()
            story.say(WEB, "fault", f"(test) Jenkins started again; Alertmanager's posts failed {self.retries:g} times")
            self.storm = [notify(self.token).json()["jobs"][JOB] for _post in range(20)]
            self.phase = "stormed"
            queued = sorted({entry["id"] for entry in self.storm})
            story.say(WEB, "fault", f"(test) the same notification posted 20 times: queue items {queued}")


@pytest.mark.chain
def test_the_demo_story_holds_with_jenkins_down_and_an_alert_storm(run_playbook, prepared, vsphere):
    lab = prepared
    assert run_playbook("playbooks/onboard.yml", env=ON).returncode == 0  # the jobs enabled
    token = (lab.state / "secrets" / f"webhook-{WEB}").read_text().strip()
    untouched = globex(vsphere)
    api_builds = build_numbers(f"autoscale-{API}")
    posts = len(emulator("jenkins", "GET", "/webhooks"))
    observer = Observer()
    try:
        # What must start no build at all.
        numbers = build_numbers()
        resolved = notify(token, status="resolved")
        assert resolved.status_code == 200 and resolved.json()["jobs"][JOB]["triggered"] is False
        other = notify(token, service=API)
        assert other.status_code == 200 and other.json()["jobs"][JOB]["triggered"] is False
        wrong = notify("not-the-token-of-any-service-000")
        assert wrong.status_code == 404 and wrong.json()["jobs"] is None
        assert build_numbers() == numbers

        # globex-api starts the story settled: at its steady load with no scale alert pending or
        # firing. The tests before this one in the shard leave it idle, and after long enough idle
        # (a slow machine) its scale-in alert fires, and would resolve during the story - a change
        # of state the story rightly counts against globex-api.
        load(API, STEADY)
        wait_for(
            lambda: not [a for name in (SCALE_OUT, SCALE_IN) for a in prometheus_alerts(name)
                         if a["labels"].get("service") == API],
            180, f"{API} without a pending or firing scale alert at its steady load",
        )  # fmt: skip

        faults = Faults(token)
        emulator("jenkins", "POST", "/down")
        story = Story(observer, out=sys.stdout, during=faults)
        story.say(WEB, "fault", "(test) Jenkins is down")
        tell(story)
        problems = verify(story)
        assert not problems, problems
        assert faults.phase == "stormed", faults.phase

        # Jenkins down: Alertmanager's posts failed and were retried; the first scale-out's build
        # started only after Jenkins was back.
        assert faults.retries >= 1
        new = [
            e
            for e in events(lab)
            if (build := build_of(e["id"])) and build[1] == JOB and build[2] > max(numbers, default=0)
        ]
        outs = [e for e in new if e["action"] == "scale_out" and e["status"] == "success"]
        tag, _job, first = build_of(outs[0]["id"])
        assert jenkins("GET", f"/job/{JOB}/{first}/api/json").json()["timestamp"] / 1000 >= faults.up_at - 1
        # The storm: 20 triggered posts, at most two queue items (the quiet period may end mid-storm),
        # and one scale-out in all, of 2 VMs (verify checked it, sized to 4 by target tracking).
        assert len(faults.storm) == 20 and all(entry["triggered"] for entry in faults.storm)
        assert len({entry["id"] for entry in faults.storm}) <= 2, faults.storm
        assert [e["status"] for e in new if e["action"] == "scale_out"].count("success") == 1
        assert [e["status"] for e in new if e["action"] == "scale_in"].count("success") == 1  # 4 -> 2 at once

        # Read back again, independently of the story's observer.
        assert not [n for n in vm_names(vsphere) if n.startswith(f"{WEB}-auto-")]
        for device in (F5_A, F5_B):
            assert members(device) == STATIC
        assert prometheus_value(f'max(vm_autoscale_instances{{service="{WEB}"}})') == 2
        assert globex(vsphere) == untouched and build_numbers(f"autoscale-{API}") == api_builds
        hooks = emulator("jenkins", "GET", "/webhooks")[posts:]
        assert {hook["job"] for hook in hooks if hook["triggered"]} == {JOB}, hooks
        console = jenkins("GET", f"/job/{JOB}/{first}/consoleText").text
        assert "autoscale: summary" in console and outs[0]["id"] in console and "Finished: SUCCESS" in console
        for name in ("vcenter_password", "f5_password"):
            assert secret(name) not in console
        summary = jenkins("GET", f"/job/{JOB}/{first}/artifact/autoscale-result/{tag}.json").json()
        assert summary["decision"] == "scale_out" and summary["event"]["status"] == "success"
        assert summary["run_id"] == outs[0]["id"]

        # The same notification once more, the alert long resolved: a build that records a skip.
        last = max(build_numbers())
        assert notify(token).json()["jobs"][JOB]["triggered"] is True
        replayed = wait_for(lambda: [e for e in events(lab) if (b := build_of(e["id"])) and b[1] == JOB and b[2] > last],
                            120, "the replay's build")  # fmt: skip
        assert [e["status"] for e in replayed] == ["skipped"], replayed
        assert not [n for n in vm_names(vsphere) if n.startswith(f"{WEB}-auto-")]
    finally:
        observer.close()
        emulator("jenkins", "POST", "/up")
        load(WEB, 0)
        load(API, 0)
        assert run_playbook("playbooks/onboard.yml").returncode == 0  # the jobs disabled again
