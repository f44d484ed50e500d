# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Jenkins REST client (jobs and their config.xml, and Secret text credentials of the
global credentials store), shared by the collection's modules.
Private to the collection.

Basic auth with a user and an API token on every request; a CSRF crumb fetched once and sent
with its session cookie (Jenkins needs none for API-token requests, and ignores one that is
sent); errors turned into plain words that name Jenkins's answer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import xml.etree.ElementTree as ET
from http.cookiejar import CookieJar
from urllib.error import HTTPError, URLError
from urllib.parse import quote

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.urls import Request

# The connection options of the collection's Jenkins modules (doc fragment
# danacloud.vm_autoscale.jenkins). The environment variables are the ones the Jenkins CLI client
# reads (JENKINS_URL, JENKINS_USER_ID, JENKINS_API_TOKEN), so a job or a shell set up for it
# serves the modules too.
CONNECTION_SPEC = {
    "url": {"type": "str", "required": True, "fallback": (env_fallback, ["JENKINS_URL"])},
    "username": {"type": "str", "required": True, "fallback": (env_fallback, ["JENKINS_USER_ID"])},
    "api_token": {"type": "str", "required": True, "no_log": True, "fallback": (env_fallback, ["JENKINS_API_TOKEN"])},
    "validate_certs": {"type": "bool", "default": True, "fallback": (env_fallback, ["JENKINS_VALIDATE_CERTS"])},
    "ca_path": {"type": "path"},
    "timeout": {"type": "int", "default": 30},
}

PLAIN = {
    400: "the request was refused",
    401: "the user name or API token is wrong",
    403: "the user may not do this (or the CSRF crumb was refused)",
    404: "not found",
    405: "the method is not allowed",
    500: "Jenkins failed on it",
}


class JenkinsError(Exception):
    """Jenkins refused or could not be reached; the message says which and why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def job_path(name: str) -> str:
    """``a/b`` (a job in folder a) -> ``/job/a/job/b``."""
    return "".join(f"/job/{quote(part, safe='')}" for part in name.split("/"))


class Jenkins:
    def __init__(self, url: str, username: str, token: str, *, validate_certs=True, ca_path=None, timeout=30):
        self.url = url.rstrip("/")
        auth = base64.b64encode(f"{username}:{token}".encode()).decode()
        self.username = username
        self.request = Request(
            headers={"Authorization": f"Basic {auth}"},
            validate_certs=validate_certs,
            ca_path=ca_path,
            timeout=timeout,
            cookies=CookieJar(),
            use_netrc=False,
        )
        self.crumb: dict | None = None

    def _call(self, method: str, path: str, data: str | None = None, content_type: str | None = None):
        if self.crumb is None:
            self.crumb = self._fetch_crumb()
        headers = dict(self.crumb)
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = self.request.open(
                method, self.url + path, data=None if data is None else data.encode("utf-8"), headers=headers
            )
            return response.getcode(), response.read().decode("utf-8", "replace")
        except HTTPError as exc:
            return exc.code, self._reason(exc)
        except (URLError, OSError) as exc:
            raise JenkinsError(f"Jenkins at {self.url} cannot be reached: {getattr(exc, 'reason', exc)}") from None

    @staticmethod
    def _reason(exc: HTTPError) -> str:
        reason = exc.headers.get("X-Error") if exc.headers else None
        if reason:
            return reason
        body = exc.read().decode("utf-8", "replace") if exc.fp else ""
        for marker in ("<title>", "<h1>"):
            if marker in body:
                return body.split(marker, 1)[1].split("<", 1)[0].strip()
        return body.strip()[:300] or str(exc.reason)

    def _fetch_crumb(self) -> dict:
        try:
            response = self.request.open("GET", f"{self.url}/crumbIssuer/api/json")
            answer = json.loads(response.read() or b"{}")
        except HTTPError as exc:
            if exc.code == 404:  # CSRF protection is off
                return {}
            raise self._error("GET", "/crumbIssuer/api/json", exc.code, self._reason(exc)) from None
        except (URLError, OSError) as exc:
            raise JenkinsError(f"Jenkins at {self.url} cannot be reached: {getattr(exc, 'reason', exc)}") from None
        except ValueError:
            return {}
        if not answer.get("crumb"):
            return {}
        return {answer.get("crumbRequestField", "Jenkins-Crumb"): answer["crumb"]}

    def _error(self, method: str, path: str, status: int, reason: str) -> JenkinsError:
        return JenkinsError(
            f"Jenkins at {self.url} answered {method} {path} with {status} ({PLAIN.get(status, 'error')})"
            + (f": {reason}" if reason else "")
            + (f" - user {self.username}" if status in (401, 403) else ""),
            status,
        )

    def _checked(self, method: str, path: str, data: str | None = None, content_type: str | None = None, ok=(200,)):
        status, body = self._call(method, path, data, content_type)
        if status not in ok:
            raise self._error(method, path, status, body)
        return body

    def _json_or_none(self, path: str) -> dict | None:
        """The JSON of a GET, or None when Jenkins answers 404."""
        status, body = self._call("GET", path)
        if status == 404:
            return None
        if status != 200:
            raise self._error("GET", path, status, body)
        return json.loads(body)

    def job(self, name: str) -> dict | None:
        """The job's JSON (name, color, url, buildable), or None when there is no such job."""
        return self._json_or_none(f"{job_path(name)}/api/json?tree=name,color,url,buildable,fullName")

    def top_jobs(self) -> dict:
        """Every job at the top level (not in a folder): name -> its JSON (name, color), in one call."""
        body = self._checked("GET", "/api/json?tree=jobs[name,color]")
        return {job["name"]: job for job in json.loads(body).get("jobs", []) if "name" in job}

    def config(self, name: str) -> str:
        return self._checked("GET", f"{job_path(name)}/config.xml")

    def create(self, name: str, config: str) -> None:
        parent, _sep, short = name.rpartition("/")
        prefix = job_path(parent) if parent else ""
        self._checked("POST", f"{prefix}/createItem?name={quote(short, safe='')}", config, "text/xml; charset=utf-8")

    def update(self, name: str, config: str) -> None:
        self._checked("POST", f"{job_path(name)}/config.xml", config, "text/xml; charset=utf-8")

    def delete(self, name: str) -> None:
        self._checked("POST", f"{job_path(name)}/doDelete")

    # The global credentials store (the credentials plugin's REST API).
    def credential(self, credential_id: str) -> dict | None:
        """A credential's JSON (id, description, typeName; never its secret), or None."""
        return self._json_or_none(f"{STORE}/credential/{quote(credential_id, safe='')}/api/json")

    def create_credential(self, config: str) -> None:
        self._checked("POST", f"{STORE}/createCredentials", config, "application/xml; charset=utf-8")

    def update_credential(self, credential_id: str, config: str) -> None:
        path = f"{STORE}/credential/{quote(credential_id, safe='')}/config.xml"
        self._checked("POST", path, config, "application/xml; charset=utf-8")

    def delete_credential(self, credential_id: str) -> None:
        self._checked("POST", f"{STORE}/credential/{quote(credential_id, safe='')}/doDelete", ok=(200, 302))


# --- the job's config.xml ----------------------------------------------------------------

GWT = "org.jenkinsci.plugins.gwt"
STORE = "/credentials/store/system/domain/_"


def token_credential_id(service: str) -> str:
    """The id of the Secret text credential that holds a service's webhook token."""
    return f"vm-autoscale-webhook-{service}"


def token_description(service: str, token: str) -> str:
    """The credential's description. It carries a short SHA-256 of the token: Jenkins never gives a
    secret back, and this says whether the stored one is the wanted one (a rotated token differs)."""
    digest = hashlib.sha256(token.encode()).hexdigest()[:16]
    return f"Generic Webhook Trigger token of {service} (danacloud.vm_autoscale; sha256 {digest})"


def secret_text_xml(credential_id: str, description: str, secret: str) -> str:
    """A Secret text credential (plain-credentials' StringCredentialsImpl) as the store takes it."""
    root = ET.Element("org.jenkinsci.plugins.plaincredentials.impl.StringCredentialsImpl")
    _sub(root, "scope", "GLOBAL")
    _sub(root, "id", credential_id)
    _sub(root, "description", description)
    _sub(root, "secret", secret)
    return ET.tostring(root, encoding="unicode")


# What the Generic Webhook Trigger extracts from an Alertmanager notification (JSONPath), as the
# build's environment: the Jenkinsfile reads these names.
VARIABLES = (
    ("AM_STATUS", "$.status"),
    ("AM_SERVICE", "$.commonLabels.service"),
    ("AM_ACTION", "$.commonLabels.autoscale_action"),
    ("AM_ALERTNAME", "$.commonLabels.alertname"),
    ("AM_FINGERPRINT", "$.alerts[0].fingerprint"),
    ("AM_STARTS_AT", "$.alerts[0].startsAt"),
    ("AM_PAYLOAD", "$"),
)


def _sub(parent: ET.Element, tag: str, text=None, **attrs) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = str(text)
    return element


def _job_head(spec: dict) -> tuple[ET.Element, ET.Element, ET.Element]:
    """A pipeline job's root, its properties (concurrent builds off, the build discarder) and its
    parameter definitions (the service, and the run's timeout in seconds, which the step enforces)."""
    root = ET.Element("flow-definition", plugin="workflow-job")
    _sub(root, "actions")
    _sub(root, "description", spec["description"])
    _sub(root, "keepDependencies", "false")
    properties = _sub(root, "properties")
    _sub(properties, "org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty")
    discarder = _sub(properties, "jenkins.model.BuildDiscarderProperty")
    strategy = _sub(discarder, "strategy", **{"class": "hudson.tasks.LogRotator"})
    _sub(strategy, "daysToKeep", "-1")
    _sub(strategy, "numToKeep", spec["keep_builds"])
    _sub(strategy, "artifactDaysToKeep", "-1")
    _sub(strategy, "artifactNumToKeep", spec["keep_builds"])
    parameters = _sub(_sub(properties, "hudson.model.ParametersDefinitionProperty"), "parameterDefinitions")
    service = _sub(parameters, "hudson.model.StringParameterDefinition")
    _sub(service, "name", "AUTOSCALE_SERVICE")
    _sub(service, "description", "The service of this job (fixed per job).")
    _sub(service, "defaultValue", spec["service"])
    _sub(service, "trim", "true")
    timeout = _sub(parameters, "hudson.model.StringParameterDefinition")
    _sub(timeout, "name", "AUTOSCALE_TIMEOUT_SECONDS")
    _sub(
        timeout,
        "description",
        "The longest a run of this service may take with its steps and step limits (docs/operations.md); "
        "the step stops the run after it, and the next run repairs what it left.",
    )
    _sub(timeout, "defaultValue", spec["timeout_seconds"])
    _sub(timeout, "trim", "true")
    return root, properties, parameters


def _definition(root: ET.Element, pipeline: dict, script_key: str, path_key: str, default_path: str) -> None:
    """The job's pipeline: inline (``pipeline[script_key]``) or a Jenkinsfile from Git."""
    if pipeline.get(script_key):
        cps = {"class": "org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition", "plugin": "workflow-cps"}
        definition = _sub(root, "definition", **cps)
        _sub(definition, "script", pipeline[script_key])
        _sub(definition, "sandbox", "true")
        return
    cps = {"class": "org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition", "plugin": "workflow-cps"}
    definition = _sub(root, "definition", **cps)
    scm = _sub(definition, "scm", **{"class": "hudson.plugins.git.GitSCM", "plugin": "git"})
    _sub(scm, "configVersion", "2")
    remote = _sub(_sub(scm, "userRemoteConfigs"), "hudson.plugins.git.UserRemoteConfig")
    _sub(remote, "url", pipeline["scm_url"])
    _sub(remote, "credentialsId", pipeline.get("credentials_id") or "")
    branch = _sub(_sub(scm, "branches"), "hudson.plugins.git.BranchSpec")
    _sub(branch, "name", pipeline.get("branch") or "main")
    _sub(scm, "doGenerateSubmoduleConfigurations", "false")
    _sub(scm, "submoduleCfg", **{"class": "empty-list"})
    _sub(scm, "extensions")
    _sub(definition, "scriptPath", pipeline.get(path_key) or default_path)
    _sub(definition, "lightweight", "true")


def _job_tail(root: ET.Element, disabled: bool) -> str:
    _sub(root, "triggers")
    _sub(root, "disabled", "true" if disabled else "false")
    ET.indent(root, space="  ")
    return "<?xml version='1.1' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode") + "\n"


def reconcile_job_xml(spec: dict) -> str:
    """config.xml of a service's scheduled reconcile job (reconcile-<service>).

    ``spec``: service, description, disabled, keep_builds, timeout_seconds, ``schedule`` (the
    TimerTrigger's cron spec), ``fix`` (the RECONCILE_FIX parameter's default) and ``pipeline``
    (its ``reconcile_script`` inline, or ``reconcile_script_path`` from Git).
    """
    root, properties, parameters = _job_head(spec)
    fix = _sub(parameters, "hudson.model.BooleanParameterDefinition")
    _sub(fix, "name", "RECONCILE_FIX")
    _sub(fix, "description", "Fix the drift found (the inventory's autoscale.reconcile.fix); false reports only.")
    _sub(fix, "defaultValue", "true" if spec["fix"] else "false")
    triggers = _sub(
        _sub(properties, "org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty"), "triggers"
    )
    timer = _sub(triggers, "hudson.triggers.TimerTrigger")
    _sub(timer, "spec", spec["schedule"])
    _definition(root, spec["pipeline"], "reconcile_script", "reconcile_script_path", "jenkins/Jenkinsfile.reconcile")
    return _job_tail(root, spec["disabled"])


def pipeline_job_xml(spec: dict) -> str:
    """config.xml of a service's pipeline job.

    ``spec``: service, description, disabled, token_credential_id (the credential holding the
    webhook token: config.xml never holds the token itself), keep_builds, timeout_seconds, and
    ``pipeline``: either ``{scm_url, branch, credentials_id, script_path}`` (Jenkinsfile from Git)
    or ``{script}``. The trigger lets only firing notifications of the job's own service through.
    """
    root, properties, _parameters = _job_head(spec)
    triggers = _sub(
        _sub(properties, "org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty"), "triggers"
    )
    trigger = _sub(triggers, f"{GWT}.GenericTrigger", plugin="generic-webhook-trigger")
    _sub(trigger, "spec", "")
    variables = _sub(trigger, "genericVariables")
    for key, path in VARIABLES:
        variable = _sub(variables, f"{GWT}.GenericVariable")
        _sub(variable, "expressionType", "JSONPath")
        _sub(variable, "key", key)
        _sub(variable, "value", path)
        _sub(variable, "regexpFilter", "")
        _sub(variable, "defaultValue", "")
    _sub(trigger, "regexpFilterText", "$AM_STATUS $AM_SERVICE")
    _sub(trigger, "regexpFilterExpression", f"^firing {_regex_literal(spec['service'])}$")
    _sub(trigger, "printPostContent", "false")
    _sub(trigger, "printContributedVariables", "false")
    _sub(trigger, "causeString", f"Alertmanager: $AM_ALERTNAME ($AM_STATUS) for {spec['service']}")
    _sub(trigger, "token", "")
    _sub(trigger, "tokenCredentialId", spec["token_credential_id"])
    _sub(trigger, "silentResponse", "false")
    _sub(trigger, "overrideQuietPeriod", "false")
    _sub(trigger, "shouldNotFlattern", "true")
    # Identical notifications (a storm, Alertmanager's retries, several Alertmanagers) arriving
    # while a build of the job waits in the queue - its quiet period, or behind the running build -
    # fold into that one queued build: the job's only parameter is the service, so they are equal.
    _sub(trigger, "allowSeveralTriggersPerBuild", "true")
    _definition(root, spec["pipeline"], "script", "script_path", "jenkins/Jenkinsfile")
    return _job_tail(root, spec["disabled"])


def _regex_literal(text: str) -> str:
    return "".join("\\" + c if c in r".^$*+?()[]{}|\\" else c for c in text)


def parse(config: str) -> ET.Element:
    """A config.xml Jenkins returned. Job configs never carry a DTD: one is refused rather than
    expanded (entity expansion is the XML parser's risk, and expat resolves no external ones)."""
    head = config[:4096]
    if "<!DOCTYPE" in head or "<!ENTITY" in head:
        raise JenkinsError("the job's config.xml carries a DTD, which Jenkins never writes; refused")
    try:
        return ET.fromstring(config.encode("utf-8"))  # noqa: S314 - no DTD (checked above)
    except ET.ParseError as exc:
        raise JenkinsError(f"the job's config.xml is not XML: {exc}") from None


def normalize(config: str) -> str:
    """config.xml as data: no declaration, no plugin version attributes (Jenkins writes
    ``plugin="name@version"`` on save), no indentation; text and order kept."""
    root = parse(config)
    for element in root.iter():
        element.attrib.pop("plugin", None)
        if element.text is not None and not element.text.strip():
            element.text = None
        element.tail = None
    return ET.tostring(root, encoding="unicode", short_empty_elements=True)


def secret_free(config: str) -> str:
    """config.xml with the trigger's token replaced, for diffs and logs."""
    root = parse(config)
    for token in root.iter("token"):
        if token.text:
            token.text = "********"
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"
