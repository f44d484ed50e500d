"""The closed-loop story that 'make demo' tells and tests/integration/test_demo_story.py asserts.

The lab's web service (acme-web) gets a rising load: its real Prometheus alert fires, the real
Alertmanager posts it to the service's Jenkins job, the build runs the collection's scale-out,
and - acme-web tracks a CPU target of 60 % - two VMs join the F5 pool on both devices in one
action, 2 -> 4. Then the load falls and the same chain scales it back in to its 2 static VMs.
The API service (globex-api) carries a steady load all along and must stay untouched.

The story does not trust the collection's own answers: an ``Observer`` reads every system
independently every 2 s - Prometheus's alerts and metrics, Jenkins's builds, the event logs and
IP leases on the state host, vCenter's VMs, both F5 devices' pool members - and the ``Story``
prints each change as one line of a timeline, with progress while it waits. ``Story.verify``
lists what did not happen as told; the demo exits non-zero if anything did not.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import requests
from pyVim.connect import Disconnect
from pyVmomi import vmodl

from . import vcsim
from .emulators import control_socket
from .httpd import control
from .plan import Plan, load_plan
from .state import Paths, default_paths

WEB, API = "acme-web", "globex-api"
SCALE_OUT, SCALE_IN = "VmAutoscaleScaleOut", "VmAutoscaleScaleIn"
# Demand is in percent of one VM's CPU, shared by the members the F5 has enabled (lab/load):
# acme-web tracks 60 % CPU +-10 % (its scale-out alert fires above 66 %); globex-api scales by
# thresholds (out above 75 %, in below 20 %).
STEADY = 60  # 30 % CPU on each of 2 VMs (plus 3 % idle): inside both services' bands, no alert
PEAK = 210  # 3.5x: 100 % on 2 VMs (capped): ceil(2 x 100 / 60) = 4 in one action; 55.5 % on 4, in band
QUIET = 20  # 5 % on 4 VMs (plus 3 % idle): one VM fewer stays below 60 %; down to its minimum of 2


class StoryFailed(AssertionError):
    """A step of the story did not happen within its time."""


@dataclass
class ServiceView:
    """What the systems say about one service at one moment."""

    alerts: dict[str, dict] = field(default_factory=dict)  # alertname -> Prometheus's alert
    builds: dict[int, dict] = field(default_factory=dict)  # number -> Jenkins's build
    events: list[dict] = field(default_factory=list)  # the service's event log
    leases: dict[str, str] = field(default_factory=dict)  # ip -> reserved or in_use (released: gone)
    vms: dict[str, str] = field(default_factory=dict)  # autoscaled VM name -> power state
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # device -> member -> state
    cpu: float | None = None
    jenkins_up: bool = True

    def serving(self) -> int:
        """Pool members available and enabled on every device (0 when the devices disagree)."""
        sets = [
            {m for m, state in members.items() if state == "up/monitor-enabled"} for members in self.members.values()
        ]
        return len(sets[0]) if sets and all(s == sets[0] for s in sets) else 0


class Observer:
    """Reads the lab's systems, each with its own credentials, validating the lab CA."""

    def __init__(self, plan: Plan | None = None, paths: Paths | None = None):
        self.plan = plan or load_plan()
        self.paths = paths or default_paths()
        self.http = requests.Session()
        self.http.verify = str(self.paths.pki / "ca.pem")
        plg = self.plan.plg
        self.prometheus = f"https://{plg['address']}:{plg['prometheus_port']}"
        self.jenkins = f"https://{self.plan.jenkins['address']}"
        self.devices = {d["name"]: f"https://{d['address']}" for d in self.plan.f5["devices"]}
        self._f5_auth = (self.plan.f5["username"], self._secret("f5_password"))
        self._jenkins_auth = (self.plan.jenkins["username"], self._secret("jenkins_api_token"))
        self._plg_auth = (self.plan.plg["username"], self._secret("plg_password"))
        self._si = vcsim.connect(self.plan, self.paths, self.paths.secrets / "vcenter_password")
        self._finished: dict[str, dict[int, dict]] = {}
        self.services = {s.name: s for s in self.plan.services}

    def _secret(self, name: str) -> str:
        return (self.paths.secrets / name).read_text().strip()

    def close(self) -> None:
        Disconnect(self._si)
        self.http.close()

    def _get(self, url: str, **kwargs) -> dict:
        answer = self.http.get(url, timeout=10, **kwargs)
        answer.raise_for_status()
        return answer.json()

    def query(self, expr: str) -> dict[str, float]:
        """An instant query's values by their ``service`` label."""
        answer = self._get(f"{self.prometheus}/api/v1/query", params={"query": expr}, auth=self._plg_auth)
        return {r["metric"].get("service", ""): float(r["value"][1]) for r in answer["data"]["result"]}

    def console(self, job: str, number: int) -> str:
        answer = self.http.get(f"{self.jenkins}/job/{job}/{number}/consoleText", auth=self._jenkins_auth, timeout=10)
        return answer.text if answer.ok else f"(Jenkins answered {answer.status_code})"

    def set_load(self, service: str, demand: float) -> None:
        control(control_socket(self.paths, "guests"), "PUT", f"/demand/{service}", {"demand": demand})

    def _builds(self, job: str) -> dict[int, dict] | None:
        """The job's builds; None while Jenkins does not answer (it may be down on purpose)."""
        url = f"{self.jenkins}/job/{job}/api/json?tree=builds[number]"
        try:
            answer = self.http.get(url, auth=self._jenkins_auth, timeout=10)
        except requests.ConnectionError:
            return None
        if answer.status_code == 404:
            return {}
        answer.raise_for_status()
        finished = self._finished.setdefault(job, {})
        builds = {}
        for number in (b["number"] for b in answer.json().get("builds", [])):
            if number not in finished:
                build = self._get(f"{self.jenkins}/job/{job}/{number}/api/json", auth=self._jenkins_auth)
                if not build["building"]:
                    finished[number] = build
                builds[number] = build
            else:
                builds[number] = finished[number]
        return builds

    def _vms(self) -> dict[str, str]:
        found = {}
        for name, vm in vcsim.vm_names(self._si.RetrieveContent()).items():
            try:
                found[name] = str(vm.runtime.powerState)
            except vmodl.fault.ManagedObjectNotFound:  # deleted since it was listed
                continue
        return found

    def _members(self, pool: str) -> dict[str, dict[str, str]]:
        found = {}
        for device, url in self.devices.items():
            answer = self.http.get(f"{url}/mgmt/tm/ltm/pool/~Common~{pool}/members", auth=self._f5_auth, timeout=10)
            answer.raise_for_status()
            found[device] = {m["name"]: f"{m['state']}/{m['session']}" for m in answer.json().get("items", [])}
        return found

    def look(self, last: dict[str, ServiceView] | None = None) -> dict[str, ServiceView]:
        """Every service's view now; while Jenkins does not answer, its builds as ``last`` saw them."""
        alerts = self._get(f"{self.prometheus}/api/v1/alerts", auth=self._plg_auth)["data"]["alerts"]
        cpu = self.query("vm_autoscale:cpu_percent")
        vms = self._vms()
        views = {}
        for name, service in self.services.items():
            statehost = self.paths.statehost / "vm_autoscale"
            log = statehost / "events" / f"{name}.jsonl"
            ipam = statehost / "ipam" / f"{name}.json"
            leases = json.loads(ipam.read_text())["leases"] if ipam.exists() else {}
            builds = self._builds(f"autoscale-{name}")
            views[name] = ServiceView(
                alerts={
                    a["labels"]["alertname"]: a
                    for a in alerts
                    if a["labels"].get("service") == name and a["labels"].get("vm_autoscale") == "action"
                },
                builds=builds if builds is not None else (last[name].builds if last else {}),
                jenkins_up=builds is not None,
                events=[json.loads(line) for line in log.read_text().splitlines()] if log.exists() else [],
                leases={ip: lease["state"] for ip, lease in leases.items()},
                vms={vm: power for vm, power in vms.items() if vm.startswith(f"{name}-auto-")},
                members=self._members(service.pool_name),
                cpu=cpu.get(name),
            )
        return views


@dataclass
class Mark:
    """One line of the timeline: when (seconds since the story began), which service, what kind."""

    at: float
    service: str
    kind: str
    text: str
    data: dict = field(default_factory=dict)


RUN_ID = re.compile(r"^(?P<tag>jenkins-(?P<job>.+)-(?P<number>[0-9]+))-[a-z0-9]{8}$")


def build_of(event_id: str) -> tuple[str, str, int] | None:
    """(build tag, job, build number) of a run id made from Jenkins's BUILD_TAG, else None.

    playbooks/autoscale.yml makes a run id of the build tag and a random suffix, so that a job
    re-created with its numbers restarting never reuses an id.
    """
    found = RUN_ID.match(event_id or "")
    return (found["tag"], found["job"], int(found["number"])) if found else None


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"


class Story:
    """Polls the observer, prints every change as a timeline line, and waits for the story's steps."""

    def __init__(
        self,
        observer: Observer,
        out: TextIO = sys.stdout,
        tick: float = 2.0,
        during: Callable[[Story, dict[str, ServiceView]], None] | None = None,
    ):
        self.observer = observer
        self.during = during  # called at every poll: the tests inject faults with it
        self.out = out
        self.tick = tick
        self.live = out.isatty()
        self.start = time.monotonic()
        self.marks: list[Mark] = []
        self.view = observer.look()
        self.first = self.view
        self._status = ""

    def now(self) -> float:
        return time.monotonic() - self.start

    def say(self, service: str, kind: str, text: str, **data) -> None:
        mark = Mark(self.now(), service, kind, text, data)
        self.marks.append(mark)
        self._clear()
        print(f"  [{_clock(mark.at)}] {service:<11} {text}", file=self.out, flush=True)

    def chapter(self, text: str) -> None:
        self._clear()
        print(f"\n  -- {text}", file=self.out, flush=True)

    def _clear(self) -> None:
        if self.live and self._status:
            print("\r" + " " * len(self._status) + "\r", end="", file=self.out)
            self._status = ""

    def _progress(self, text: str) -> None:
        if self.live:
            self._clear()
            self._status = f"  ... {text}"
            print(self._status, end="", file=self.out, flush=True)
        else:
            print(f"  ... {text}", file=self.out, flush=True)

    def set_load(self, service: str, demand: float, why: str) -> None:
        self.observer.set_load(service, demand)
        self.say(service, "load", f"load set to {demand:g} % of one VM's CPU ({why})", demand=demand)

    def poll(self) -> dict[str, ServiceView]:
        new = self.observer.look(self.view)
        for service in new:
            self._diff(service, self.view[service], new[service])
        self.view = new
        return new

    def _diff(self, service: str, old: ServiceView, new: ServiceView) -> None:
        if old.jenkins_up != new.jenkins_up and service == WEB:
            self.say(service, "jenkins", "Jenkins answers again" if new.jenkins_up else "Jenkins does not answer")
        for name in sorted(set(old.alerts) | set(new.alerts)):
            before = old.alerts.get(name, {}).get("state", "inactive")
            after = new.alerts.get(name, {}).get("state", "inactive")
            if before != after:
                text = {"pending": "pending (its condition holds; waiting out `for`)", "firing": "FIRING"}.get(
                    after, "resolved"
                )
                self.say(service, f"alert-{after}", f"alert {name} {text}", alert=name)
        for number in sorted(set(new.builds) - set(old.builds)):
            self.say(service, "build-started", f"Jenkins build #{number} of autoscale-{service} started", number=number)
        for number, build in sorted(new.builds.items()):
            if not build["building"] and (number not in old.builds or old.builds[number]["building"]):
                seconds = build["duration"] / 1000
                self.say(
                    service,
                    "build-finished",
                    f"Jenkins build #{number} finished: {build['result']} after {seconds:.0f} s",
                    number=number,
                    result=build["result"],
                )
        for event in new.events[len(old.events) :]:
            vms = [a["vm"] for a in event.get("actions", []) if a["type"] in ("vm-creation", "vm-deletion")]
            detail = f" ({', '.join(vms)})" if vms else f": {event.get('reason', '')}" if event.get("reason") else ""
            self.say(
                service,
                "event",
                f"event {event['id']}: {event['action']} {event['status']}{detail}",
                event=event,
            )
        for ip, state in sorted(new.leases.items()):
            if old.leases.get(ip) != state:
                text = (
                    "reserved in the service's IP pool" if state == "reserved" else f"lease {state.replace('_', ' ')}"
                )
                self.say(service, "ip-leased", f"IP {ip} {text}", ip=ip)
        for ip in sorted(set(old.leases) - set(new.leases)):
            self.say(service, "ip-released", f"IP {ip} released", ip=ip)
        for vm in sorted(set(new.vms) - set(old.vms)):
            self.say(service, "vm-created", f"vCenter: VM {vm} cloned ({new.vms[vm]})", vm=vm)
        for vm in sorted(set(new.vms) & set(old.vms)):
            if new.vms[vm] != old.vms[vm]:
                self.say(service, "vm-power", f"vCenter: VM {vm} {new.vms[vm]}", vm=vm)
        for vm in sorted(set(old.vms) - set(new.vms)):
            self.say(service, "vm-removed", f"vCenter: VM {vm} deleted", vm=vm)
        for device, members in new.members.items():
            before = old.members.get(device, {})
            for member, state in sorted(members.items()):
                if before.get(member) != state:
                    verb = "added to the pool," if member not in before else "now"
                    self.say(service, "member", f"F5 {device}: {member} {verb} {_member_state(state)}", member=member)
            for member in sorted(set(before) - set(members)):
                self.say(service, "member-removed", f"F5 {device}: {member} removed from the pool", member=member)

    def wait(self, what: str, done: Callable[[dict[str, ServiceView]], bool], timeout: float) -> float:
        """Poll until ``done(views)``; print progress while waiting; return the seconds it took."""
        began = self.now()
        last_progress = began
        while True:
            views = self.poll()
            if self.during:
                self.during(self, views)
            if done(views):
                self._clear()
                return self.now() - began
            waited = self.now() - began
            if waited > timeout:
                self._clear()
                raise StoryFailed(f"{what}: not after {timeout:.0f} s ({self.status(views)})")
            if self.live or self.now() - last_progress >= 20:
                self._progress(f"{_clock(self.now())} waiting for {what} ({waited:.0f} s) - {self.status(views)}")
                last_progress = self.now()
            time.sleep(self.tick)

    def status(self, views: dict[str, ServiceView]) -> str:
        view = views[WEB]
        parts = [f"{WEB}: CPU {view.cpu:.0f} %" if view.cpu is not None else f"{WEB}: CPU not measured yet"]
        parts.append(f"{view.serving()} serving")
        for name, alert in sorted(view.alerts.items()):
            since = _age(alert.get("activeAt"))
            parts.append(f"{name} {alert['state']}" + (f" for {since:.0f} s" if since is not None else ""))
        running = [n for n, b in view.builds.items() if b["building"]]
        if running:
            parts.append(f"build #{running[-1]} running")
        return ", ".join(parts)


def _member_state(state: str) -> str:
    availability, session = state.split("/")
    words = {"up": "available", "down": "offline (health monitor fails)", "checking": "being checked by its monitor"}
    text = words.get(availability, availability)
    return text + (", disabled (draining)" if session == "user-disabled" else "")


def _age(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    started = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return (datetime.now(UTC) - started).total_seconds()


def _at(views: dict[str, ServiceView], count: int) -> bool:
    web = views[WEB]
    return web.serving() == count and len(web.vms) == count - 2 and all(p == "poweredOn" for p in web.vms.values())


def tell(story: Story, timeout: float = 300) -> None:
    """The scripted load story; raises StoryFailed when a step does not happen in ``timeout`` s."""
    story.chapter(f"Both services carry a steady load; {API} has no reason to scale, ever")
    story.set_load(API, STEADY, "30 % on each of its 2 VMs")
    story.set_load(WEB, STEADY, "30 % on each of its 2 VMs")
    story.chapter(f"{WEB}'s load rises 3.5x: expect its scale-out alert, a Jenkins build, 2 VMs in one action")
    story.set_load(WEB, PEAK, "more than its 2 VMs can serve")
    story.wait(f"{WEB} serving on 4 VMs", lambda v: _at(v, 4), timeout)
    story.say(WEB, "step", "4 members serve, reached in one action: about 56 % CPU each, inside 60 % +-10 %")
    story.chapter(f"{WEB}'s load falls: expect its scale-in alert, a build that drains and removes VMs")
    story.set_load(WEB, QUIET, "the peak is over")
    story.wait(f"{WEB} back on its 2 static VMs", lambda v: _at(v, 2) and not v[WEB].leases, timeout * 1.5)
    story.say(WEB, "step", "back on its 2 static VMs")
    story.wait("the last build to finish", lambda v: not any(b["building"] for b in v[WEB].builds.values()), 120)


def verify(story: Story) -> list[str]:
    """What did not happen as told: empty when the story held, read back from every system."""
    problems = []
    first, last = story.first, story.poll()
    web, api = last[WEB], last[API]
    new = web.events[len(first[WEB].events) :]
    outs = [e for e in new if e["action"] == "scale_out" and e["status"] == "success"]
    ins = [e for e in new if e["action"] == "scale_in" and e["status"] == "success"]
    created = [a["vm"] for e in outs for a in e["actions"] if a["type"] == "vm-creation"]
    deleted = [a["vm"] for e in ins for a in e["actions"] if a["type"] == "vm-deletion"]
    if len(outs) != 1 or len(created) != 2:
        problems.append(f"{WEB}: expected 1 scale-out adding 2 VMs, the event log has {len(outs)} ({created})")
    elif (outs[0].get("sizing") or {}).get("desired") != 4:
        problems.append(f"{WEB}: the scale-out was not sized to 4 by target tracking: {outs[0].get('sizing')}")
    if len(ins) != 1:
        problems.append(f"{WEB}: expected 1 scale-in removing both VMs, the event log has {len(ins)}")
    if sorted(deleted) != sorted(created):
        problems.append(f"{WEB}: the scale-ins removed {deleted}, not the VMs the scale-outs made ({created})")
    if failed := [e["id"] for e in new if e["status"] == "failed"]:
        problems.append(f"{WEB}: failed events {failed}")
    if not all(e["id"].startswith(f"jenkins-autoscale-{WEB}-") for e in outs + ins):
        problems.append(f"{WEB}: a scale event did not come from its Jenkins job: {[e['id'] for e in outs + ins]}")
    builds = {n: b for n, b in web.builds.items() if n not in first[WEB].builds}
    if bad := {n: b["result"] for n, b in builds.items() if b["result"] != "SUCCESS"}:
        problems.append(f"{WEB}: Jenkins builds that did not succeed: {bad}")
    for number in sorted(builds):
        console = story.observer.console(f"autoscale-{WEB}", number)
        if warned := [line for line in console.splitlines() if "[DEPRECATION WARNING]" in line]:
            problems.append(f"{WEB}: build #{number} used a deprecated feature: {warned[0].strip()}")
    if web.vms or web.leases:
        problems.append(f"{WEB}: left autoscaled VMs {sorted(web.vms)} or leases {sorted(web.leases)}")
    if web.members != first[WEB].members:
        problems.append(f"{WEB}: the F5 pools are {web.members}, not as before {first[WEB].members}")
    instances = story.observer.query("vm_autoscale_instances").get(WEB)
    if instances != 2:
        problems.append(f"{WEB}: Prometheus reads vm_autoscale_instances {instances}, not 2")
    for what, before, after in (
        ("events", first[API].events, api.events),
        ("Jenkins builds", sorted(first[API].builds), sorted(api.builds)),
        ("VMs", first[API].vms, api.vms),
        ("F5 pool members", first[API].members, api.members),
        ("IP leases", first[API].leases, api.leases),
    ):
        if before != after:
            problems.append(f"{API}: its {what} changed: {before} -> {after}")
    if fired := [m.text for m in story.marks if m.service == API and m.kind.startswith("alert-")]:
        problems.append(f"{API}: alerts changed state: {fired}")
    return problems


def summary(story: Story) -> str:
    """The table of events per service and of each scale action's phases."""
    first, last = story.first, story.view
    lines = ["", "  Events per service (from the event logs on the state host):", ""]
    lines.append(
        f"    {'service':<12} {'builds':>6} {'scale-out ok':>12} {'scale-in ok':>11} {'skipped':>7} {'failed':>6}"
    )
    for name, view in last.items():
        new = view.events[len(first[name].events) :]

        def count(action, status, new=new):
            return sum(1 for e in new if (action is None or e["action"] == action) and e["status"] == status)

        builds = len(set(view.builds) - set(first[name].builds))
        lines.append(
            f"    {name:<12} {builds:>6} {count('scale_out', 'success'):>12} {count('scale_in', 'success'):>11}"
            f" {count(None, 'skipped'):>7} {count(None, 'failed'):>6}"
        )
    lines += ["", f"  Phases of {WEB}'s scale actions (seconds, as observed every {story.tick:g} s):", ""]
    lines.append(
        f"    {'action':<22} {'alert pending':>13} {'-> firing':>9} {'-> build':>8} {'build':>6} {'-> done':>7}"
    )
    for row in phases(story):
        lines.append(
            f"    {row['action']:<22} {row['pending']:>13} {row['firing']:>9} {row['build']:>8}"
            f" {row['duration']:>6} {row['done']:>7}"
        )
    raised = next(
        (m.at for m in story.marks if m.service == WEB and m.kind == "load" and m.data.get("demand") == PEAK), None
    )
    full = next(
        (m.at for m in story.marks if m.service == WEB and m.kind == "step" and raised is not None and m.at > raised),
        None,
    )
    if raised is not None and full is not None:
        lines += ["", f"  {WEB}: from the load step to 4 members serving: {full - raised:.0f} s"]
    return "\n".join(lines)


def phases(story: Story) -> list[dict]:
    """Per successful scale action of the web service: when its alert went pending and firing,
    when its build started, how long the build ran, when the pool showed the result."""
    rows = []
    marks = [m for m in story.marks if m.service == WEB]
    since = 0.0
    for mark in marks:
        if mark.kind != "event" or mark.data["event"]["status"] != "success":
            continue
        event = mark.data["event"]
        alert = SCALE_OUT if event["action"] == "scale_out" else SCALE_IN
        number = build[2] if (build := build_of(event["id"])) else None
        window = [m for m in marks if since <= m.at <= mark.at]

        def first_of(kind, window=window, **data):
            return next(
                (m.at for m in window if m.kind == kind and all(m.data.get(k) == v for k, v in data.items())), None
            )

        pending = first_of("alert-pending", alert=alert)
        firing = first_of("alert-firing", alert=alert)
        build = first_of("build-started", number=number)
        ended = next((m.at for m in marks if m.kind == "build-finished" and m.data.get("number") == number), None)
        vms = [a["vm"] for a in event["actions"] if a["type"] in ("vm-creation", "vm-deletion")]
        sign = "+" if event["action"] == "scale_out" else "-"
        rows.append(
            {
                "action": f"{event['action']} {sign}{len(vms)} #{number}",
                "pending": _clock(pending) if pending is not None else "-",
                "firing": _delta(pending, firing),
                "build": _delta(firing, build),
                "duration": _delta(build, ended),
                "done": _delta(build, mark.at),
            }
        )
        since = mark.at
    return rows


def _delta(start: float | None, end: float | None) -> str:
    return f"+{end - start:.0f}" if start is not None and end is not None else "-"


def keep_consoles(story: Story, folder: Path) -> list[Path]:
    """Save the console of every build the story saw start, for reading after the lab is gone."""
    kept = []
    for name, view in story.view.items():
        for number in sorted(set(view.builds) - set(story.first[name].builds)):
            path = folder / f"build-autoscale-{name}-{number}.txt"
            path.write_text(story.observer.console(f"autoscale-{name}", number))
            kept.append(path)
    return kept


def main(argv: list[str] | None = None) -> int:
    """Run only the load story against a lab that is up with both services onboarded (lab/demo.sh).

    ``argv``: optionally a folder to keep the builds' consoles in when the story fails.
    """
    folder = Path(argv[0]) if argv else None
    observer = Observer()
    try:
        story = Story(observer)
        try:
            tell(story)
            problems = verify(story)
        except StoryFailed as exc:
            problems = [str(exc)]
        print(summary(story))
        if not problems:
            return 0
        print("\n  THE STORY DID NOT HAPPEN AS TOLD:", file=sys.stderr)
        for problem in problems:
            print(f"   - {problem}", file=sys.stderr)
        if folder:
            kept = keep_consoles(story, folder)
            print(f"  The builds' consoles are kept in {folder}/ ({len(kept)} files).", file=sys.stderr)
        return 1
    finally:
        observer.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
