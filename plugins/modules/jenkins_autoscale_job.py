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
    The trigger extracts the notification's status, service, action, alert name, fingerprint,
    start time and whole body as the build's environment (C(AM_STATUS), C(AM_SERVICE),
    C(AM_ACTION), C(AM_ALERTNAME), C(AM_FINGERPRINT), C(AM_STARTS_AT), C(AM_PAYLOAD)). A filter
    lets only C(firing) notifications of this service through.
  - Concurrent builds are disabled and the build history is kept to O(keep_builds).
  - The wanted config.xml is compared with the job's current one as data. Jenkins's own
    formatting is not a change - the XML declaration, the plugin version attributes and the
    indentation are ignored. The config is posted only on a real difference.
author:
  - Dana Cloud platform team (@danacloud)
attributes:
  check_mode:
    description: Can run in check mode; reads only, and reports what it would change.
    support: full
  diff_mode:
    description: Shows the config.xml before and after, with the token masked.
    support: full
options:
  service:
    description: The service (letters, digits and C(-)).
    type: str
    required: true
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
  url:
    description: Jenkins's URL, for example C(https://jenkins.example.com).
    type: str
    required: true
  username:
    description: The Jenkins user the automation runs as.
    type: str
    required: true
  api_token:
    description: That user's API token (not its password). No CSRF crumb is needed with it; one is sent anyway.
    type: str
    required: true
  validate_certs:
    description: Verify Jenkins's certificate.
    type: bool
    default: true
  ca_path:
    description: CA bundle to verify it with.
    type: path
  timeout:
    description: Seconds per request.
    type: int
    default: 30
  token:
    description:
      - The service's Generic Webhook Trigger token, which Alertmanager sends as a bearer token.
        At least 16 characters. Required with O(state=present).
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
  returned: always
  type: str
  sample: autoscale-acme-web
job_url:
  description: The job's page.
  returned: state=present
  type: str
  sample: https://jenkins.example.com/job/autoscale-acme-web/
webhook_url:
  description: Where Alertmanager posts the service's notifications (the token goes in a bearer header, never in the URL).
  returned: always
  type: str
  sample: https://jenkins.example.com/generic-webhook-trigger/invoke
enabled:
  description: Whether the job is enabled (false when it does not exist).
  returned: always
  type: bool
operation:
  description: What was done, V(created), V(updated), V(deleted) or V(none).
  returned: always
  type: str
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _jenkins

SERVICE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _spec(params: dict) -> dict:
    pipeline = params["pipeline"] or {}
    return {
        "service": params["service"],
        "description": params["description"]
        or f"Autoscaling of {params['service']}: scale-out and scale-in driven by its Prometheus alerts "
        "(danacloud.vm_autoscale; managed by Ansible - changes made here are overwritten).",
        "disabled": not params["enabled"],
        "token": params["token"],
        "keep_builds": params["keep_builds"],
        "pipeline": pipeline,
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "service": {"type": "str", "required": True},
            "name": {"type": "str"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "enabled": {"type": "bool", "default": True},
            "url": {"type": "str", "required": True},
            "username": {"type": "str", "required": True},
            "api_token": {"type": "str", "required": True, "no_log": True},
            "validate_certs": {"type": "bool", "default": True},
            "ca_path": {"type": "path"},
            "timeout": {"type": "int", "default": 30},
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
                },
            },
            "description": {"type": "str"},
            "keep_builds": {"type": "int", "default": 50},
        },
        required_if=[("state", "present", ("token",))],
        supports_check_mode=True,
    )
    params = module.params
    service = params["service"]
    if not SERVICE.match(service):
        module.fail_json(msg=f"service {service!r}: use lowercase letters, digits and '-' (at most 63)")
    name = params["name"] or f"autoscale-{service}"
    url = params["url"].rstrip("/")
    webhook_url = f"{url}/generic-webhook-trigger/invoke"
    result = {"changed": False, "name": name, "webhook_url": webhook_url, "enabled": False, "operation": "none"}
    if params["state"] == "present":
        if len(params["token"]) < 16:
            module.fail_json(msg=f"job {name}: the webhook token has {len(params['token'])} characters; use 16 or more")
        pipeline = params["pipeline"] or {}
        if not pipeline.get("script") and not pipeline.get("scm_url"):
            module.fail_json(msg=f"job {name}: give pipeline.scm_url (the Jenkinsfile from Git) or pipeline.script")
        if params["keep_builds"] < 1:
            module.fail_json(msg=f"job {name}: keep_builds is {params['keep_builds']}, expected 1 or more")
    client = _jenkins.Jenkins(
        url, params["username"], params["api_token"],
        validate_certs=params["validate_certs"], ca_path=params["ca_path"], timeout=params["timeout"],
    )  # fmt: skip
    try:
        job = client.job(name)
        before = client.config(name) if job is not None else None
        if params["state"] == "absent":
            if job is not None:
                result.update(changed=True, operation="deleted")
                if not module.check_mode:
                    client.delete(name)
            after = None
        else:
            after = _jenkins.pipeline_job_xml(_spec(params))
            if before is None:
                result.update(changed=True, operation="created")
                if not module.check_mode:
                    client.create(name, after)
            elif _jenkins.normalize(before) != _jenkins.normalize(after):
                result.update(changed=True, operation="updated")
                if not module.check_mode:
                    client.update(name, after)
            if not module.check_mode:
                job = client.job(name)
                if job is None:
                    module.fail_json(msg=f"job {name} was {result['operation']} but Jenkins does not list it", **result)
            result["enabled"] = params["enabled"] if module.check_mode else job.get("color") != "disabled"
            result["job_url"] = f"{url}{_jenkins.job_path(name)}/"
    except _jenkins.JenkinsError as exc:
        module.fail_json(msg=f"job {name}: {exc}", **result)
    if module._diff:
        result["diff"] = {
            "before": _jenkins.secret_free(before) if before else "",
            "after": _jenkins.secret_free(after) if after else "",
            "before_header": f"{name}/config.xml",
            "after_header": f"{name}/config.xml",
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
