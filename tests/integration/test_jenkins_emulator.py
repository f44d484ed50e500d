"""community.general.jenkins_job, raw REST calls and a real Alertmanager against the lab's Jenkins
(with the Generic Webhook Trigger); results read back from Jenkins's REST API."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests
import yaml
from labclient import ALERTMANAGER, JENKINS, PATHS, ca, emulator, jenkins, plg, secret, wait_for

TOKEN = "lab-test-token-1"


def job_xml(command: str, token: str = TOKEN, description: str = "lab test", several: bool = False) -> str:
    return f"""<?xml version='1.1' encoding='UTF-8'?>
<project>
  <description>{description}</description>
  <keepDependencies>false</keepDependencies>
  <properties/>
  <disabled>false</disabled>
  <concurrentBuild>false</concurrentBuild>
  <triggers>
    <org.jenkinsci.plugins.gwt.GenericTrigger plugin="generic-webhook-trigger@2.4.1">
      <spec></spec>
      <genericVariables>
        <org.jenkinsci.plugins.gwt.GenericVariable>
          <expressionType>JSONPath</expressionType><key>status</key><value>$.status</value>
          <regexpFilter></regexpFilter><defaultValue></defaultValue>
        </org.jenkinsci.plugins.gwt.GenericVariable>
        <org.jenkinsci.plugins.gwt.GenericVariable>
          <expressionType>JSONPath</expressionType><key>service</key><value>$.commonLabels.service</value>
          <regexpFilter></regexpFilter>
        </org.jenkinsci.plugins.gwt.GenericVariable>
        <org.jenkinsci.plugins.gwt.GenericVariable>
          <expressionType>JSONPath</expressionType><key>alertname</key><value>$.alerts[0].labels.alertname</value>
          <regexpFilter></regexpFilter>
        </org.jenkinsci.plugins.gwt.GenericVariable>
        <org.jenkinsci.plugins.gwt.GenericVariable>
          <expressionType>JSONPath</expressionType><key>payload</key><value>$</value>
          <regexpFilter></regexpFilter>
        </org.jenkinsci.plugins.gwt.GenericVariable>
      </genericVariables>
      <regexpFilterText>$status</regexpFilterText>
      <regexpFilterExpression>^firing$</regexpFilterExpression>
      <printPostContent>false</printPostContent>
      <token>{token}</token><tokenCredentialId></tokenCredentialId>
      <silentResponse>false</silentResponse><overrideQuietPeriod>false</overrideQuietPeriod>
      <shouldNotFlattern>true</shouldNotFlattern><allowSeveralTriggersPerBuild>{str(several).lower()}</allowSeveralTriggersPerBuild>
    </org.jenkinsci.plugins.gwt.GenericTrigger>
  </triggers>
  <builders>
    <hudson.tasks.Shell><command>{command}</command></hudson.tasks.Shell>
  </builders>
</project>
"""


ENV_DUMP = (
    'env | grep -E "^(status|service|alertname|payload|BUILD_NUMBER|JOB_NAME)=" &gt; "$WORKSPACE_TMP/env-$BUILD_NUMBER"'
)


def builds(name: str) -> list[dict]:
    info = jenkins("GET", f"/job/{name}/api/json").json()
    return [jenkins("GET", f"/job/{name}/{b['number']}/api/json").json() for b in info["builds"]]


def build_env(name: str, number: int) -> dict:
    path = PATHS.state / "jenkins" / "workspace" / f"{name}@tmp" / f"env-{number}"
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def jenkins_job_play(name: str, **args) -> str:
    task = {
        "community.general.jenkins_job": {
            "name": name,
            "url": "{{ jenkins_url }}",
            "user": "{{ jenkins_username }}",
            **args,
        },
        "name": "job",
        "register": "out",
    }
    return yaml.safe_dump([{"hosts": "plg-lab", "gather_facts": False, "tasks": [task]}], sort_keys=False)


def run_job_module(run_playbook, name: str, **args) -> dict:
    args.setdefault("token", "{{ jenkins_api_token }}")
    run = run_playbook(jenkins_job_play(name, **{k: v for k, v in args.items() if v is not None}))
    result = run.task("job")
    assert not result.get("failed"), result.get("msg")
    return result


def test_jenkins_job_lifecycle_with_the_real_module(run_playbook):
    name = "lab-module-job"
    config = job_xml("true")
    assert run_job_module(run_playbook, name, config=config)["changed"] is True
    assert jenkins("GET", f"/job/{name}/api/json?tree=name").json() == {
        "_class": "hudson.model.FreeStyleProject",
        "name": name,
    }
    assert run_job_module(run_playbook, name, config=config)["changed"] is False
    updated = job_xml("true", description="updated")
    assert run_job_module(run_playbook, name, config=updated)["changed"] is True
    assert "<description>updated</description>" in jenkins("GET", f"/job/{name}/config.xml").text
    assert run_job_module(run_playbook, name, enabled=False)["changed"] is True
    assert jenkins("GET", f"/job/{name}/api/json").json()["color"] == "disabled"
    assert "<disabled>true</disabled>" in jenkins("GET", f"/job/{name}/config.xml").text
    assert run_job_module(run_playbook, name, enabled=False)["changed"] is False
    # With a password (not an API token) every POST needs the session-bound crumb.
    enabled = run_job_module(run_playbook, name, enabled=True, token=None, password="{{ vault_jenkins_password }}")
    assert enabled["changed"] is True
    assert jenkins("GET", f"/job/{name}/api/json").json()["color"] == "notbuilt"
    assert run_job_module(run_playbook, name, state="absent")["changed"] is True
    assert jenkins("GET", f"/job/{name}/api/json").status_code == 404
    assert run_job_module(run_playbook, name, state="absent")["changed"] is False


def test_csrf_duplicates_and_auth_answer_as_jenkins_does(lab):
    name = "lab-raw-job"
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    password = ("automation", secret("jenkins_password"))
    no_crumb = jenkins("POST", f"/createItem?name={name}", data=job_xml("true"), headers=headers, auth=password)
    assert no_crumb.status_code == 403 and "No valid crumb" in no_crumb.text
    assert jenkins("POST", f"/createItem?name={name}", data=job_xml("true"), headers=headers).status_code == 200
    try:
        duplicate = jenkins("POST", f"/createItem?name={name}", data=job_xml("true"), headers=headers)
        assert duplicate.status_code == 400
        assert (
            duplicate.headers["X-Error"].encode("latin-1").decode()
            == f"A job already exists with the name \u2018{name}\u2019"
        )
        assert jenkins("GET", "/api/json", auth=("automation", "wrong")).status_code == 401
        assert requests.get(f"{JENKINS}/api/json", verify=ca(), timeout=10).status_code == 403
        assert jenkins("GET", f"/job/{name}/disable").status_code == 405
    finally:
        jenkins("POST", f"/job/{name}/doDelete")


@pytest.fixture
def webhook_job(lab):
    name = "lab-webhook-job"
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    command = f"{ENV_DUMP}; sleep 1"
    assert jenkins("POST", f"/createItem?name={name}", data=job_xml(command), headers=headers).status_code == 200
    yield name
    jenkins("POST", f"/job/{name}/doDelete")


def invoke(body: dict, token: str | None = TOKEN, **kwargs) -> requests.Response:
    params = {"token": token} if token else {}
    return requests.post(
        f"{JENKINS}/generic-webhook-trigger/invoke", params=params, json=body, verify=ca(), timeout=10, **kwargs
    )


def test_generic_webhook_trigger_answers_per_the_spec(webhook_job):
    firing = {"status": "firing", "commonLabels": {"service": "acme-web"}, "alerts": [{"labels": {"alertname": "A"}}]}
    answer = invoke(firing).json()
    entry = answer["jobs"][webhook_job]
    assert answer["message"] == "Triggered jobs."
    assert entry["triggered"] is True and entry["url"] == f"queue/item/{entry['id']}/"
    assert entry["resolvedVariables"]["service"] == "acme-web"
    assert json.loads(entry["resolvedVariables"]["payload"]) == firing
    resolved = invoke({**firing, "status": "resolved"}).json()["jobs"][webhook_job]
    assert (resolved["triggered"], resolved["id"], resolved["url"]) == (False, 0, "")
    wrong = invoke(firing, token="nope")
    assert wrong.status_code == 404
    assert wrong.json() == {
        "jobs": None,
        "message": "Did not find any jobs with GenericTrigger configured!\nA token was supplied.\n",
    }
    bearer = invoke(firing, token=None, headers={"Authorization": f"Bearer {TOKEN}", "gwt-dry-run": "true"})
    assert bearer.json()["jobs"][webhook_job]["id"] == 0  # dry run: nothing queued
    done = wait_for(lambda: [b for b in builds(webhook_job) if not b["building"]], 30, "the triggered build")
    assert len(done) == 1 and done[0]["result"] == "SUCCESS"
    assert build_env(webhook_job, 1)["status"] == "firing"


def test_a_second_trigger_queues_behind_the_running_build(webhook_job):
    body = {"status": "firing", "commonLabels": {"service": "acme-web"}, "alerts": []}
    assert invoke(body).json()["jobs"][webhook_job]["triggered"]
    assert invoke(body).json()["jobs"][webhook_job]["triggered"]
    done = wait_for(
        lambda: len([b for b in builds(webhook_job) if not b["building"]]) == 2 and builds(webhook_job),
        40,
        "two builds",
    )
    first, second = sorted(done, key=lambda b: b["number"])
    assert second["timestamp"] >= first["timestamp"] + first["duration"], "non-concurrent builds overlapped"


def test_identical_triggers_fold_into_the_queued_build_with_allow_several_triggers(lab):
    """Queue.schedule2: equal parameters while an item waits (quiet period, or blocked behind the
    running build) fold into it; GWT's uuid parameter prevents that unless allowSeveralTriggersPerBuild."""
    name = "lab-webhook-fold"
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    # No race with the clock on a busy machine: the job's quiet period (6 s) is far longer than 20
    # posts take, and each build runs until the test releases it.
    released = PATHS.state / "jenkins" / "workspace" / f"{name}@tmp"
    xml = job_xml('while [ ! -e "$WORKSPACE_TMP/release-$BUILD_NUMBER" ]; do sleep 0.1; done', several=True)
    xml = xml.replace("<disabled>false</disabled>", "<disabled>false</disabled>\n  <quietPeriod>6</quietPeriod>")
    assert jenkins("POST", f"/createItem?name={name}", data=xml, headers=headers).status_code == 200

    def release(*numbers):
        released.mkdir(parents=True, exist_ok=True)
        for number in numbers:
            (released / f"release-{number}").touch()

    try:
        body = {"status": "firing", "commonLabels": {"service": "acme-web"}, "alerts": []}
        storm = [invoke(body).json()["jobs"][name] for _post in range(20)]
        assert all(entry["triggered"] for entry in storm)
        assert len({entry["id"] for entry in storm}) == 1, "20 equal triggers in the quiet period: one queue item"
        wait_for(lambda: [b for b in builds(name) if b["building"]], 30, "the build to start")
        during = {invoke(body).json()["jobs"][name]["id"] for _post in range(5)}  # blocked behind the running build
        assert len(during) == 1 and during != {storm[0]["id"]}
        release(1, 2)
        done = wait_for(
            lambda: len([b for b in builds(name) if not b["building"]]) == 2 and builds(name), 40, "2 builds"
        )
        assert len(done) == 2
        causes = jenkins("GET", f"/job/{name}/1/api/json").json()["actions"][0]["causes"]
        assert len(causes) == 20 and {c["_class"] for c in causes} == {"org.jenkinsci.plugins.gwt.GenericCause"}
    finally:
        release(1, 2, 3)  # never leave a build waiting
        jenkins("POST", f"/job/{name}/doDelete")


def test_jenkins_down_refuses_connections_then_comes_back(lab):
    emulator("jenkins", "POST", "/down", {"seconds": 2})
    with pytest.raises(requests.exceptions.ConnectionError):
        jenkins("GET", "/api/json")
    wait_for(lambda: emulator("jenkins", "GET", "/status")["up"], 10, "jenkins back up")
    assert jenkins("GET", "/api/json").status_code == 200


def _alertmanager_with_webhook(token: str) -> dict:
    path = PATHS.plg / "alertmanager" / "alertmanager.yml"
    config = yaml.safe_load(path.read_text())
    config["route"]["routes"] = [
        {
            "receiver": "jenkins-acme-web",
            # this test's alerts only (their own label): an alert of acme-web another test raised
            # stays active in Alertmanager for minutes after its rule is gone (test_forged_notifications'
            # LabOperatorAlert did reach this webhook on a fresh clone) and must not reach it
            "matchers": ['service="acme-web"', 'lab_test="jenkins_emulator"'],
            "group_by": ["alertname", "service"],
            "group_wait": "1s",
            "group_interval": "2s",
            "repeat_interval": "1h",
        }
    ]
    config["receivers"].append({"name": "jenkins-acme-web", "webhook_configs": [{
        "url": f"{JENKINS}/generic-webhook-trigger/invoke", "send_resolved": True,
        "http_config": {"authorization": {"type": "Bearer", "credentials": token}, "tls_config": {"ca_file": ca()}},
    }]})  # fmt: skip
    return config


def _am(method: str, path: str, **kwargs) -> requests.Response:
    return plg(method, f"{ALERTMANAGER}{path}", **kwargs)


@pytest.fixture
def alertmanager_config():
    path = PATHS.plg / "alertmanager" / "alertmanager.yml"
    original = path.read_text()

    def apply(config: dict) -> None:
        path.write_text(yaml.safe_dump(config))
        assert _am("POST", "/-/reload").status_code == 200

    yield apply
    path.write_text(original)
    _am("POST", "/-/reload")


def _fire(alertname: str, ends: float | None = None) -> None:
    now = time.time()
    alert = {
        "labels": {
            "alertname": alertname,
            "service": "acme-web",
            "autoscale_action": "scale_out",
            "lab_test": "jenkins_emulator",
        },
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 5)),
    }
    if ends:
        alert["endsAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ends))
    assert _am("POST", "/api/v2/alerts", json=[alert]).status_code == 200


def test_alertmanager_firing_triggers_exactly_one_build_and_resolved_none(webhook_job, alertmanager_config):
    alertmanager_config(_alertmanager_with_webhook(TOKEN))
    _fire("LabScaleOut")
    wait_for(lambda: [b for b in builds(webhook_job) if not b["building"]], 30, "the build Alertmanager triggered")
    env = build_env(webhook_job, 1)
    assert (env["status"], env["service"], env["alertname"]) == ("firing", "acme-web", "LabScaleOut")
    assert json.loads(env["payload"])["receiver"] == "jenkins-acme-web"
    _fire("LabScaleOut", ends=time.time() - 1)  # resolve it: Alertmanager sends "resolved"
    webhooks = wait_for(
        lambda: [w for w in emulator("jenkins", "GET", "/webhooks") if w["job"] == webhook_job and not w["triggered"]],
        20,
        "the resolved notification",
    )
    assert webhooks
    time.sleep(3)  # a group_interval: a duplicate build would have been queued by now
    assert len(builds(webhook_job)) == 1


def test_alertmanager_with_a_wrong_token_triggers_nothing(webhook_job, alertmanager_config):
    alertmanager_config(_alertmanager_with_webhook("wrong-token"))
    _fire("LabWrongToken")

    def failed_notifications() -> float:
        text = _am("GET", "/metrics").text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith('alertmanager_notifications_failed_total{integration="webhook"')
        )

    wait_for(lambda: failed_notifications() >= 1, 20, "Alertmanager to see Jenkins's 404")
    assert builds(webhook_job) == []
    assert Path(PATHS.state / "jenkins").is_dir()


STORE = "/credentials/store/system/domain/_"
SECRET_TEXT = "org.jenkinsci.plugins.plaincredentials.impl.StringCredentialsImpl"


def secret_text(ident: str, secret: str) -> str:
    return (f"<{SECRET_TEXT}><scope>GLOBAL</scope><id>{ident}</id><description>lab test</description>"
            f"<secret>{secret}</secret></{SECRET_TEXT}>")  # fmt: skip


def test_the_credentials_store_and_token_credential_id_answer_as_jenkins_does(lab):
    """The credentials plugin's REST API (CredentialsStoreAction) and the Generic Webhook Trigger's
    tokenCredentialId: the credential's secret replaces the static token; a missing credential
    falls back to it."""
    ident, name = "lab-test-credential", "lab-credential-job"
    xml = {"Content-Type": "application/xml"}
    jenkins("POST", f"{STORE}/credential/{ident}/doDelete")
    jenkins("POST", f"/job/{name}/doDelete")
    try:
        assert jenkins("POST", f"{STORE}/createCredentials", data=secret_text(ident, "from-the-store-12345"),
                       headers=xml).status_code == 200  # fmt: skip
        again = jenkins("POST", f"{STORE}/createCredentials", data=secret_text(ident, "x" * 20), headers=xml)
        assert again.status_code == 409  # the store refuses a second credential with that id
        assert jenkins("POST", f"{STORE}/createCredentials", data=secret_text("other", "y" * 20)).status_code == 400
        assert jenkins("GET", f"{STORE}/credential/{ident}/api/json", auth=None).status_code == 403
        info = jenkins("GET", f"{STORE}/credential/{ident}/api/json").json()
        assert (info["id"], info["typeName"], info["description"]) == (ident, "Secret text", "lab test")
        redacted = jenkins("GET", f"{STORE}/credential/{ident}/config.xml").text
        assert "<secret-redacted/>" in redacted and "from-the-store" not in redacted

        # A job whose trigger names the credential: its secret replaces the static token.
        config = job_xml("true", token="static-token-0000000000").replace(
            "<tokenCredentialId></tokenCredentialId>", f"<tokenCredentialId>{ident}</tokenCredentialId>"
        )
        created = jenkins("POST", f"/createItem?name={name}", data=config, headers={"Content-Type": "text/xml"})
        assert created.status_code == 200
        firing = {"status": "firing", "commonLabels": {"service": "x"}, "alerts": [{"labels": {"alertname": "A"}}]}
        dry = {"gwt-dry-run": "true"}
        assert invoke(firing, token="from-the-store-12345", headers=dry).json()["jobs"][name]["triggered"] is True
        assert invoke(firing, token="static-token-0000000000", headers=dry).status_code == 404

        # Updated through config.xml: the new secret counts at once.
        updated = jenkins("POST", f"{STORE}/credential/{ident}/config.xml",
                          data=secret_text(ident, "rotated-secret-67890"), headers=xml)  # fmt: skip
        assert updated.status_code == 200
        assert invoke(firing, token="from-the-store-12345", headers=dry).status_code == 404
        assert invoke(firing, token="rotated-secret-67890", headers=dry).json()["jobs"][name]["triggered"] is True

        # Deleted: 302 to the domain, gone from the API; the trigger falls back to its static token.
        deleted = jenkins("POST", f"{STORE}/credential/{ident}/doDelete", allow_redirects=False)
        assert deleted.status_code == 302
        assert jenkins("GET", f"{STORE}/credential/{ident}/api/json").status_code == 404
        assert invoke(firing, token="static-token-0000000000", headers=dry).json()["jobs"][name]["triggered"] is True
    finally:
        jenkins("POST", f"{STORE}/credential/{ident}/doDelete")
        jenkins("POST", f"/job/{name}/doDelete")
