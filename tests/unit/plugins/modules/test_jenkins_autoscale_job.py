"""jenkins_autoscale_job's input checks: every job is checked before Jenkins is asked anything.

Jenkins itself is the lab's (tests/integration/test_jenkins_autoscale_job.py); here the URL is a
closed port on 127.0.0.1, so an input that passes the checks ends in "cannot be reached"."""

import json

from ansible_collections.danacloud.vm_autoscale.plugins.modules import jenkins_autoscale_job

COMMON = {"url": "https://127.0.0.1:9", "username": "automation", "api_token": "api-token-secret",
          "pipeline": {"scm_url": "file:///srv/vm_autoscale"}, "timeout": 2}  # fmt: skip
TOKEN = "a-token-of-24-characters"


def test_every_bad_job_is_named_and_nothing_is_asked(run_module):
    result = run_module(jenkins_autoscale_job.main, {**COMMON, "jobs": [
        {"service": "web", "token": TOKEN},
        {"service": "api", "token": "short"},
        {"service": "Bad_Name", "token": TOKEN},
        {"service": "web2", "name": "autoscale-web", "token": TOKEN},
        {"service": "db"},
    ]})  # fmt: skip
    assert result["failed"]
    message = result["msg"]
    assert "job autoscale-api: the webhook token has 5 characters; use 16 or more" in message
    assert "service 'Bad_Name': use lower-case letters, digits and '-', at most 40 characters" in message
    assert "job autoscale-web: given twice (services web and web2)" in message
    assert "job autoscale-db: give the service's webhook token (token)" in message
    assert message.endswith(" - nothing was changed") and "cannot be reached" not in message


def test_a_job_takes_the_top_level_state_and_needs_no_token_to_go(run_module):
    result = run_module(jenkins_autoscale_job.main, {**COMMON, "state": "absent", "jobs": [{"service": "web"}]})
    assert result["failed"] and result["msg"].startswith(
        "Failed to remove job autoscale-web: Jenkins at https://127.0.0.1:9 cannot be reached"
    )
    assert "(nothing was changed before it)" in result["msg"] and result["jobs"] == []


def test_one_service_or_many_not_both(run_module):
    both = run_module(
        jenkins_autoscale_job.main, {**COMMON, "service": "web", "token": TOKEN, "jobs": [{"service": "api"}]}
    )
    assert both["failed"] and "mutually exclusive" in both["msg"]
    shared = run_module(jenkins_autoscale_job.main, {**COMMON, "token": TOKEN, "jobs": [{"service": "api"}]})
    assert shared["failed"] and "mutually exclusive" in shared["msg"]  # each service has its own token
    neither = run_module(jenkins_autoscale_job.main, COMMON)
    assert neither["failed"] and "one of the following is required: service, jobs" in neither["msg"]


def test_one_service_checks_as_before(run_module):
    result = run_module(jenkins_autoscale_job.main, {**COMMON, "service": "web"})
    assert result["failed"] and "job autoscale-web: give the service's webhook token" in result["msg"]
    result = run_module(jenkins_autoscale_job.main, {**COMMON, "service": "web", "token": TOKEN, "keep_builds": 0})
    assert result["failed"] and "keep_builds is 0, expected 1 or more" in result["msg"]
    assert TOKEN not in str(result)


def test_a_bad_timeout_or_schedule_is_named_before_jenkins_is_asked(run_module):
    result = run_module(jenkins_autoscale_job.main, {**COMMON, "jobs": [
        {"service": "web", "token": TOKEN, "timeout_seconds": 30},
        {"service": "api", "token": TOKEN, "reconcile": {"schedule": "H * * * *\nH/5 * * * *"}},
        {"service": "db", "token": TOKEN, "reconcile": {"schedule": "H * * * * # hourly"}},
    ]})  # fmt: skip
    message = result["msg"]
    assert result["failed"] and message.endswith(" - nothing was changed") and "cannot be reached" not in message
    assert "job autoscale-web: timeout_seconds is 30, expected 60 or more" in message
    assert "job autoscale-api: reconcile.schedule 'H * * * *\\nH/5 * * * *' is not one line" in message
    assert "job autoscale-db: reconcile.schedule 'H * * * * # hourly' is not one line without comments" in message


def test_an_inline_pipeline_needs_an_inline_reconcile_pipeline_for_a_schedule(run_module):
    inline = {**COMMON, "pipeline": {"script": "pipeline { }"}}
    result = run_module(jenkins_autoscale_job.main, {**inline, "service": "web", "token": TOKEN,
                                                     "reconcile": {"schedule": "@hourly"}})  # fmt: skip
    assert (
        result["failed"] and "give pipeline.scm_url or pipeline.reconcile_script for its reconcile job" in result["msg"]
    )
    unscheduled = run_module(jenkins_autoscale_job.main, {**inline, "service": "web", "token": TOKEN})
    assert unscheduled["failed"] and "cannot be reached" in unscheduled["msg"]  # passed the checks


def test_the_connection_comes_from_the_jenkins_cli_environment_variables(run_module, monkeypatch):
    """JENKINS_URL, JENKINS_USER_ID and JENKINS_API_TOKEN, as the Jenkins CLI client reads them."""
    monkeypatch.setenv("JENKINS_URL", "https://127.0.0.1:9")
    monkeypatch.setenv("JENKINS_USER_ID", "automation")
    monkeypatch.setenv("JENKINS_API_TOKEN", "api-token-from-env")
    args = {"service": "web", "token": TOKEN, "pipeline": {"scm_url": "file:///srv/vm_autoscale"}, "timeout": 2}
    result = run_module(jenkins_autoscale_job.main, args)
    # past the input checks to the (closed) URL of the environment
    assert result["failed"] and "Jenkins at https://127.0.0.1:9 cannot be reached" in result["msg"], result
    assert result["webhook_url"] == "https://127.0.0.1:9/generic-webhook-trigger/invoke"
    assert "api-token-from-env" not in json.dumps(result)
    for name in ("JENKINS_URL", "JENKINS_USER_ID", "JENKINS_API_TOKEN"):
        monkeypatch.delenv(name)
    missing = run_module(jenkins_autoscale_job.main, args)
    assert missing["failed"] and "missing required arguments: api_token, url, username" in missing["msg"]
