#!/usr/bin/python
# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: jenkins_autoscale_job
short_description: A service's autoscale pipeline job in Jenkins, triggered by Alertmanager
version_added: 0.1.0
description:
  - Creates, updates, enables, disables or deletes the pipeline job C(autoscale-<service>) through
    Jenkins's REST API. Each service has its own job, with its own history, logs and token, so
    that scale-outs of different services run at once and never mix.
  - The job runs the collection's C(jenkins/Jenkinsfile), from Git (O(pipeline.scm_url)) or
    inline (O(pipeline.script)). It has a Generic Webhook Trigger with the service's O(token).
  - The token is kept in Jenkins's global credentials store, as the Secret text credential
    C(vm-autoscale-webhook-<service>), and the trigger names it (C(tokenCredentialId)), so the
    job's config.xml never holds the token. The credential's description carries a short
    SHA-256 of the token, so that a changed (rotated) token updates it and an unchanged one
    does not. It is made before the job and deleted after it.
    The trigger extracts the notification's status, service, action, alert name, fingerprint,
    start time and whole body as the build's environment (C(AM_STATUS), C(AM_SERVICE),
    C(AM_ACTION), C(AM_ALERTNAME), C(AM_FINGERPRINT), C(AM_STARTS_AT), C(AM_PAYLOAD)). A filter
    lets only C(firing) notifications of this service through.
  - Concurrent builds are disabled and the build history is kept to O(keep_builds).
  - The job's parameter C(AUTOSCALE_TIMEOUT_SECONDS) is O(timeout_seconds), the longest a run of
    the service may take (the jenkins_autoscale role computes it from the service's steps and the
    step limits). The job's step (C(jenkins/autoscale.sh)) stops the run after it.
  - With O(reconcile.schedule), the service also gets the scheduled reconcile job
    C(reconcile-<service>) (in the same folder), built by Jenkins's timer (C(TimerTrigger)) with
    the parameters C(AUTOSCALE_SERVICE), C(RECONCILE_FIX) (default O(reconcile.fix)) and
    C(AUTOSCALE_TIMEOUT_SECONDS); it runs C(jenkins/Jenkinsfile.reconcile). Without a schedule,
    or when the service's job is V(absent), that job is deleted. It is enabled when the service's
    job is.
  - The wanted config.xml is compared with the job's current one as data. Jenkins's own
    formatting is not a change - the XML declaration, the plugin version attributes and the
    indentation are ignored. The config is posted only on a real difference.
author:
  - Dana Cloud platform team (@danacloud)
extends_documentation_fragment:
  - danacloud.vm_autoscale.jenkins
attributes:
  check_mode:
    description: Can run in check mode; reads only, and reports what it would change.
    support: full
  diff_mode:
    description: Shows the config.xml before and after, with the token masked.
    support: full
options:
  service:
    description:
      - The service (letters, digits and C(-)). Give O(service) for one job, or O(jobs) for many.
    type: str
  name:
    description: The job's name; C(autoscale-<service>) when omitted. C(folder/name) for a job in a folder.
    type: str
  state:
    description: V(present) creates or updates the job; V(absent) deletes it (and its build history).
    type: str
    choices: [present, absent]
    default: present
  enabled:
    description: Whether the job runs when triggered. A disabled job still answers the webhook, and builds nothing.
    type: bool
    default: true
  jobs:
    description:
      - Many services' jobs in one call, with one Jenkins session - what onboarding uses, so that
        hundreds of services cost one task, not one per service. Instead of O(service).
      - Each job takes the top level's O(state), O(enabled) and O(description) for what it leaves
        out, and the top level's connection, O(pipeline) and O(keep_builds).
      - Every job is checked before any is changed. When Jenkins refuses one half-way, the jobs
        before it stay as made (they are what the inventory wants; a re-run completes the rest),
        and the error names them.
    type: list
    elements: dict
    suboptions:
      service:
        description: The service.
        type: str
        required: true
      name:
        description: The job's name; C(autoscale-<service>) when omitted.
        type: str
      state:
        description: V(present) or V(absent); the top level's O(state) when omitted.
        type: str
        choices: [present, absent]
      enabled:
        description: Whether the job runs when triggered; the top level's O(enabled) when omitted.
        type: bool
      token:
        description: The service's webhook token (at least 16 characters); required when the job is V(present).
        type: str
      description:
        description: The job's description.
        type: str
      timeout_seconds:
        description: The run's timeout; the top level's O(timeout_seconds) when omitted.
        type: int
      reconcile:
        description: The service's scheduled reconcile job; the top level's O(reconcile) when omitted.
        type: dict
        suboptions:
          schedule:
            description: Its Jenkins cron spec; an empty string for none.
            type: str
            default: ''
          fix:
            description: Whether it fixes the drift it finds.
            type: bool
            default: false
  timeout_seconds:
    description:
      - Seconds a run of the service may take (the job parameter C(AUTOSCALE_TIMEOUT_SECONDS)); at least 60.
      - The default is the bound of a service with steps of 1 and the default step limits.
    type: int
    default: 5400
  reconcile:
    description: The scheduled reconcile job of the service.
    type: dict
    default: {}
    suboptions:
      schedule:
        description:
          - Its Jenkins cron spec (for example C(H/15 * * * *)); an empty string for no scheduled
            reconcile job. Jenkins refuses a spec it cannot read, and the error gives its reason.
        type: str
        default: ''
      fix:
        description: Whether it fixes the drift it finds (C(RECONCILE_FIX)'s default); false reports only.
        type: bool
        default: false
  token:
    description:
      - The service's Generic Webhook Trigger token, which Alertmanager sends as a bearer token.
        At least 16 characters. Required with O(state=present). With O(jobs), each job carries its own.
    type: str
  pipeline:
    description: Where the job's Jenkinsfile comes from.
    type: dict
    default: {}
    suboptions:
      scm_url:
        description: Git repository of the collection (or the operator's fork). Used when O(pipeline.script) is empty.
        type: str
      branch:
        description: Branch to build from.
        type: str
        default: main
      credentials_id:
        description: Jenkins credentials id to clone the repository with (empty for none).
        type: str
        default: ""
      script_path:
        description: The Jenkinsfile's path in the repository.
        type: str
        default: jenkins/Jenkinsfile
      script:
        description: The pipeline inline, instead of from Git.
        type: str
      reconcile_script_path:
        description: The scheduled reconcile job's Jenkinsfile in the same repository.
        type: str
        default: jenkins/Jenkinsfile.reconcile
      reconcile_script:
        description: The scheduled reconcile job's pipeline inline, instead of from Git.
        type: str
  description:
    description: The job's description; a default names the service and the collection.
    type: str
  keep_builds:
    description: Builds (and their logs) kept.
    type: int
    default: 50
notes:
  - The job needs the Jenkins plugins workflow-job, workflow-cps, git and generic-webhook-trigger.
seealso:
  - name: docs/jenkins.md
    description: The per-service jobs, the Jenkinsfile and the alert-to-VM chain.
    link: https://github.com/danacloud/vm_autoscale/blob/main/docs/jenkins.md
"""

EXAMPLES = r"""
- name: The service's job
  danacloud.vm_autoscale.jenkins_autoscale_job:
    service: acme-web
    url: "{{ jenkins_url }}"
    username: "{{ jenkins_username }}"
    api_token: "{{ jenkins_api_token }}"
    token: "{{ jenkins_webhook_token }}"
    pipeline:
      scm_url: https://git.example.com/platform/vm_autoscale.git
      branch: main
      credentials_id: git-readonly
  delegate_to: localhost

- name: Every service's job in one call (what the jenkins_autoscale role does)
  danacloud.vm_autoscale.jenkins_autoscale_job:
    jobs:
      - service: acme-web
        token: "{{ hostvars['acme-web'].jenkins_webhook_token }}"
      - service: acme-api
        token: "{{ hostvars['acme-api'].jenkins_webhook_token }}"
        enabled: false
    url: "{{ jenkins_url }}"
    username: "{{ jenkins_username }}"
    api_token: "{{ jenkins_api_token }}"
    pipeline:
      scm_url: https://git.example.com/platform/vm_autoscale.git
  delegate_to: localhost
  run_once: true

- name: Stop scaling a service (the job stays, with its history)
  danacloud.vm_autoscale.jenkins_autoscale_job:
    service: acme-web
    enabled: false
    url: "{{ jenkins_url }}"
    username: "{{ jenkins_username }}"
    api_token: "{{ jenkins_api_token }}"
    token: "{{ jenkins_webhook_token }}"
    pipeline:
      scm_url: https://git.example.com/platform/vm_autoscale.git
  delegate_to: localhost
"""

RETURN = r"""
name:
  description: The job's name.
  returned: with O(service)
  type: str
  sample: autoscale-acme-web
job_url:
  description: The job's page.
  returned: with O(service) and O(state=present)
  type: str
  sample: https://jenkins.example.com/job/autoscale-acme-web/
webhook_url:
  description: Where Alertmanager posts the service's notifications (the token goes in a bearer header, never in the URL).
  returned: always
  type: str
  sample: https://jenkins.example.com/generic-webhook-trigger/invoke
enabled:
  description: Whether the job is enabled (false when it does not exist).
  returned: with O(service)
  type: bool
operation:
  description: What was done, V(created), V(updated), V(deleted) or V(none).
  returned: with O(service)
  type: str
credential:
  description: What was done to the credential holding the token, V(created), V(updated), V(deleted) or V(none).
  returned: with O(service)
  type: str
jobs:
  description:
    - With O(jobs), each job's result in the order given - C(service), C(name), C(enabled),
      C(operation), C(credential), C(changed) and, when present, C(job_url). On a failure, the jobs done before it.
  returned: with O(jobs)
  type: list
  elements: dict
  sample:
    - service: acme-web
      name: autoscale-acme-web
      job_url: https://jenkins.example.com/job/autoscale-acme-web/
      enabled: true
      operation: created
      changed: true
"""


from ansible.module_utils.basic import AnsibleModule
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _jenkins
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._failure import ModuleFailure, run
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._names import SERVICE_RULE, is_service

PER_JOB = ("service", "name", "state", "enabled", "token", "description", "timeout_seconds", "reconcile")


def _spec(job: dict, common: dict) -> dict:
    return {
        "service": job["service"],
        "description": job["description"]
        or f"Autoscaling of {job['service']}: scale-out and scale-in driven by its Prometheus alerts "
        "(danacloud.vm_autoscale; managed by Ansible - changes made here are overwritten).",
        "disabled": not job["enabled"],
        "token_credential_id": _jenkins.token_credential_id(job["service"]),
        "keep_builds": common["keep_builds"],
        "timeout_seconds": job["timeout_seconds"],
        "pipeline": common["pipeline"] or {},
    }


def _reconcile_spec(job: dict, common: dict) -> dict:
    return {
        "service": job["service"],
        "description": f"Scheduled reconcile of {job['service']}: finds drift between vCenter, the F5 devices, the IP "
        "leases and the Prometheus targets, and repairs what a dead run left when it fixes "
        "(danacloud.vm_autoscale; managed by Ansible - changes made here are overwritten).",
        "disabled": not job["enabled"],
        "keep_builds": common["keep_builds"],
        "timeout_seconds": job["timeout_seconds"],
        "schedule": job["reconcile"]["schedule"],
        "fix": job["reconcile"]["fix"],
        "pipeline": common["pipeline"] or {},
    }


def reconcile_name(job_name: str, service: str) -> str:
    """The scheduled reconcile job's name: reconcile-<service>, in the folder of the service's job."""
    parent, _sep, _short = job_name.rpartition("/")
    return f"{parent}/reconcile-{service}" if parent else f"reconcile-{service}"


def _wanted(params: dict) -> list:
    """Every job of this call with its settings (a job of O(jobs) takes the top level's for what it leaves out)."""
    if params["jobs"] is None:
        wanted = [{key: params[key] for key in PER_JOB}]
    else:
        wanted = [
            {key: params[key] if job.get(key) is None else job[key] for key in PER_JOB}
            for job in params["jobs"]
        ]  # fmt: skip
    for job in wanted:
        reconcile = job["reconcile"] or {}
        job["reconcile"] = {"schedule": str(reconcile.get("schedule") or ""), "fix": bool(reconcile.get("fix"))}
    return wanted


def _problems(jobs: list, params: dict) -> list:
    """What is wrong with the input, every job at once, before anything changes."""
    problems, names = [], {}
    pipeline = params["pipeline"] or {}
    if params["keep_builds"] < 1:
        problems.append(f"keep_builds is {params['keep_builds']}, expected 1 or more")
    reconcile_pipeline = pipeline.get("reconcile_script") or pipeline.get("scm_url")
    for job in jobs:
        service = job["service"]
        if not is_service(service):
            problems.append(f"service {service!r}: use {SERVICE_RULE}")
            continue
        job["name"] = job["name"] or f"autoscale-{service}"
        name = job["name"]
        if name in names:
            problems.append(f"job {name}: given twice (services {names[name]} and {service})")
        names[name] = service
        if job["state"] != "present":
            continue
        if not job["token"]:
            problems.append(f"job {name}: give the service's webhook token (token), required with state=present")
        elif len(job["token"]) < 16:
            problems.append(f"job {name}: the webhook token has {len(job['token'])} characters; use 16 or more")
        if not pipeline.get("script") and not pipeline.get("scm_url"):
            problems.append(f"job {name}: give pipeline.scm_url (the Jenkinsfile from Git) or pipeline.script")
        if job["timeout_seconds"] < 60:
            problems.append(f"job {name}: timeout_seconds is {job['timeout_seconds']}, expected 60 or more")
        schedule = job["reconcile"]["schedule"]
        if "\n" in schedule.strip() or "#" in schedule:
            problems.append(f"job {name}: reconcile.schedule {schedule!r} is not one line without comments")
        elif schedule and not reconcile_pipeline:
            problems.append(f"job {name}: give pipeline.scm_url or pipeline.reconcile_script for its reconcile job")
    return problems


class _Lookup:
    """Whether jobs exist and are enabled: the top level's jobs listed in one call (read again
    after a change), a job in a folder asked for on its own."""

    def __init__(self, client) -> None:
        self.client = client
        self.listing: dict | None = None

    def __call__(self, name: str) -> dict | None:
        if "/" in name:
            return self.client.job(name)
        if self.listing is None:
            self.listing = self.client.top_jobs()
        return self.listing.get(name)

    def changed(self) -> None:
        self.listing = None


def _token_credential(client, module, job: dict) -> str:
    """Make the credential that holds the job's webhook token as wanted (present with the token,
    or absent); what was done: created, updated, deleted or none."""
    credential_id = _jenkins.token_credential_id(job["service"])
    found = client.credential(credential_id)
    if job["state"] == "absent":
        if found is None:
            return "none"
        if not module.check_mode:
            client.delete_credential(credential_id)
        return "deleted"
    description = _jenkins.token_description(job["service"], job["token"])
    if found is not None and found.get("description") == description:
        return "none"
    if not module.check_mode:
        config = _jenkins.secret_text_xml(credential_id, description, job["token"])
        if found is None:
            client.create_credential(config)
        else:
            client.update_credential(credential_id, config)
    return "created" if found is None else "updated"


def _put(client, lookup, module, name: str, wanted: str | None) -> tuple[str, str | None]:
    """Make the job ``name`` as wanted (its config.xml, or None for absent); the operation
    (created, updated, deleted or none) and its config.xml before."""
    found = lookup(name)
    before = client.config(name) if found is not None else None
    if wanted is None:
        if found is None:
            return "none", before
        if not module.check_mode:
            client.delete(name)
            lookup.changed()
        return "deleted", before
    if before is None:
        if not module.check_mode:
            client.create(name, wanted)
        return "created", before
    if _jenkins.normalize(before) != _jenkins.normalize(wanted):
        if not module.check_mode:
            client.update(name, wanted)
        return "updated", before
    return "none", before


def _diff(name: str, before: str | None, after: str | None) -> dict:
    return {
        "before": _jenkins.secret_free(before) if before else "",
        "after": _jenkins.secret_free(after) if after else "",
        "before_header": f"{name}/config.xml",
        "after_header": f"{name}/config.xml",
    }


def _apply(client, lookup, module, job: dict, *, params: dict, url: str) -> dict:
    """Make one service's jobs as wanted (its autoscale job, its token's credential, its
    scheduled reconcile job); the result (with its diffs when asked)."""
    name = job["name"]
    result = {"service": job["service"], "name": name, "changed": False, "enabled": False, "operation": "none"}
    present = job["state"] == "present"
    found = lookup(name)
    if present:
        # the credential first: the job never names a credential that does not exist
        result["credential"] = _token_credential(client, module, job)
    after = _jenkins.pipeline_job_xml(_spec(job, params)) if present else None
    result["operation"], before = _put(client, lookup, module, name, after)
    if not present:
        # after the job: a job whose credential is gone would take token-less calls
        result["credential"] = _token_credential(client, module, job)
    else:
        # Check mode reports what the job would be; otherwise Jenkins says (read back after a change).
        result["enabled"] = job["enabled"] if found is None or module.check_mode else found.get("color") != "disabled"
        result["job_url"] = f"{url}{_jenkins.job_path(name)}/"
    scheduled = present and bool(job["reconcile"]["schedule"])
    other = reconcile_name(name, job["service"])
    other_after = _jenkins.reconcile_job_xml(_reconcile_spec(job, params)) if scheduled else None
    operation, other_before = _put(client, lookup, module, other, other_after)
    result["reconcile"] = {"name": other, "operation": operation, "enabled": scheduled and job["enabled"]}
    if scheduled:
        result["reconcile"]["job_url"] = f"{url}{_jenkins.job_path(other)}/"
    result["changed"] = any(done != "none" for done in (result["operation"], result["credential"], operation))
    if module._diff:
        result["diff"] = _diff(name, before, after)
        result["reconcile_diff"] = _diff(other, other_before, other_after)
    return result


def _read_back(lookup, module, results: list) -> None:
    """What Jenkins says now of the jobs this call created or updated (one listing)."""
    if module.check_mode:
        return
    lookup.changed()
    for one in results:
        for job in (one, one["reconcile"]):
            if job["operation"] in ("created", "updated"):
                found = lookup(job["name"])
                if found is None:
                    raise _jenkins.JenkinsError(
                        f"job {job['name']} was {job['operation']} but Jenkins does not list it"
                    )
                job["enabled"] = found.get("color") != "disabled"


def _done(results: list) -> str:
    made = [
        f"{job['name']} {job['operation']}"
        for one in results
        for job in (one, one["reconcile"])
        if job["operation"] != "none"
    ]  # fmt: skip
    return f" (done before it: {', '.join(made)})" if made else " (nothing was changed before it)"


RECONCILE_OPTIONS = {"schedule": {"type": "str", "default": ""}, "fix": {"type": "bool", "default": False}}
JOB_OPTIONS = {
    "service": {"type": "str", "required": True},
    "name": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"]},
    "enabled": {"type": "bool"},
    "token": {"type": "str", "no_log": True},
    "description": {"type": "str"},
    "timeout_seconds": {"type": "int"},
    "reconcile": {"type": "dict", "options": RECONCILE_OPTIONS},
}
ARGUMENT_SPEC = {
    "service": {"type": "str"},
    "name": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "enabled": {"type": "bool", "default": True},
    "jobs": {"type": "list", "elements": "dict", "options": JOB_OPTIONS},
    **_jenkins.CONNECTION_SPEC,
    "token": {"type": "str", "no_log": True},
    "pipeline": {
        "type": "dict",
        "default": {},
        "options": {
            "scm_url": {"type": "str"},
            "branch": {"type": "str", "default": "main"},
            "credentials_id": {"type": "str", "default": ""},
            "script_path": {"type": "str", "default": "jenkins/Jenkinsfile"},
            "script": {"type": "str"},
            "reconcile_script_path": {"type": "str", "default": "jenkins/Jenkinsfile.reconcile"},
            "reconcile_script": {"type": "str"},
        },
    },
    "timeout_seconds": {"type": "int", "default": 5400},
    "reconcile": {"type": "dict", "default": {}, "options": RECONCILE_OPTIONS},
    "description": {"type": "str"},
    "keep_builds": {"type": "int", "default": 50},
}


def _failed(params: dict, action: str, reason: object, name, *, results: list, webhook_url: str) -> ModuleFailure:
    """The failure of a job's change, with what the call did before it."""
    failed = {"changed": any(one["changed"] for one in results), "webhook_url": webhook_url}
    if params["jobs"] is None:
        return ModuleFailure(action, reason, name=name or results[0]["name"], **failed)
    return ModuleFailure(action, f"{reason}{_done(results)}", jobs=results, **failed)


def _run(module: AnsibleModule) -> dict:
    params = module.params
    url = params["url"].rstrip("/")
    webhook_url = f"{url}/generic-webhook-trigger/invoke"
    jobs = _wanted(params)
    problems = _problems(jobs, params)
    if problems:
        raise ModuleFailure("check the jobs", "; ".join(problems) + " - nothing was changed", webhook_url=webhook_url)
    client = _jenkins.Jenkins(
        url, params["username"], params["api_token"],
        validate_certs=params["validate_certs"], ca_path=params["ca_path"], timeout=params["timeout"],
    )  # fmt: skip
    results, lookup = [], _Lookup(client)
    for job in jobs:
        try:
            results.append(_apply(client, lookup, module, job, params=params, url=url))
        except _jenkins.JenkinsError as exc:
            verb = "remove" if job["state"] == "absent" else "make"
            raise _failed(
                params, f"{verb} job {job['name']}", exc, job["name"], results=results, webhook_url=webhook_url
            ) from exc
    try:
        _read_back(lookup, module, results)
    except _jenkins.JenkinsError as exc:
        raise _failed(params, "read back the jobs", exc, None, results=results, webhook_url=webhook_url) from exc
    if params["jobs"] is None:
        result = results[0]
        del result["service"]
        if module._diff:
            result["diff"] = [result.pop("diff"), result.pop("reconcile_diff")]
        return {"webhook_url": webhook_url, **result}
    diffs = [
        one[key]
        for one in results
        for key, job in (("diff", one), ("reconcile_diff", one["reconcile"]))
        if key in one and job["operation"] != "none"
    ]  # fmt: skip
    for one in results:
        one.pop("diff", None)
        one.pop("reconcile_diff", None)
    return {
        "changed": any(one["changed"] for one in results),
        "webhook_url": webhook_url,
        "jobs": results,
        **({"diff": diffs} if module._diff else {}),
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_one_of=[("service", "jobs")],
        mutually_exclusive=[("service", "jobs"), ("name", "jobs"), ("token", "jobs")],
        supports_check_mode=True,
    )
    run(module, _run)


if __name__ == "__main__":
    main()
