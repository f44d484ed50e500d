"""Jenkins's REST API as python-jenkins and community.general.jenkins_job use it (emulator-spec
part 2a), the Generic Webhook Trigger endpoint (part 2b), a build queue, and builds that really
run: a freestyle job's shell builders, or a pipeline's ``sh`` steps, with the resolved webhook
variables and the build parameters in their environment.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import defusedxml
import defusedxml.ElementTree as SafeET

from ..httpd import Request, Response, UnemulatedLog, log, write_json_atomic
from . import gwt, pipeline
from .cron import CronError, CronTab

HTML = "text/html;charset=utf-8"
UNSAFE = set("?*/\\%!@#$^&|<>[]:;")
PIPELINE = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
FREESTYLE = "hudson.model.FreeStyleProject"
RUN_CLASS = {PIPELINE: "org.jenkinsci.plugins.workflow.job.WorkflowRun", FREESTYLE: "hudson.model.FreeStyleBuild"}
ROOT_CLASS = {"flow-definition": PIPELINE, "project": FREESTYLE}
# The credentials plugin's global store (Jenkins > Manage > Credentials > System > Global), as its
# REST API serves it (CredentialsStoreAction of jenkinsci/credentials-plugin): only Secret text
# credentials (plain-credentials) are emulated - what the Generic Webhook Trigger's
# tokenCredentialId reads.
STORE = "/credentials/store/system/domain/_"
SECRET_TEXT = "org.jenkinsci.plugins.plaincredentials.impl.StringCredentialsImpl"  # noqa: S105 - a class name
UUID_PARAMETER = "jenkins-generic-webhook-trigger-plugin_uuid"


def _page(status: int, title: str, headers: dict | None = None) -> Response:
    body = f"<html><head><title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1></body></html>"
    return Response(status, body, content_type=HTML, headers=headers)


class BuildError(Exception):
    """The pipeline cannot be run by the lab (shown in the console, the build fails)."""


@dataclass
class Job:
    name: str
    config: str  # config.xml exactly as stored
    next_build_number: int = 1
    builds: dict[int, dict] = field(default_factory=dict)
    running: set[int] = field(default_factory=set)

    def root(self) -> ET.Element:
        return SafeET.fromstring(self.config)

    @property
    def job_class(self) -> str:
        return ROOT_CLASS.get(self.root().tag, FREESTYLE)

    @property
    def disabled(self) -> bool:
        return (self.root().findtext("disabled") or "false").strip() == "true"

    @property
    def concurrent(self) -> bool:
        root = self.root()
        if root.tag == "flow-definition":
            return (
                root.find("properties/org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty")
                is None
            )
        return (root.findtext("concurrentBuild") or "false").strip() == "true"

    def quiet_period(self, default: int) -> int:
        value = self.root().findtext("quietPeriod")
        return int(value) if value and value.strip().isdigit() else default

    def keep_builds(self) -> int | None:
        value = self.root().findtext(".//jenkins.model.BuildDiscarderProperty/strategy/numToKeep")
        return int(value) if value and value.strip().lstrip("-").isdigit() and int(value) > 0 else None

    @property
    def timer_spec(self) -> str | None:
        """The TimerTrigger's cron spec ("Build periodically"), None without one."""
        spec = self.root().findtext(".//triggers/hudson.triggers.TimerTrigger/spec")
        return spec if spec and spec.strip() else None

    def parameters(self) -> dict[str, str]:
        found = {}
        for definition in self.root().findall(".//hudson.model.ParametersDefinitionProperty/parameterDefinitions/*"):
            name = definition.findtext("name")
            if name:
                found[name] = definition.findtext("defaultValue") or ""
        return found


class Jenkins:
    def __init__(self, config: dict) -> None:
        self.url = config["url"].rstrip("/") + "/"
        self.home = Path(config["home"])
        self.jobs_dir = self.home / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.quiet_period = int(config.get("quiet_period", 5))
        self.executors = int(config.get("executors", 2))
        self.build_env = dict(config.get("build_env", {}))
        # Jenkins credentials by id, for withCredentials: {"type": "file", "path"},
        # {"type": "usernamePassword", "username", "password_file"} or {"type": "string", "secret_file"}.
        self.credentials = dict(config.get("credentials", {}))
        self.users = {config["username"]: {"password": config["password"], "tokens": {config["api_token"]}}}
        # The global credentials store (id -> {scope, id, description, secret}), kept on disk as
        # Jenkins keeps credentials.xml: a restart keeps it.
        self.store_path = self.home / "credentials.json"
        self.store: dict[str, dict] = json.loads(self.store_path.read_text()) if self.store_path.exists() else {}
        self.lock = threading.RLock()
        self.jobs: dict[str, Job] = {}
        self.sessions: dict[str, str] = {}  # session id -> user
        self.crumbs: dict[tuple[str, str], str] = {}  # (user, session) -> crumb
        self.queue: list[dict] = []
        self.queue_items: dict[int, dict] = {}
        self._queue_ids = itertools.count(int(time.time()) % 100000 + 1)
        self.faults: list[dict] = []
        self.unemulated = UnemulatedLog(self.home / "unemulated.jsonl")
        self.webhook_log: list[dict] = []
        self._load()
        self._stop = threading.Event()
        # Fire the timers by the wall clock, as Jenkins does; a test that enables a timed job turns
        # this off (PUT /timers {"clock": false}) and fires the minutes it wants, so that the clock
        # reaching the job's minute during the test cannot start a build it does not expect.
        self.clock = True
        threading.Thread(target=self._scheduler, name="queue", daemon=True).start()
        threading.Thread(target=self._timers, name="timers", daemon=True).start()

    # --- persistence ---------------------------------------------------------------------

    def _job_dir(self, name: str) -> Path:
        return self.jobs_dir / name

    def _load(self) -> None:
        for folder in sorted(self.jobs_dir.iterdir()):
            config = folder / "config.xml"
            if not config.exists():
                continue
            job = Job(folder.name, config.read_text())
            state = folder / "nextBuildNumber"
            job.next_build_number = int(state.read_text()) if state.exists() else 1
            for build_file in (folder / "builds").glob("*/build.json"):
                build = json.loads(build_file.read_text())
                if build.get("building"):  # the emulator stopped while it ran: Jenkins marks it aborted
                    build.update(building=False, result="ABORTED")
                job.builds[build["number"]] = build
            self.jobs[job.name] = job

    def _save_job(self, job: Job) -> None:
        folder = self._job_dir(job.name)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "config.xml.tmp"
        tmp.write_text(job.config)
        tmp.replace(folder / "config.xml")
        (folder / "nextBuildNumber").write_text(str(job.next_build_number))

    def _save_build(self, job: Job, build: dict) -> None:
        folder = self._job_dir(job.name) / "builds" / str(build["number"])
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / "build.json", build)

    def console_path(self, job: Job, number: int) -> Path:
        return self._job_dir(job.name) / "builds" / str(number) / "log"

    # --- request handling ----------------------------------------------------------------

    def app(self, request: Request) -> Response:
        fault = self._take_fault(request)
        if fault is not None:
            return fault
        path = request.path
        if path.startswith("/generic-webhook-trigger/invoke"):
            return self._invoke(request)
        user, how = self._authenticate(request)
        if isinstance(user, Response):
            return user
        if user is None:
            return _page(403, "Authentication required")
        if request.method == "POST" and how == "password" and not self._crumb_ok(request, user):
            return _page(403, "Error 403 No valid crumb was included in the request")
        with self.lock:
            return self._route(request, user)

    def _take_fault(self, request: Request) -> Response | None:
        with self.lock:
            for fault in self.faults:
                if request.path.startswith(fault.get("path", "/")):
                    fault["remaining"] -= 1
                    if fault["remaining"] <= 0:
                        self.faults.remove(fault)
                    return _page(fault["status"], "Oops! A problem occurred while processing the request.")
        return None

    def _authenticate(self, request: Request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None, None
        try:
            user, sep, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except ValueError:
            user, sep, secret = "", "", ""
        if not sep:
            return _page(400, "Malformed HTTP basic Authorization header"), None
        account = self.users.get(user)
        if account and secret == account["password"]:
            return user, "password"
        if account and secret in account["tokens"]:
            return user, "token"
        return _page(
            401, f"Invalid password/token for user: {user}", headers={"WWW-Authenticate": 'Basic realm="Jenkins"'}
        ), None

    @staticmethod
    def _session_of(request: Request) -> str | None:
        for part in (request.headers.get("Cookie") or "").split(";"):
            key, _sep, value = part.strip().partition("=")
            if key.startswith("JSESSIONID."):
                return value
        return None

    def _crumb_ok(self, request: Request, user: str) -> bool:
        session = self._session_of(request)
        crumb = request.headers.get("Jenkins-Crumb")
        return bool(session and crumb and self.crumbs.get((user, session)) == crumb)

    def _not_found(self, request: Request, why: str | None = None) -> Response:
        if why:
            self.unemulated.record("jenkins", request.method, request.raw_path, why)
        return _page(404, "Not Found")

    def _route(self, request: Request, user: str) -> Response:
        path, method = request.path, request.method
        if path in ("/", "/api/json"):
            if path == "/api/json":
                return Response(200, _tree(self._root_json(), request.query.get("tree")))
            return _page(200, "Dashboard [Jenkins]")
        if path == "/crumbIssuer/api/json":
            return self._crumb(request, user)
        if path == "/createItem":
            return self._create(request) if method == "POST" else _page(405, "HTTP ERROR 405 Method Not Allowed")
        match = re.fullmatch(r"/queue/item/(\d+)/api/json", path)
        if match and method == "GET":
            item = self.queue_items.get(int(match.group(1)))
            return Response(200, self.queue_json(item)) if item else _page(404, "Not Found")
        if path == STORE or path.startswith(STORE + "/"):
            return self._store_route(request, path[len(STORE) :])
        if path == "/queue/api/json" and method == "GET":
            return Response(200, {"_class": "hudson.model.Queue", "items": [self.queue_json(i) for i in self.queue]})
        match = re.fullmatch(r"/job/([^/]+)(/.*)?", path)
        if match:
            if "/job/" in (match.group(2) or ""):
                return self._not_found(request, "folders are not emulated")
            return self._job_route(request, match.group(1), match.group(2) or "")
        return self._not_found(request, "path not emulated")

    def _crumb(self, request: Request, user: str) -> Response:
        session = self._session_of(request)
        headers = {}
        if session not in self.sessions:
            session = secrets.token_hex(16)
            self.sessions[session] = user
            headers["Set-Cookie"] = f"JSESSIONID.lab{secrets.token_hex(4)}={session}; Path=/; Secure; HttpOnly"
        crumb = self.crumbs.setdefault((user, session), secrets.token_hex(32))
        body = {
            "_class": "hudson.security.csrf.DefaultCrumbIssuer",
            "crumb": crumb,
            "crumbRequestField": "Jenkins-Crumb",
        }
        return Response(200, body, headers=headers)

    # --- the credentials store ---------------------------------------------------------

    def _save_store(self) -> None:
        write_json_atomic(self.store_path, self.store)
        self.store_path.chmod(0o600)

    def _store_route(self, request: Request, rest: str) -> Response:
        """createCredentials (XML), and a credential's api/json, config.xml (GET redacted, POST,
        DELETE) and doDelete, with the answers of CredentialsStoreAction."""
        method = request.method
        if rest in ("", "/") and method == "GET":  # where doDelete redirects to
            return _page(200, "Global credentials (unrestricted) [Jenkins]")
        if rest == "/createCredentials":
            if method != "POST":
                return _page(405, "HTTP ERROR 405 Method Not Allowed")
            ctype = request.headers.get("Content-Type")
            if not ctype:
                return _page(400, "No Content-Type header set")
            if not (ctype.startswith("application/xml") or ctype.startswith("text/xml")):
                return self._not_found(request, "createCredentials with a JSON form is not emulated")
            parsed = self._credential_xml(request)
            if isinstance(parsed, Response):
                return parsed
            if parsed["id"] in self.store:
                return _page(409, "Conflict")  # the store refuses a second credential with that id
            self.store[parsed["id"]] = parsed
            self._save_store()
            log(f"credential {parsed['id']} created")
            return Response(200, b"", content_type=HTML)
        match = re.fullmatch(r"/credential/([^/]+)/(api/json|config\.xml|doDelete)", rest)
        if not match:
            return self._not_found(request, "credentials store path not emulated")
        credential = self.store.get(match.group(1))
        if credential is None:
            return _page(404, "Not Found")
        what = match.group(2)
        if what == "api/json" and method == "GET":
            body = {
                "_class": "com.cloudbees.plugins.credentials.CredentialsStoreAction$CredentialsWrapper",
                "description": credential["description"],
                "displayName": credential["description"] or credential["id"],
                "fingerprint": None,
                "fullName": f"system/_/{credential['id']}",
                "id": credential["id"],
                "typeName": "Secret text",
            }
            return Response(200, _tree(body, request.query.get("tree")))
        if what == "config.xml" and method == "GET":  # SECRETS_REDACTED: the secret never leaves
            text = (f"<{SECRET_TEXT}>\n  <scope>{credential['scope']}</scope>\n"
                    f"  <id>{html.escape(credential['id'])}</id>\n"
                    f"  <description>{html.escape(credential['description'])}</description>\n"
                    f"  <secret>\n    <secret-redacted/>\n  </secret>\n</{SECRET_TEXT}>")  # fmt: skip
            return Response(200, text.encode(), content_type="application/xml")
        if what == "config.xml" and method == "POST":
            parsed = self._credential_xml(request)
            if isinstance(parsed, Response):
                return parsed
            self.store[credential["id"]] = {**parsed, "id": credential["id"]}
            self._save_store()
            log(f"credential {credential['id']} updated")
            return Response(200, b"", content_type=HTML)
        if (what == "config.xml" and method == "DELETE") or (what == "doDelete" and method == "POST"):
            del self.store[credential["id"]]
            self._save_store()
            log(f"credential {credential['id']} deleted")
            if what == "doDelete":
                return Response(302, b"", headers={"Location": f"{self.url}{STORE.lstrip('/')}/"})
            return Response(200, b"", content_type=HTML)
        return _page(405, "HTTP ERROR 405 Method Not Allowed")

    def _credential_xml(self, request: Request) -> dict | Response:
        """A posted credential: {scope, id, description, secret}, or the answer refusing it."""
        try:
            root = SafeET.fromstring(request.body.decode("utf-8"))
        except (ET.ParseError, defusedxml.DefusedXmlException, UnicodeDecodeError):
            return _page(500, "Oops! java.io.IOException: Failed to parse credential")
        if root.tag != SECRET_TEXT:
            return self._not_found(request, f"credentials of type <{root.tag}> are not emulated (Secret text only)")
        return {
            "scope": (root.findtext("scope") or "GLOBAL").strip(),
            "id": (root.findtext("id") or "").strip() or str(uuid.uuid4()),  # Jenkins makes one when none is given
            "description": root.findtext("description") or "",
            "secret": root.findtext("secret") or "",
        }

    def secret_text(self, credential_id: str) -> str | None:
        """The secret of a Secret text credential of the global store, as a job's context finds it."""
        credential = self.store.get(credential_id)
        return None if credential is None else credential["secret"]

    # --- jobs ----------------------------------------------------------------------------

    @staticmethod
    def _xml_problem(text: str, name: str) -> str | None:
        try:
            root = SafeET.fromstring(text)
        except (ET.ParseError, defusedxml.DefusedXmlException) as exc:
            return str(exc)
        if root.tag not in ROOT_CLASS:
            return f"job type <{root.tag}> is not emulated"
        # Jenkins parses a TimerTrigger's spec when it reads the config (Trigger.readResolve):
        # a spec it cannot read fails the whole config with the parser's reason.
        for spec in root.iter("hudson.triggers.TimerTrigger"):
            try:
                CronTab(spec.findtext("spec") or "", name)
            except CronError as exc:
                return f"java.io.InvalidObjectException: {exc}"
        return None

    def _create(self, request: Request) -> Response:
        name = request.query.get("name")
        if not name:
            return _page(400, "Query parameter 'name' is required")
        bad = next((c for c in name if c in UNSAFE), None)
        if bad:
            return _page(400, f"\u2018{bad}\u2019 is an unsafe character")
        if "mode" in request.query:
            return self._not_found(request, "createItem with mode (copy) is not emulated")
        ctype = request.headers.get("Content-Type")
        if not ctype:
            return _page(400, "No Content-Type header set")
        if not (ctype.startswith("application/xml") or ctype.startswith("text/xml")):
            return _page(400, "No mode given")
        if name in self.jobs:
            return _page(
                400, "Error", headers={"X-Error": _header(f"A job already exists with the name \u2018{name}\u2019")}
            )
        text = request.body.decode("utf-8")
        problem = self._xml_problem(text, name)
        if problem:
            if "not emulated" in problem:
                return self._not_found(request, problem)
            return _page(500, f"Oops! java.io.IOException: Failed to persist config.xml: {problem}")
        job = Job(name, text)
        self.jobs[name] = job
        self._save_job(job)
        log(f"job {name} created")
        return Response(200, b"", content_type=HTML)

    def _job_route(self, request: Request, name: str, rest: str) -> Response:
        job = self.jobs.get(name)
        method = request.method
        rest = rest.rstrip("/")
        if job is None:
            return _page(404, "Not Found")
        if rest == "":
            return _page(200, f"{name} [Jenkins]")
        if rest == "/api/json":
            return Response(200, _tree(self._job_json(job), request.query.get("tree")))
        if rest == "/config.xml":
            if method == "GET":
                return Response(200, job.config, content_type="application/xml")
            charset = re.search(r"charset=([\w-]+)", request.headers.get("Content-Type") or "")
            text = request.body.decode(charset.group(1) if charset else "iso-8859-1")
            problem = self._xml_problem(text, name)
            if problem:
                return _page(500, f"Oops! java.io.IOException: Failed to persist config.xml: {problem}")
            job.config = text
            self._save_job(job)
            return Response(200, b"", content_type=HTML)
        if rest in ("/disable", "/enable", "/doDelete"):
            if method != "POST":
                return _page(405, "HTTP ERROR 405 Method Not Allowed")
            if rest == "/doDelete":
                del self.jobs[name]
                self.queue = [i for i in self.queue if i["job"] != name]
                shutil.rmtree(self._job_dir(name), ignore_errors=True)
                log(f"job {name} deleted")
                return Response(302, b"", content_type=HTML, headers={"Location": self.url})
            job.config = _set_disabled(job.config, rest == "/disable")
            self._save_job(job)
            return Response(302, b"", content_type=HTML, headers={"Location": f"{self.url}job/{quote(name)}/"})
        if rest in ("/build", "/buildWithParameters"):
            if method != "POST":
                return _page(405, "HTTP ERROR 405 Method Not Allowed")
            if job.disabled:
                return _page(409, f"{name} is disabled")
            values = {k: v for k, v in request.query.items() if k in job.parameters()}
            item = self.schedule(job, {}, values, cause="Started by user", quiet=job.quiet_period(self.quiet_period))
            return Response(201, b"", content_type=HTML, headers={"Location": f"{self.url}queue/item/{item['id']}/"})
        match = re.fullmatch(
            r"/(\d+|lastBuild|lastCompletedBuild|lastSuccessfulBuild|lastFailedBuild)"
            r"(/api/json|/consoleText|/artifact/.+)?",
            rest,
        )
        if match:
            build = self._find_build(job, match.group(1))
            if build is None:
                return _page(404, "Not Found")
            if match.group(2) == "/consoleText":
                path = self.console_path(job, build["number"])
                return Response(
                    200, path.read_bytes() if path.exists() else b"", content_type="text/plain;charset=utf-8"
                )
            if (match.group(2) or "").startswith("/artifact/"):
                archive = self._job_dir(job.name) / "builds" / str(build["number"]) / "archive"
                path = (archive / match.group(2)[len("/artifact/") :]).resolve()
                if not path.is_file() or archive.resolve() not in path.parents:
                    return _page(404, "Not Found")
                return Response(200, path.read_bytes(), content_type="application/octet-stream")
            if match.group(2) == "/api/json":
                return Response(200, _tree(self._build_json(job, build), request.query.get("tree")))
            return _page(200, f"{name} #{build['number']} [Jenkins]")
        return self._not_found(request, f"job path {rest} not emulated")

    @staticmethod
    def _find_build(job: Job, which: str) -> dict | None:
        numbers = sorted(job.builds, reverse=True)
        if which.isdigit():
            return job.builds.get(int(which))
        done = [job.builds[n] for n in numbers if not job.builds[n]["building"]]
        if which == "lastBuild":
            return job.builds[numbers[0]] if numbers else None
        if which == "lastCompletedBuild":
            return done[0] if done else None
        wanted = "SUCCESS" if which == "lastSuccessfulBuild" else "FAILURE"
        return next((b for b in done if b["result"] == wanted), None)

    def _build_ref(self, job: Job, build: dict | None) -> dict | None:
        if build is None:
            return None
        return {
            "_class": RUN_CLASS[job.job_class],
            "number": build["number"],
            "url": f"{self.url}job/{quote(job.name)}/{build['number']}/",
        }

    def _job_json(self, job: Job) -> dict:
        numbers = sorted(job.builds, reverse=True)
        last = self._find_build(job, "lastBuild")
        done = self._find_build(job, "lastCompletedBuild")
        if job.disabled:
            color = "disabled"
        else:
            color = {"SUCCESS": "blue", "FAILURE": "red", "UNSTABLE": "yellow", "ABORTED": "aborted"}.get(
                (done or {}).get("result"), "notbuilt"
            )
            if last and last["building"]:
                color += "_anime"
        queued = [i for i in self.queue if i["job"] == job.name]
        return {
            "_class": job.job_class,
            "actions": [{}, {}],
            "description": job.root().findtext("description") or "",
            "displayName": job.name,
            "displayNameOrNull": None,
            "fullDisplayName": job.name,
            "fullName": job.name,
            "name": job.name,
            "url": f"{self.url}job/{quote(job.name)}/",
            "buildable": not job.disabled,
            "builds": [self._build_ref(job, job.builds[n]) for n in numbers],
            "color": color,
            "disabled": job.disabled,
            "firstBuild": self._build_ref(job, job.builds[numbers[-1]]) if numbers else None,
            "healthReport": [],
            "inQueue": bool(queued),
            "keepDependencies": False,
            "lastBuild": self._build_ref(job, last),
            "lastCompletedBuild": self._build_ref(job, done),
            "lastFailedBuild": self._build_ref(job, self._find_build(job, "lastFailedBuild")),
            "lastStableBuild": self._build_ref(job, self._find_build(job, "lastSuccessfulBuild")),
            "lastSuccessfulBuild": self._build_ref(job, self._find_build(job, "lastSuccessfulBuild")),
            "lastUnstableBuild": None,
            "lastUnsuccessfulBuild": self._build_ref(job, self._find_build(job, "lastFailedBuild")),
            "nextBuildNumber": job.next_build_number,
            "property": [],
            "queueItem": self.queue_json(queued[0]) if queued else None,
            "concurrentBuild": job.concurrent,
            "resumeBlocked": False,
        }

    def _build_json(self, job: Job, build: dict) -> dict:
        parameters = [
            {"_class": "hudson.model.StringParameterValue", "name": k, "value": v}
            for k, v in sorted(build["parameters"].items())
        ]
        return {
            "_class": RUN_CLASS[job.job_class],
            "actions": [
                {"_class": "hudson.model.CauseAction", "causes": build.get("causes", [build["cause"]])},
                {"_class": "hudson.model.ParametersAction", "parameters": parameters},
            ],
            "artifacts": self._artifacts(job, build["number"]),
            "building": build["building"],
            "description": None,
            "displayName": f"#{build['number']}",
            "duration": build["duration"],
            "estimatedDuration": build["duration"],
            "fullDisplayName": f"{job.name} #{build['number']}",
            "id": str(build["number"]),
            "number": build["number"],
            "queueId": build["queue_id"],
            "result": build["result"],
            "timestamp": build["timestamp"],
            "url": f"{self.url}job/{quote(job.name)}/{build['number']}/",
        }

    def _artifacts(self, job: Job, number: int) -> list[dict]:
        archive = self._job_dir(job.name) / "builds" / str(number) / "archive"
        return [
            {"displayPath": p.name, "fileName": p.name, "relativePath": str(p.relative_to(archive))}
            for p in sorted(archive.rglob("*"))
            if p.is_file()
        ]

    def _root_json(self) -> dict:
        return {
            "_class": "hudson.model.Hudson",
            "jobs": [
                {
                    "_class": j.job_class,
                    "name": n,
                    "url": f"{self.url}job/{quote(n)}/",
                    "color": self._job_json(j)["color"],
                }
                for n, j in sorted(self.jobs.items())
            ],
            "mode": "NORMAL",
            "nodeDescription": "the Jenkins controller (danacloud lab emulator)",
            "numExecutors": self.executors,
            "quietingDown": False,
            "useCrumbs": True,
            "useSecurity": True,
        }

    # --- Generic Webhook Trigger ---------------------------------------------------------

    def _invoke(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(200, b"")
        token = gwt.token_from(request.query_list, request.headers)
        body = request.body.decode("utf-8", errors="replace")
        if (request.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            form: dict[str, list[str]] = {}
            for key, value in parse_qsl(body, keep_blank_values=True):
                if key != "token":
                    form.setdefault(key, []).append(value)
            body = json.dumps(form)
        headers: dict[str, list[str]] = {}
        for key, value in request.headers.items():
            headers.setdefault(key.lower(), []).append(value)
        dry_run = (request.headers.get("gwt-dry-run") or "").lower() == "true"
        jobs: dict[str, dict] = {}
        errors: dict[str, str] = {}
        found = False
        with self.lock:
            for name, job in sorted(self.jobs.items()):
                try:
                    trigger = gwt.parse_trigger(job.root())
                except gwt.Unsupported as exc:
                    self.unemulated.record("jenkins", request.method, request.raw_path, f"job {name}: {exc}")
                    errors[name] = f"Exception occurred (lab emulator: {exc}), full stack trace in Jenkins server log."
                    continue
                if trigger is None:
                    continue
                configured = trigger.token
                if trigger.token_credential_id:  # GenericTrigger: the credential's secret replaces token
                    secret = self.secret_text(trigger.token_credential_id)
                    if secret is None:
                        log(f"SEVERE: job {name}: credential {trigger.token_credential_id} of tokenCredentialId not "
                            "found; using the static token")  # fmt: skip
                    else:
                        configured = secret
                given = token is not None
                if not ((configured and given and configured == token) or (not configured and not given)):
                    continue
                if token is None:
                    self.unemulated.record(
                        "jenkins",
                        request.method,
                        request.raw_path,
                        "token-less invocations (authenticated job search) are not emulated",
                    )
                    continue
                found = True
                try:
                    variables = gwt.resolve(trigger, headers, request.query_list, body)
                    matched, rendered = gwt.matches(trigger, variables)
                except gwt.Unsupported as exc:
                    self.unemulated.record("jenkins", request.method, request.raw_path, f"job {name}: {exc}")
                    errors[name] = f"Exception occurred (lab emulator: {exc}), full stack trace in Jenkins server log."
                    continue
                entry = {
                    "regexpFilterExpression": trigger.filter_expression,
                    "triggered": False,
                    "resolvedVariables": variables,
                    "regexpFilterText": rendered,
                    "id": 0,
                    "url": "",
                }
                if matched and not job.disabled:
                    if dry_run:
                        entry.update(triggered=True, url=f"{self.url}job/{quote(name)}/")
                    else:
                        quiet = job.quiet_period(self.quiet_period)
                        if trigger.override_quiet_period and request.query.get("jobQuietPeriod", "").isdigit():
                            quiet = int(request.query["jobQuietPeriod"])
                        values = {k: variables[k] for k in job.parameters() if variables.get(k)}
                        if not trigger.allow_several_triggers_per_build:
                            values[UUID_PARAMETER] = str(uuid.uuid4())
                        item = self.schedule(job, variables, values, cause="Generic Cause", quiet=quiet)
                        entry.update(triggered=True, id=item["id"], url=f"queue/item/{item['id']}/")
                if not trigger.silent_response:
                    jobs[name] = entry
                self.webhook_log.append(
                    {"time": time.time(), "job": name, "triggered": entry["triggered"], "id": entry["id"]}
                )
        if errors:
            return Response(500, {"jobs": {**jobs, **errors}, "message": "There were errors when triggering jobs."})
        if found and not jobs:
            return Response(200, b"")  # every job found has silentResponse
        if not found:
            message = "Did not find any jobs with GenericTrigger configured!\n"
            if token is not None:
                message += "A token was supplied.\n"
            else:
                message += (
                    "No token was supplied.\nIf you are using a token, you need to pass it like "
                    "...trigger/invoke?token=TOKENHERE\nIf you are not using a token, you need to "
                    "authenticate like http://user:passsword@example.org/generic-webhook...\n"
                )
            return Response(404, {"jobs": None, "message": message})
        return Response(200, {"jobs": jobs, "message": "Triggered jobs."})

    # --- queue and builds ----------------------------------------------------------------

    def schedule(self, job: Job, variables: dict, values: dict, *, cause: str, quiet: int) -> dict:
        cause_json = (
            {"_class": "org.jenkinsci.plugins.gwt.GenericCause", "shortDescription": "Generic Cause"}
            if cause == "Generic Cause"
            else {"_class": "hudson.triggers.TimerTrigger$TimerTriggerCause", "shortDescription": cause}
            if cause == "Started by timer"
            else {"_class": "hudson.model.Cause$UserIdCause", "shortDescription": cause}
        )
        parameters = {**job.parameters(), **values}
        # Queue.schedule2: a request whose parameters equal those of an item of the same job still
        # in the queue (waiting out its quiet period, or blocked behind a running build) is folded
        # into that item - its cause added, the earlier of the two due times kept - and the existing
        # item is returned. The build then sees the first trigger's variables. GWT's uuid parameter
        # (unless allowSeveralTriggersPerBuild) makes every invocation differ, so nothing folds.
        for queued in self.queue:
            if queued["job"] == job.name and queued["parameters"] == parameters:
                queued["causes"].append(cause_json)
                queued["due"] = min(queued["due"], time.time() + quiet)
                log(f"folded a trigger of {job.name} into queue item {queued['id']} ({cause})")
                return queued
        item_id = next(self._queue_ids)
        item = {
            "id": item_id,
            "job": job.name,
            "variables": variables,
            "parameters": parameters,
            "cause": cause_json,
            "causes": [cause_json],
            "since": time.time(),
            "due": time.time() + quiet,
            "executable": None,
            "cancelled": False,
            "why": f"In the quiet period. Expires in {quiet} sec",
        }
        self.queue.append(item)
        self.queue_items[item_id] = item
        log(f"queued {job.name} as queue item {item_id} ({cause})")
        return item

    def queue_json(self, item: dict) -> dict:
        executable = item["executable"]
        job = self.jobs.get(item["job"])
        job_url = f"{self.url}job/{quote(item['job'])}/"
        return {
            "_class": "hudson.model.Queue$LeftItem"
            if executable or item["cancelled"]
            else "hudson.model.Queue$WaitingItem",
            "actions": [{"_class": "hudson.model.CauseAction", "causes": item["causes"]}],
            "blocked": False,
            "buildable": False,
            "cancelled": item["cancelled"],
            "id": item["id"],
            "inQueueSince": int(item["since"] * 1000),
            "params": "".join(f"\n{k}={v}" for k, v in sorted(item["parameters"].items())),
            "stuck": False,
            "task": {
                "_class": job.job_class if job else FREESTYLE,
                "name": item["job"],
                "url": job_url,
                "color": "notbuilt",
            },
            "url": f"queue/item/{item['id']}/",
            "why": None if executable else item["why"],
            "executable": executable,
        }

    def fire_timers(self, moment: datetime) -> list[str]:
        """Queue a build of every enabled job whose TimerTrigger spec matches ``moment``'s minute.

        Jenkins's Trigger.Cron does this once a minute; a test calls it with the minute it wants
        (the control socket's POST /timers), so that no test waits for the clock.
        """
        started = []
        with self.lock:
            for job in self.jobs.values():
                spec = job.timer_spec
                if spec is None or job.disabled:
                    continue
                try:
                    due = CronTab(spec, job.name).matches(moment)
                except CronError as exc:
                    self.unemulated.record("jenkins", "TimerTrigger", f"job/{job.name}", f"spec {spec!r}: {exc}")
                    continue
                if due:
                    self.schedule(job, {}, {}, cause="Started by timer", quiet=0)
                    started.append(job.name)
        return started

    def _timers(self) -> None:
        """Once a minute, at the start of the minute (UTC), as Jenkins's cron thread."""
        while not self._stop.wait(60 - time.time() % 60):
            if self.clock:
                self.fire_timers(datetime.now(UTC).replace(second=0, microsecond=0))

    def _scheduler(self) -> None:
        while not self._stop.wait(0.2):
            with self.lock:
                busy = sum(len(j.running) for j in self.jobs.values())
                for item in list(self.queue):
                    job = self.jobs.get(item["job"])
                    if job is None or job.disabled:
                        item["cancelled"] = True
                        self.queue.remove(item)
                        continue
                    if time.time() < item["due"]:
                        continue
                    if job.running and not job.concurrent:
                        item["why"] = f"Build #{min(job.running)} is already in progress"
                        continue
                    if busy >= self.executors:
                        item["why"] = "Waiting for next available executor"
                        continue
                    self.queue.remove(item)
                    busy += 1
                    self._start_build(job, item)

    def _start_build(self, job: Job, item: dict) -> None:
        number = job.next_build_number
        job.next_build_number += 1
        build = {
            "number": number,
            "queue_id": item["id"],
            "cause": item["cause"],
            "causes": item["causes"],
            "parameters": item["parameters"],
            "building": True,
            "result": None,
            "timestamp": int(time.time() * 1000),
            "duration": 0,
        }
        job.builds[number] = build
        job.running.add(number)
        item["executable"] = {
            "_class": RUN_CLASS[job.job_class],
            "number": number,
            "url": f"{self.url}job/{quote(job.name)}/{number}/",
        }
        self._save_job(job)
        self._save_build(job, build)
        env = {**item["parameters"], **item["variables"]}
        threading.Thread(
            target=self._run_build, args=(job, build, env, job.config), name=f"{job.name}#{number}", daemon=True
        ).start()

    def _run_build(self, job: Job, build: dict, variables: dict, config: str) -> None:
        number = build["number"]
        console = self.console_path(job, number)
        console.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        result = "FAILURE"
        with open(console, "w") as out:
            out.write(f"{build['cause']['shortDescription']}\nRunning as SYSTEM\n")
            out.flush()
            try:
                steps, cwd = self._steps(job, config)
                workspace = cwd or self.home / "workspace" / job.name
                workspace.mkdir(parents=True, exist_ok=True)
                tmp = self.home / "workspace" / f"{job.name}@tmp"
                tmp.mkdir(parents=True, exist_ok=True)
                env = {
                    **os.environ,
                    **self.build_env,
                    **variables,
                    "JENKINS_URL": self.url,
                    "JOB_NAME": job.name,
                    "JOB_BASE_NAME": job.name,
                    "JOB_URL": f"{self.url}job/{quote(job.name)}/",
                    "BUILD_NUMBER": str(number),
                    "BUILD_ID": str(number),
                    "BUILD_TAG": f"jenkins-{job.name}-{number}",
                    "BUILD_URL": f"{self.url}job/{quote(job.name)}/{number}/",
                    "WORKSPACE": str(workspace),
                    "WORKSPACE_TMP": str(tmp),
                    "NODE_NAME": "built-in",
                    "EXECUTOR_NUMBER": "0",
                }
                out.write(f"Building in workspace {workspace}\n")
                result = "SUCCESS"
                run = {"job": job, "number": number, "env": env, "workspace": workspace, "tmp": tmp, "out": out}
                for step in [step for step in steps if step.condition is None]:
                    if not self._run_step(step, run):
                        result = "FAILURE"
                        break
                post = [step for step in steps if step.condition is not None]
                if post:
                    out.write("[Pipeline] // stage\n[Pipeline] Declarative: Post Actions\n")
                for condition in pipeline.POST_ORDER:
                    for step in [s for s in post if s.condition == condition]:
                        if pipeline.applies(condition, result) and not self._run_step(step, run):
                            result = "FAILURE"
            except BuildError as exc:
                out.write(f"ERROR: {exc}\n")
                result = "FAILURE"
            out.write(f"Finished: {result}\n")
        with self.lock:
            build.update(building=False, result=result, duration=int((time.monotonic() - started) * 1000))
            job.running.discard(number)
            if job.name in self.jobs:
                self._save_build(job, build)
                self._discard_old_builds(job)
        log(f"{job.name} #{number} finished: {result}")

    def _discard_old_builds(self, job: Job) -> None:
        keep = job.keep_builds()
        if keep is None:
            return
        finished = sorted(n for n, b in job.builds.items() if not b["building"])
        for number in finished[:-keep]:
            del job.builds[number]
            shutil.rmtree(self._job_dir(job.name) / "builds" / str(number), ignore_errors=True)

    def _steps(self, job: Job, config: str) -> tuple[list, Path | None]:
        """What the build runs: its steps (lab/labctl/jenkins/pipeline.py), and the folder the SCM checkout is in."""
        root = SafeET.fromstring(config)
        if root.tag == "project":
            commands = [c.text or "" for c in root.findall("builders/hudson.tasks.Shell/command")]
            return [pipeline.Step("sh", command) for command in commands], None
        definition = root.find("definition")
        cls = (definition.get("class") if definition is not None else "") or ""
        try:
            if cls.endswith("CpsFlowDefinition"):
                return pipeline.parse(definition.findtext("script") or ""), None
            if cls.endswith("CpsScmFlowDefinition"):
                url = definition.findtext("scm/userRemoteConfigs/hudson.plugins.git.UserRemoteConfig/url") or ""
                local = Path(urlsplit(url).path if url.startswith("file://") else url)
                script_path = definition.findtext("scriptPath") or "Jenkinsfile"
                if not local.is_absolute() or not (local / script_path).is_file():
                    raise BuildError(
                        f"the lab checks pipelines out of a local repository only; {url!r} has no {script_path}"
                    )
                return pipeline.parse((local / script_path).read_text()), local
        except pipeline.PipelineError as exc:
            raise BuildError(str(exc)) from None
        raise BuildError(f"pipeline definition {cls or '(none)'} is not emulated")

    def _bind(self, step, tmp: Path, out) -> tuple[dict, list, list] | None:
        """withCredentials: (environment, secrets to mask, files to remove), or None when an id is unknown."""
        bound, masked, folders = {}, [], []
        for binding in step.bindings:
            entry = self.credentials.get(binding["id"])
            if entry is None or entry.get("type") != binding["kind"]:
                out.write(f"ERROR: Could not find credentials entry with ID '{binding['id']}'\n")
                for folder in folders:
                    shutil.rmtree(folder, ignore_errors=True)
                return None
            if binding["kind"] == "file":
                target = tmp / f"secretFiles-{uuid.uuid4()}" / Path(entry["path"]).name
                target.parent.mkdir(mode=0o700)
                shutil.copyfile(entry["path"], target)
                target.chmod(0o400)
                folders.append(target.parent)
                bound[binding["variable"]] = str(target)
            elif binding["kind"] == "usernamePassword":
                password = Path(entry["password_file"]).read_text().strip()
                bound[binding["usernameVariable"]] = entry["username"]
                bound[binding["passwordVariable"]] = password
                masked.append(password)
            else:
                secret = Path(entry["secret_file"]).read_text().strip()
                bound[binding["variable"]] = secret
                masked.append(secret)
        if step.bindings:
            names = [f"${v}" for b in step.bindings for k, v in b.items() if k.endswith("ariable")]
            out.write(f"Masking supported pattern matches of {' or '.join(names)}\n")
        return bound, masked, folders

    def _run_step(self, step, run: dict) -> bool:
        """Run one step of a build (``run``: job, number, env, workspace, tmp, out); False when it fails."""
        out = run["out"]
        if step.kind == "archive":
            return self._archive(run["job"], run["number"], step, run["workspace"], out)
        out.write("[Pipeline] sh\n" if run["job"].job_class == PIPELINE else "")
        out.flush()
        binding = self._bind(step, run["tmp"], out)
        if binding is None:
            return False
        bound, masked, folders = binding
        try:
            script = run["tmp"] / f"script-{run['number']}.sh"
            script.write_text(step.body)
            process = subprocess.Popen(
                ["/bin/sh", "-xe", str(script)], cwd=run["workspace"], env={**run["env"], **bound},
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            )  # fmt: skip
            for raw in process.stdout:
                line = raw
                for secret in masked:  # as Jenkins masks bound secrets in the log
                    line = line.replace(secret, "****") if secret else line
                out.write(line)
                out.flush()
            code = process.wait()
            script.unlink(missing_ok=True)
        finally:
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
        if code != 0:
            out.write(f"ERROR: script returned exit code {code}\n")
            return False
        return True

    def _archive(self, job: Job, number: int, step, workspace: Path, out) -> bool:
        out.write("[Pipeline] archiveArtifacts\nArchiving artifacts\n")
        found = sorted(p for p in workspace.glob(step.body) if p.is_file())
        if not found and not step.allow_empty:
            out.write(f'ERROR: No artifacts found that match the file pattern "{step.body}". Configuration error?\n')
            return False
        archive = self._job_dir(job.name) / "builds" / str(number) / "archive"
        for path in found:
            relative = path.relative_to(workspace)
            (archive / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, archive / relative)
        return True


def _header(text: str) -> str:
    """A header value as Jetty puts it on the wire: UTF-8 bytes (http.server writes latin-1)."""
    return text.encode("utf-8").decode("latin-1")


def _set_disabled(config: str, disabled: bool) -> str:
    value = "true" if disabled else "false"
    if re.search(r"<disabled>\s*(true|false)\s*</disabled>", config):
        return re.sub(r"<disabled>\s*(true|false)\s*</disabled>", f"<disabled>{value}</disabled>", config, count=1)
    if re.search(r"<disabled\s*/>", config):
        return re.sub(r"<disabled\s*/>", f"<disabled>{value}</disabled>", config, count=1)
    root_end = config.rstrip().rfind("</")
    return config[:root_end] + f"  <disabled>{value}</disabled>\n" + config[root_end:]


def _parse_tree(spec: str) -> dict:
    """``name,builds[number,url]`` -> {"name": {}, "builds": {"number": {}, "url": {}}}."""
    tree: dict = {}
    stack = [tree]
    token = ""
    for char in spec + ",":
        if char in ",[]":
            if token.strip():
                stack[-1][re.sub(r"\{.*\}", "", token.strip())] = {}
            if char == "[":
                stack.append(stack[-1][re.sub(r"\{.*\}", "", token.strip())])
            elif char == "]":
                stack.pop()
            token = ""
        else:
            token += char
    return tree


def _apply_tree(value, tree: dict):
    if not tree:
        return value
    if isinstance(value, list):
        return [_apply_tree(v, tree) for v in value]
    if isinstance(value, dict):
        out = {"_class": value["_class"]} if "_class" in value else {}
        for key, sub in tree.items():
            if key in value:
                out[key] = _apply_tree(value[key], sub)
        return out
    return value


def _tree(document: dict, spec: str | None) -> dict:
    return _apply_tree(document, _parse_tree(spec)) if spec else document
