"""jenkins_autoscale_job against the lab's Jenkins (with the Generic Webhook Trigger): create,
unchanged re-run, change, disable, enable, delete, check mode, errors; results read back from
Jenkins's REST API, and the trigger exercised with Alertmanager-shaped notifications."""

from __future__ import annotations

import json
import textwrap

from conftest import REPO
from labclient import emulator, jenkins

JOB = "autoscale-modtest"
TOKEN = "modtest-token-0123456789"
CREDENTIAL = "vm-autoscale-webhook-modtest"
STORE = "/credentials/store/system/domain/_"


# Jenkins and the lab's checkout: what every call of the module here shares.
CONNECTION = {
    "url": "{{ jenkins_url }}",
    "username": "{{ jenkins_username }}",
    "api_token": "{{ jenkins_api_token }}",
    "ca_path": "{{ vm_autoscale_ca_path }}",
    "pipeline": {"scm_url": f"file://{REPO}", "branch": "main"},
}


def run_task(run_playbook, options, *extra, check=False):
    """One jenkins_autoscale_job task with these options, against the lab's Jenkins; its result."""
    play = textwrap.dedent(f"""
    - hosts: plg-lab
      gather_facts: false
      tasks:
        - name: job
          danacloud.vm_autoscale.jenkins_autoscale_job: {json.dumps(options)}
          ignore_errors: true
    """)  # fmt: skip
    run = run_playbook(play, *(("--check",) if check else ()), "--diff", *extra)
    assert run.result is not None, run.stderr
    return run.task("job")


def run_module(run_playbook, *extra, check=False, **args):
    """One job (service modtest)."""
    return run_task(run_playbook, {"service": "modtest", "token": TOKEN, **CONNECTION, **args}, *extra, check=check)


def job_json():
    answer = jenkins("GET", f"/job/{JOB}/api/json")
    return None if answer.status_code == 404 else answer.json()


def notify(status="firing", service="modtest", token=TOKEN):
    body = {"version": "4", "status": status, "receiver": "vm_autoscale-modtest",
            "commonLabels": {"service": service, "autoscale_action": "scale_out", "alertname": "VmAutoscaleScaleOut"},
            "alerts": [{"status": status, "labels": {"service": service}, "fingerprint": "f00d", "startsAt": "2026-11-22T10:00:00Z"}]}  # fmt: skip
    return jenkins("POST", "/generic-webhook-trigger/invoke", json=body, auth=None,
                   headers={"Authorization": f"Bearer {token}", "gwt-dry-run": "true"})  # fmt: skip


def test_the_job_lifecycle_read_back_from_jenkins(run_playbook):
    jenkins("POST", f"/job/{JOB}/doDelete")
    try:
        check = run_module(run_playbook, check=True)
        assert check["changed"] and check["operation"] == "created" and job_json() is None

        created = run_module(run_playbook)
        assert created["changed"] and created["operation"] == "created", created
        assert created["webhook_url"] == "https://198.18.0.30/generic-webhook-trigger/invoke"
        assert created["enabled"] is True and created["job_url"] == f"https://198.18.0.30/job/{JOB}/"
        job = job_json()
        assert job["_class"] == "org.jenkinsci.plugins.workflow.job.WorkflowJob" and job["color"] != "disabled"
        config = jenkins("GET", f"/job/{JOB}/config.xml").text
        assert "<numToKeep>50</numToKeep>" in config and "DisableConcurrentBuildsJobProperty" in config
        assert f"<url>file://{REPO}</url>" in config and "<scriptPath>jenkins/Jenkinsfile</scriptPath>" in config
        assert TOKEN not in config and TOKEN not in created["diff"][0]["after"] and TOKEN not in json.dumps(created)
        assert f"<tokenCredentialId>{CREDENTIAL}</tokenCredentialId>" in config and created["credential"] == "created"

        again = run_module(run_playbook)
        assert not again["changed"] and again["operation"] == "none"

        # Check mode on a change and a disable: reported, with its diff, and nothing changes in Jenkins.
        check_change = run_module(run_playbook, check=True, keep_builds=20, enabled=False)
        assert check_change["changed"] and check_change["operation"] == "updated", check_change
        assert "<numToKeep>20</numToKeep>" in check_change["diff"][0]["after"]
        assert "<numToKeep>50</numToKeep>" in jenkins("GET", f"/job/{JOB}/config.xml").text
        assert job_json()["color"] != "disabled"

        changed = run_module(run_playbook, keep_builds=20)
        assert changed["changed"] and changed["operation"] == "updated"
        assert "<numToKeep>20</numToKeep>" in jenkins("GET", f"/job/{JOB}/config.xml").text
        assert "<numToKeep>50</numToKeep>" in changed["diff"][0]["before"]

        disabled = run_module(run_playbook, keep_builds=20, enabled=False)
        assert disabled["changed"] and disabled["enabled"] is False and job_json()["color"] == "disabled"
        assert notify().json()["jobs"][JOB]["triggered"] is False  # a disabled job answers, and builds nothing
        enabled = run_module(run_playbook, keep_builds=20)
        assert enabled["changed"] and enabled["enabled"] is True and job_json()["color"] != "disabled"

        check_delete = run_module(run_playbook, check=True, state="absent")
        assert check_delete["changed"] and job_json() is not None
        deleted = run_module(run_playbook, state="absent")
        assert deleted["changed"] and deleted["operation"] == "deleted" and job_json() is None
        assert not run_module(run_playbook, state="absent")["changed"]
    finally:
        jenkins("POST", f"/job/{JOB}/doDelete")


def test_the_trigger_lets_only_firing_notifications_of_its_service_through(run_playbook):
    jenkins("POST", f"/job/{JOB}/doDelete")
    try:
        assert run_module(run_playbook)["changed"]
        firing = notify().json()["jobs"][JOB]
        assert firing["triggered"] is True
        variables = firing["resolvedVariables"]
        assert (variables["AM_STATUS"], variables["AM_SERVICE"], variables["AM_ACTION"]) == (
            "firing",
            "modtest",
            "scale_out",
        )
        assert variables["AM_FINGERPRINT"] == "f00d" and json.loads(variables["AM_PAYLOAD"])["status"] == "firing"
        assert notify(status="resolved").json()["jobs"][JOB]["triggered"] is False
        assert notify(service="modtest-other").json()["jobs"][JOB]["triggered"] is False
        wrong = notify(token="not-the-token-000000")
        assert wrong.status_code == 404 and wrong.json()["jobs"] is None
    finally:
        jenkins("POST", f"/job/{JOB}/doDelete")


def credential():
    answer = jenkins("GET", f"{STORE}/credential/{CREDENTIAL}/api/json")
    return None if answer.status_code == 404 else answer.json()


def test_the_token_lives_in_a_credential_never_in_the_job(run_playbook):
    jenkins("POST", f"/job/{JOB}/doDelete")
    jenkins("POST", f"{STORE}/credential/{CREDENTIAL}/doDelete")
    try:
        assert run_module(run_playbook)["credential"] == "created"
        stored = credential()
        assert stored["typeName"] == "Secret text" and "sha256" in stored["description"]
        redacted = jenkins("GET", f"{STORE}/credential/{CREDENTIAL}/config.xml").text
        assert "<secret-redacted/>" in redacted and TOKEN not in redacted  # Jenkins never gives it back
        assert notify().json()["jobs"][JOB]["triggered"] is True  # resolved from the credential
        assert run_module(run_playbook)["changed"] is False

        # A rotated token updates the credential only; the old token no longer reaches the job.
        new = "modtest-rotated-9876543210"
        rotated = run_module(run_playbook, token=new)
        assert rotated["changed"] and rotated["credential"] == "updated" and rotated["operation"] == "none"
        assert credential()["description"] != stored["description"]
        assert notify().status_code == 404 and notify(token=new).json()["jobs"][JOB]["triggered"] is True

        # The credential removed behind the module's back: the job falls back to its (empty) static
        # token, so no token reaches it; the next run puts the credential back.
        jenkins("POST", f"{STORE}/credential/{CREDENTIAL}/doDelete")
        assert notify(token=new).status_code == 404
        assert run_module(run_playbook, token=new)["credential"] == "created"
        assert notify(token=new).json()["jobs"][JOB]["triggered"] is True

        deleted = run_module(run_playbook, state="absent")
        assert deleted["operation"] == "deleted" and deleted["credential"] == "deleted"
        assert job_json() is None and credential() is None
    finally:
        jenkins("POST", f"/job/{JOB}/doDelete")
        jenkins("POST", f"{STORE}/credential/{CREDENTIAL}/doDelete")


def test_errors_name_the_job_and_say_why(run_playbook):
    bad = run_module(run_playbook, api_token="not-the-token")
    assert bad["failed"] and "job autoscale-modtest: Jenkins at https://198.18.0.30 answered" in bad["msg"]
    assert "401 (the user name or API token is wrong)" in bad["msg"] and "user automation" in bad["msg"]
    assert "not-the-token" not in json.dumps(bad)
    nowhere = run_module(run_playbook, url="https://127.0.0.1:9")
    assert nowhere["failed"] and "Jenkins at https://127.0.0.1:9 cannot be reached" in nowhere["msg"]
    short = run_module(run_playbook, token="short")
    assert short["failed"] and "the webhook token has 5 characters; use 16 or more" in short["msg"]
    nothing = run_module(run_playbook, pipeline={})
    assert nothing["failed"] and "give pipeline.scm_url" in nothing["msg"] and job_json() is None


def run_jobs(run_playbook, jobs, check=False, **args):
    """Many jobs in one call (the jobs option)."""
    return run_task(run_playbook, {"jobs": jobs, **CONNECTION, **args}, check=check)


def test_many_jobs_in_one_call_read_back_from_jenkins(run_playbook):
    names = [f"autoscale-batch{index}" for index in range(3)]
    jobs = [{"service": f"batch{index}", "token": f"batch{index}-token-0123456789"} for index in range(3)]
    jobs[2]["enabled"] = False

    def listed():
        return {name: (job_json_of(name) or {}).get("color") for name in names}

    for name in names:
        jenkins("POST", f"/job/{name}/doDelete")
    try:
        short = run_jobs(run_playbook, [*jobs, {"service": "batch9", "token": "short"}])
        assert short["failed"] and "job autoscale-batch9: the webhook token has 5 characters" in short["msg"]
        twice = run_jobs(run_playbook, [*jobs, {"service": "batch0", "token": "batch0-token-0123456789"}])
        assert twice["failed"] and "job autoscale-batch0: given twice" in twice["msg"]
        assert "nothing was changed" in twice["msg"] and listed() == dict.fromkeys(names)

        check = run_jobs(run_playbook, jobs, check=True)
        assert check["changed"] and [one["operation"] for one in check["jobs"]] == ["created"] * 3
        assert listed() == dict.fromkeys(names)

        made = run_jobs(run_playbook, jobs)
        assert made["changed"] and [one["name"] for one in made["jobs"]] == names
        assert [one["enabled"] for one in made["jobs"]] == [True, True, False]
        assert len(made["diff"]) == 3
        assert all("<tokenCredentialId>vm-autoscale-webhook-batch" in diff["after"] for diff in made["diff"])
        colors = listed()
        assert colors[names[2]] == "disabled" and None not in colors.values()
        assert colors[names[0]] != "disabled" and colors[names[1]] != "disabled"
        for job in jobs:  # each job has its own token, and that token reaches only it
            answer = jenkins("POST", "/generic-webhook-trigger/invoke", auth=None,
                             json={"status": "firing", "commonLabels": {"service": job["service"]}, "alerts": []},
                             headers={"Authorization": f"Bearer {job['token']}", "gwt-dry-run": "true"})  # fmt: skip
            assert list(answer.json()["jobs"]) == [f"autoscale-{job['service']}"]
        assert all(job["token"] not in json.dumps(made) for job in jobs)

        again = run_jobs(run_playbook, jobs)
        assert not again["changed"] and {one["operation"] for one in again["jobs"]} == {"none"}

        # Jenkins fails on the third: the two before it stay as made, and the error names them.
        emulator("jenkins", "POST", "/faults", {"path": f"/job/{names[2]}/", "status": 500, "count": 1})
        try:
            broken = run_jobs(run_playbook, jobs, keep_builds=7)
        finally:
            emulator("jenkins", "DELETE", "/faults")
        assert broken["failed"] and f"job {names[2]}: Jenkins at" in broken["msg"] and "500" in broken["msg"]
        assert "(done before it: autoscale-batch0 updated, autoscale-batch1 updated)" in broken["msg"], broken["msg"]
        assert "<numToKeep>7</numToKeep>" in jenkins("GET", f"/job/{names[0]}/config.xml").text
        assert "<numToKeep>7</numToKeep>" not in jenkins("GET", f"/job/{names[2]}/config.xml").text

        gone = run_jobs(run_playbook, [{"service": f"batch{index}"} for index in range(3)], state="absent")
        assert [one["operation"] for one in gone["jobs"]] == ["deleted"] * 3
        assert listed() == dict.fromkeys(names)
    finally:
        for name in names:
            jenkins("POST", f"/job/{name}/doDelete")


def job_json_of(name):
    answer = jenkins("GET", f"/job/{name}/api/json")
    return None if answer.status_code == 404 else answer.json()


RECONCILE = "reconcile-modtest"


def parameters(config: str) -> dict:
    import defusedxml.ElementTree as ET

    root = ET.fromstring(config.encode())
    return {
        d.findtext("name"): d.findtext("defaultValue") for d in root.iter() if d.tag.endswith("ParameterDefinition")
    }


def test_the_scheduled_reconcile_job_follows_the_service_read_back_from_jenkins(run_playbook):
    for name in (JOB, RECONCILE):
        jenkins("POST", f"/job/{name}/doDelete")
    try:
        # a spec Jenkins cannot read: it refuses the config, with the parser's reason
        bad = run_module(run_playbook, reconcile={"schedule": "H/15 * * *"}, timeout_seconds=900)
        assert bad["failed"] and f"job {JOB}: Jenkins at" in bad["msg"] and "expected 5 fields" in bad["msg"], bad
        assert job_json_of(RECONCILE) is None

        made = run_module(run_playbook, reconcile={"schedule": "H/15 * * * *", "fix": True}, timeout_seconds=900)
        assert made["changed"] and made["reconcile"]["operation"] == "created", made
        assert made["reconcile"]["enabled"] is True and job_json_of(RECONCILE)["color"] != "disabled"
        config = jenkins("GET", f"/job/{RECONCILE}/config.xml").text
        assert (
            "<spec>H/15 * * * *</spec>" in config and "<scriptPath>jenkins/Jenkinsfile.reconcile</scriptPath>" in config
        )
        assert parameters(config) == {"AUTOSCALE_SERVICE": "modtest", "AUTOSCALE_TIMEOUT_SECONDS": "900",
                                      "RECONCILE_FIX": "true"}  # fmt: skip
        assert parameters(jenkins("GET", f"/job/{JOB}/config.xml").text)["AUTOSCALE_TIMEOUT_SECONDS"] == "900"
        assert "GenericTrigger" not in config and TOKEN not in config

        same = run_module(run_playbook, reconcile={"schedule": "H/15 * * * *", "fix": True}, timeout_seconds=900)
        assert not same["changed"] and same["reconcile"]["operation"] == "none"

        hourly = run_module(run_playbook, reconcile={"schedule": "@hourly"}, timeout_seconds=1200, enabled=False)
        assert hourly["changed"] and hourly["reconcile"]["operation"] == "updated"
        config = jenkins("GET", f"/job/{RECONCILE}/config.xml").text
        assert "<spec>@hourly</spec>" in config and parameters(config)["RECONCILE_FIX"] == "false"
        assert parameters(config)["AUTOSCALE_TIMEOUT_SECONDS"] == "1200"
        assert job_json_of(RECONCILE)["color"] == "disabled"  # it follows the service's job

        unscheduled = run_module(run_playbook, timeout_seconds=1200)
        assert unscheduled["reconcile"]["operation"] == "deleted" and job_json_of(RECONCILE) is None
        run_module(run_playbook, reconcile={"schedule": "H/15 * * * *"})
        assert job_json_of(RECONCILE) is not None
        gone = run_module(run_playbook, state="absent")
        assert gone["operation"] == "deleted" and gone["reconcile"]["operation"] == "deleted"
        assert job_json_of(JOB) is None and job_json_of(RECONCILE) is None
    finally:
        for name in (JOB, RECONCILE):
            jenkins("POST", f"/job/{name}/doDelete")
