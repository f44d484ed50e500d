"""The scheduled reconcile job onboarding makes (reconcile-acme-web), run by the lab's Jenkins as
its timer fires it: report-only by default (a red build, the drift left in the state document and
in Prometheus, nothing changed), fixing when the job says so (the drift gone from both F5
devices, the count back to 0). The timer is fired through the emulator's control socket at a
minute the job's spec names, so that no test waits for the clock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import defusedxml.ElementTree as ET
import yaml
from conftest import REPO
from labclient import F5_A, F5_B, emulator, f5, jenkins, prometheus_value, wait_for
from labctl.jenkins.cron import CronTab
from scaling import POOL, members

JOB = "reconcile-acme-web"
STRAY_IP = "198.18.1.118"  # in acme-web's address pool, and no VM behind it
STRAY = f"{STRAY_IP}:80"


def parameters(config: str) -> dict:
    root = ET.fromstring(config.encode())
    return {
        d.findtext("name"): d.findtext("defaultValue") for d in root.iter() if d.tag.endswith("ParameterDefinition")
    }


def builds() -> set:
    return {b["number"] for b in jenkins("GET", f"/job/{JOB}/api/json?tree=builds[number]").json().get("builds", [])}


def finished(before: set) -> dict:
    """The build started after ``before``, once it has finished."""

    def done():
        new = sorted(builds() - before)
        if not new:
            return None
        build = jenkins("GET", f"/job/{JOB}/{new[0]}/api/json").json()
        return None if build["building"] else build

    return wait_for(done, 300, f"a finished build of {JOB}", interval=1)


def drift_state(lab) -> dict | None:
    document = json.loads((lab.state / "statehost" / "vm_autoscale" / "services" / "acme-web.json").read_text())
    return document.get("drift")


def test_the_scheduled_reconcile_reports_drift_and_fixes_only_when_told(prepared):
    lab = prepared
    config = jenkins("GET", f"/job/{JOB}/config.xml").text
    spec = ET.fromstring(config.encode()).findtext(".//hudson.triggers.TimerTrigger/spec")
    assert spec == "H/15 * * * *"
    wanted = parameters(config)
    assert wanted["AUTOSCALE_SERVICE"] == "acme-web" and wanted["RECONCILE_FIX"] == "false"
    # the same bound as the service's autoscale job: the run's timeout follows its steps and limits
    timeout = parameters(jenkins("GET", "/job/autoscale-acme-web/config.xml").text)["AUTOSCALE_TIMEOUT_SECONDS"]
    assert wanted["AUTOSCALE_TIMEOUT_SECONDS"] == timeout and int(timeout) >= 60
    tab = CronTab(spec, JOB)
    hour = datetime(2026, 12, 3, 10, 0)
    due = [hour + timedelta(minutes=m) for m in range(60) if tab.matches(hour + timedelta(minutes=m))]
    assert len(due) == 4  # every 15 minutes, at a minute hashed from the job's name
    not_due = hour + timedelta(minutes=(due[0].minute + 1) % 60)

    for device in (F5_A, F5_B):
        answer = f5("POST", f"{POOL}/members", device=device, json={"name": STRAY, "address": STRAY_IP})
        assert answer.status_code == 200, answer.text
    # only the minutes the test fires start a build: the wall clock reaching the job's minute while
    # it is enabled would start one more (with RECONCILE_FIX false), which made this test flaky
    assert emulator("jenkins", "PUT", "/timers", {"clock": False}) == {"clock": False}
    assert jenkins("POST", f"/job/{JOB}/enable").status_code in (200, 302)  # the lab's tests keep jobs disabled
    try:
        before = builds()
        assert emulator("jenkins", "POST", "/timers", {"at": f"{not_due:%Y-%m-%dT%H:%M:%SZ}"})["started"] == []
        started = emulator("jenkins", "POST", "/timers", {"at": f"{due[1]:%Y-%m-%dT%H:%M:%SZ}"})["started"]
        assert started == [JOB]
        report = finished(before)
        console = jenkins("GET", f"/job/{JOB}/{report['number']}/consoleText").text
        assert report["result"] == "FAILURE", console[-3000:]  # red: drift is left
        assert "Started by timer" in console and "reconcile: service acme-web, fix false" in console
        assert [c["shortDescription"] for a in report["actions"] for c in a.get("causes", [])] == ["Started by timer"]
        for device in (F5_A, F5_B):  # report-only: nothing changed
            assert STRAY in members(device)
        left = drift_state(lab)
        assert left["count"] == 1 and left["run"].startswith(f"jenkins-{JOB}-{report['number']}"), left
        wait_for(lambda: prometheus_value('vm_autoscale_drift{service="acme-web"}') == 1, 60, "the drift metric")

        before = builds()
        answer = jenkins("POST", f"/job/{JOB}/buildWithParameters?RECONCILE_FIX=true")
        assert answer.status_code == 201, answer.text
        fixed = finished(before)
        console = jenkins("GET", f"/job/{JOB}/{fixed['number']}/consoleText").text
        assert fixed["result"] == "SUCCESS", console[-3000:]
        assert "reconcile: service acme-web, fix true" in console
        for device in (F5_A, F5_B):
            assert STRAY not in members(device)
        assert drift_state(lab)["count"] == 0
        wait_for(lambda: prometheus_value('vm_autoscale_drift{service="acme-web"}') == 0, 60, "the drift metric")
    finally:
        jenkins("POST", f"/job/{JOB}/disable")
        emulator("jenkins", "PUT", "/timers", {"clock": True})
        for device in (F5_A, F5_B):
            if STRAY in members(device):
                f5("DELETE", f"{POOL}/members/~Common~{STRAY}", device=device)


def test_the_scheduled_awx_run_fixes_each_service_as_its_inventory_says(run_playbook, prepared, tmp_path):
    """The AWX schedule's variables (reconcile_fix_from_inventory, every service at once): a service
    whose autoscale.reconcile.fix is true is fixed, the others only reported; red while drift is left."""
    lab = prepared
    acme = yaml.safe_load((REPO / "inventories" / "lab" / "host_vars" / "acme-web.yml").read_text())["autoscale"]
    # a second inventory source, with a host_vars folder of its own (it wins over the lab's)
    overlay = tmp_path / "fix-acme"
    (overlay / "host_vars").mkdir(parents=True)
    (overlay / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"acme-web": None}}}))
    (overlay / "host_vars" / "acme-web.yml").write_text(
        yaml.safe_dump({"autoscale": {**acme, "reconcile": {"fix": True}}})
    )
    scheduled = ("-e", "reconcile_fix_from_inventory=true", "-e", "reconcile_fail_on_drift=true",
                 "-e", "vm_autoscale_several_services=true")  # fmt: skip
    for device in (F5_A, F5_B):
        answer = f5("POST", f"{POOL}/members", device=device, json={"name": STRAY, "address": STRAY_IP})
        assert answer.status_code == 200, answer.text
    try:
        reported = run_playbook("playbooks/reconcile.yml", *scheduled)  # the lab's inventory: fix false
        assert reported.returncode != 0, reported.stdout[-3000:]
        assert all(STRAY in members(device) for device in (F5_A, F5_B)) and drift_state(lab)["count"] == 1

        fixed = run_playbook("playbooks/reconcile.yml", "-i", str(overlay), *scheduled)
        failures = [
            (task["task"]["name"], host, result.get("msg"))
            for play in (fixed.result or {}).get("plays", [])
            for task in play["tasks"]
            for host, result in task["hosts"].items()
            if result.get("failed") and not result.get("ignore_errors")
        ]
        assert fixed.returncode == 0, (failures, fixed.stderr[-2000:])
        assert all(STRAY not in members(device) for device in (F5_A, F5_B)) and drift_state(lab)["count"] == 0
        assert "globex-api" in fixed.stats  # every service was looked at, in one run
    finally:
        for device in (F5_A, F5_B):
            if STRAY in members(device):
                f5("DELETE", f"{POOL}/members/~Common~{STRAY}", device=device)
