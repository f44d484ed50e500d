# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state of an autoscaled service on the state host. Private to the collection.

What must survive a restart of the runner (AWX runs in throw-away containers, Jenkins agents
come and go) lives in one folder on the state host (``vm_autoscale_state_dir``):

- ``services/<service>.json`` - the service's state document (schema
  ``danacloud.vm_autoscale.service_state`` v1): the run lock, the last scale time per action
  (cooldown), the circuit breaker (consecutive failed scale-outs, suspended), the action counters
  and the last known instance count;
- ``events/<service>.jsonl`` - the event log, one JSON object per line, appended;
- ``<textfile_dir>/vm_autoscale_<service>_state.prom`` - the state as metrics for node_exporter's
  textfile collector, which the alert rules and the dashboard read.

Every change happens under an exclusive ``flock`` of ``services/<service>.lock`` and replaces the
files atomically, so concurrent runs (two webhooks for the same service at once) serialise here.
The *run lock* in the document is different: it is held across the many tasks of a scale
action, by an owner (the run's id), with an expiry so that a run killed half-way does not block
the service forever.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from contextlib import nullcontext
from datetime import datetime, timezone
from typing import Any

from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._files import (
    DocumentError,
    LockUnavailable,
    current_mode,
    flocked,
    read_json,
    write_atomic,
    write_json,
)
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._names import SERVICE_RULE, is_service

SCHEMA = "danacloud.vm_autoscale.service_state"
SCHEMA_VERSION = 1
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ACTIONS = ("scale_out", "scale_in")
# "abandoned": a run that died half-way, recorded by the run that found and repaired what it left.
RESULTS = ("success", "failed", "skipped", "abandoned")
# The steps a run records in its intent, per planned VM, in order (docs/operations.md, "A run that
# dies"). The run that repairs a dead one reads them: a scale-out VM that reached "serving" is kept,
# any other is removed; a scale-in VM is put back in service unless its member was already removed.
# Each mark is one call to the state host, so a mark is only made where the repair or the lock's
# expiry needs it.
INTENT_STEPS = {
    "scale_out": ("planned", "leased", "booted", "serving"),
    "scale_in": ("chosen", "drained", "member_removed"),
    # a refill of the warm pool: a VM that reached "warm" is kept, any other is removed
    "warm_pool": ("planned", "leased", "warm"),
}
# What autoscale_event records; only ACTIONS move counters. "notification": a notification that
# asked no valid action (refused, resolved, another service's), recorded with its reason.
# "warm_pool": a refill of the service's warm pool (counted nowhere: no cooldown, no breaker).
RECORDED_ACTIONS = (*ACTIONS, "reconcile", "notification", "warm_pool")
EVENT_ACTIONS = (*RECORDED_ACTIONS, "breaker_reset")
# The blast-radius limits a skipped scale-out may name (event key "limit"), each counted in
# refusals_total and exported as vm_autoscale_refusals_total (the VmAutoscaleSiteCapReached alert).
LIMITS = ("max_instances", "site_cap")
EVENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")


# The options every state module has (doc fragment danacloud.vm_autoscale.state).
ARGUMENT_SPEC = {
    "service": {"type": "str", "required": True},
    "state_dir": {"type": "path", "default": "/var/lib/vm_autoscale"},
    "textfile_dir": {"type": "path"},
    "timeout": {"type": "float", "default": 30},
}


class StateError(Exception):
    """The state cannot be read, written or changed as asked; the message says why and what to do."""


class Locked(StateError):
    """The service's run lock is held by another run."""

    def __init__(self, message: str, holder: dict) -> None:
        super().__init__(message)
        self.holder = holder


def format_time(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime(TIME_FORMAT)


def parse_time(text: str) -> float:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc).timestamp()


def new_event_id(now: float) -> str:
    return f"{datetime.fromtimestamp(int(now), tz=timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def empty_state(service: str) -> dict:
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "service": service,
        "lock": None,
        "last_scale": {},
        "consecutive_failures": 0,
        "suspended": False,
        "suspended_at": None,
        "suspended_reason": None,
        "actions_total": {action: dict.fromkeys(RESULTS, 0) for action in ACTIONS},
        "refusals_total": dict.fromkeys(LIMITS, 0),
        "instances": None,
        "recent_event_ids": [],
        "intent": None,
        "drift": None,
        "updated_at": None,
    }


def _check_time(where: str, value: Any) -> None:
    try:
        parse_time(value)
    except (TypeError, ValueError):
        raise StateError(f"{where} is {value!r}, expected a time like 2026-11-22T10:00:00Z") from None


def validate_state(data: Any, service: str) -> None:
    """Raise StateError naming the first thing wrong with a state document."""
    if not isinstance(data, dict):
        raise StateError(f"the document is a {type(data).__name__}, expected an object")
    if data.get("schema") != SCHEMA:
        raise StateError(f"schema is {data.get('schema')!r}, expected {SCHEMA!r}")
    if data.get("version") != SCHEMA_VERSION:
        raise StateError(
            f"version is {data.get('version')!r}; this collection reads version {SCHEMA_VERSION} "
            "(a newer collection wrote it? upgrade this one)"
        )
    if data.get("service") != service:
        raise StateError(f"service is {data.get('service')!r}, expected {service!r}")
    lock = data.get("lock")
    if lock is not None:
        if not isinstance(lock, dict) or not isinstance(lock.get("owner"), str):
            raise StateError("lock must be null or an object with an owner")
        for key in ("acquired_at", "expires_at"):
            _check_time(f"lock.{key}", lock.get(key))
    if not isinstance(data.get("last_scale"), dict):
        raise StateError("last_scale must be an object")
    for action, value in data["last_scale"].items():
        _check_time(f"last_scale.{action}", value)
    failures = data.get("consecutive_failures")
    if not isinstance(failures, int) or isinstance(failures, bool) or failures < 0:
        raise StateError(f"consecutive_failures is {failures!r}, expected a count")
    if not isinstance(data.get("suspended"), bool):
        raise StateError(f"suspended is {data.get('suspended')!r}, expected true or false")
    totals = data.get("actions_total")
    if not isinstance(totals, dict) or any(
        not isinstance(totals.get(action), dict)
        # "abandoned" is absent from documents of earlier releases
        or any(not isinstance(totals[action].get(result, 0), int) for result in RESULTS)
        for action in ACTIONS
    ):
        raise StateError("actions_total must hold a count per action (scale_out, scale_in) and result")
    refusals = data.get("refusals_total", {})  # absent from documents of earlier releases
    if not isinstance(refusals, dict) or any(
        not isinstance(count, int) or isinstance(count, bool) or count < 0 for count in refusals.values()
    ):
        raise StateError("refusals_total must hold a count per limit (max_instances, site_cap)")
    recent = data.get("recent_event_ids", [])
    if not isinstance(recent, list) or not all(isinstance(item, str) for item in recent):
        raise StateError("recent_event_ids must be a list of event ids")
    instances = data.get("instances")
    if instances is not None and (not isinstance(instances, int) or isinstance(instances, bool) or instances < 0):
        raise StateError(f"instances is {instances!r}, expected null or a count")
    validate_intent(data.get("intent"))
    drift = data.get("drift")
    if drift is not None:
        count = drift.get("count") if isinstance(drift, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise StateError("drift must be null or an object with a count (0 or more)")
        _check_time("drift.checked_at", drift.get("checked_at"))


def validate_intent(intent: Any) -> None:
    """Raise StateError naming what is wrong with an intent record (None: no run is acting)."""
    if intent is None:
        return
    if not isinstance(intent, dict) or not isinstance(intent.get("run"), str):
        raise StateError("intent must be null or an object with the run's id")
    steps = INTENT_STEPS.get(intent.get("action"))
    if steps is None:
        raise StateError(f"intent.action is {intent.get('action')!r}, expected one of {', '.join(INTENT_STEPS)}")
    _check_time("intent.started_at", intent.get("started_at"))
    vms = intent.get("vms")
    if not isinstance(vms, list):
        raise StateError("intent.vms must be a list")
    for number, entry in enumerate(vms):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("vm"), str)
            or not isinstance(entry.get("ip", ""), str)
            or entry.get("step") not in steps
        ):
            raise StateError(
                f"intent.vms[{number}] must name a vm, its ip and a step of {intent['action']} ({', '.join(steps)})"
            )


def metrics_text(state: dict) -> str:
    """The textfile-collector file of a service's state (every series present, counters from 0).

    Counters are written for every action and result from the start, so that the first failure
    is an *increase* Prometheus can see (a series born at 1 has no increase).
    """
    service = state["service"]
    one = f'service="{service}"'
    lines = [
        "# HELP vm_autoscale_instances Instances of the service (static members and autoscaled VMs).",
        "# TYPE vm_autoscale_instances gauge",
    ]
    if state.get("instances") is not None:
        lines.append(f"vm_autoscale_instances{{{one}}} {int(state['instances'])}")
    lines += [
        "# HELP vm_autoscale_suspended 1 while the circuit breaker keeps the service from scaling.",
        "# TYPE vm_autoscale_suspended gauge",
        f"vm_autoscale_suspended{{{one}}} {1 if state['suspended'] else 0}",
        "# HELP vm_autoscale_consecutive_failures Failed scale-outs in a row (the circuit breaker counts them).",
        "# TYPE vm_autoscale_consecutive_failures gauge",
        f"vm_autoscale_consecutive_failures{{{one}}} {int(state['consecutive_failures'])}",
    ]
    if state["last_scale"]:
        lines += [
            "# HELP vm_autoscale_last_scale_timestamp_seconds When the service last scaled, per action.",
            "# TYPE vm_autoscale_last_scale_timestamp_seconds gauge",
        ]
        for action in sorted(state["last_scale"]):
            stamp = int(parse_time(state["last_scale"][action]))
            lines.append(f'vm_autoscale_last_scale_timestamp_seconds{{{one},action="{action}"}} {stamp}')
    drift = state.get("drift")
    if drift is not None:
        lines += [
            "# HELP vm_autoscale_drift Differences between vCenter, the F5 devices, the leases and the targets"
            " that the service's last reconcile left (0: none).",
            "# TYPE vm_autoscale_drift gauge",
            f"vm_autoscale_drift{{{one}}} {int(drift['count'])}",
            "# HELP vm_autoscale_drift_checked_timestamp_seconds When reconcile last compared the service's systems.",
            "# TYPE vm_autoscale_drift_checked_timestamp_seconds gauge",
            f"vm_autoscale_drift_checked_timestamp_seconds{{{one}}} {int(parse_time(drift['checked_at']))}",
        ]
    lines += [
        "# HELP vm_autoscale_actions_total Scale actions of the service, by action and result.",
        "# TYPE vm_autoscale_actions_total counter",
    ]
    for action in ACTIONS:
        for result in RESULTS:
            count = int(state["actions_total"][action].get(result, 0))
            lines.append(f'vm_autoscale_actions_total{{{one},action="{action}",result="{result}"}} {count}')
    lines += [
        "# HELP vm_autoscale_refusals_total Scale-outs refused by a blast-radius limit, by limit.",
        "# TYPE vm_autoscale_refusals_total counter",
    ]
    refusals = state.get("refusals_total") or {}
    for limit in LIMITS:
        lines.append(f'vm_autoscale_refusals_total{{{one},limit="{limit}"}} {int(refusals.get(limit, 0))}')
    return "\n".join(lines) + "\n"


class ServiceState:
    """Reads and changes one service's state files under their flock."""

    def __init__(self, state_dir: str, service: str, textfile_dir: str | None = None, timeout: float = 30.0) -> None:
        if not is_service(service):
            raise StateError(
                f"service {service!r} is not a valid service name ({SERVICE_RULE}, as autoscale_preflight checks)"
            )
        self.service = service
        self.path = os.path.join(state_dir, "services", f"{service}.json")
        self.lock_path = os.path.join(state_dir, "services", f"{service}.lock")
        self.events_path = os.path.join(state_dir, "events", f"{service}.jsonl")
        self.metrics_path = os.path.join(textfile_dir, f"vm_autoscale_{service}_state.prom") if textfile_dir else None
        self.timeout = timeout

    @classmethod
    def from_params(cls, params: dict) -> ServiceState:
        """The store named by the common options (ARGUMENT_SPEC) of a module's parameters."""
        return cls(params["state_dir"], params["service"], params["textfile_dir"], params["timeout"])

    # -- reading --------------------------------------------------------------------------

    def read(self) -> dict:
        try:
            data = read_json(self.path, lambda: empty_state(self.service))
        except DocumentError as exc:
            if exc.kind == "unreadable":
                raise StateError(f"cannot read the state file {self.path}: {exc.detail}") from None
            raise StateError(
                f"the state file {self.path} is not valid JSON ({exc.detail}); it was left untouched: fix it by hand "
                "or remove it (the service then starts with no cooldown, breaker closed)"
            ) from None
        try:
            validate_state(data, self.service)
        except StateError as exc:
            raise StateError(
                f"the state file {self.path} does not follow schema {SCHEMA} v{SCHEMA_VERSION}: {exc}; "
                "it was left untouched (docs/state.md describes the format)"
            ) from None
        return data

    def events(self) -> list:
        """Every event of the service, oldest first (a line that is not JSON is skipped and reported)."""
        try:
            with open(self.events_path, encoding="utf-8") as handle:
                lines = handle.readlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StateError(f"cannot read the event log {self.events_path}: {exc.strerror}") from None
        events = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                event = {"id": None, "status": "unreadable", "line": number, "text": line[:200]}
            events.append(event)
        return events

    # -- changing -------------------------------------------------------------------------

    def change(self, mutate, check_mode: bool = False) -> tuple:
        """Run ``mutate(state) -> (changed, extra)`` under the flock; write the state if changed.

        ``extra`` may hold ``"event"``: a dict appended to the event log (before the state is
        replaced, so a crash in between leaves an event whose counters are not yet counted rather
        than counters without their event). Returns (changed, before, after, extra).
        """
        # A check on a new site reads a folder that is not there yet: nothing to race with, and
        # taking the lock would make the folder and the lock file - a change in check mode.
        unlocked = check_mode and not os.path.isdir(os.path.dirname(self.lock_path))
        try:
            with nullcontext() if unlocked else flocked(self.lock_path, self.timeout):
                before = self.read()
                after = json.loads(json.dumps(before))
                changed, extra = mutate(after)
                if changed and not check_mode:
                    event = extra.get("event")
                    if event is not None:
                        self._append_event(event)
                    self._write(after)
                return changed, before, after, extra
        except LockUnavailable as exc:
            raise StateError(
                f"the state of service {self.service} stayed busy ({exc.reason}) - another run is writing it; retry"
                if exc.timed_out
                else f"cannot open {self.lock_path}: {exc.reason}; check vm_autoscale_state_dir and its permissions"
            ) from None

    def _append_event(self, event: dict) -> None:
        directory = os.path.dirname(self.events_path)
        try:
            os.makedirs(directory, mode=0o750, exist_ok=True)
            line = json.dumps(event, sort_keys=True, separators=(",", ":")) + "\n"
            descriptor = os.open(self.events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(descriptor, line.encode("utf-8"))
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except OSError as exc:
            raise StateError(f"cannot append to the event log {self.events_path}: {exc.strerror}") from None

    def _write(self, state: dict) -> None:
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o750, exist_ok=True)
            write_json(self.path, state, 0o640)
            if self.metrics_path:
                write_atomic(self.metrics_path, metrics_text(state), current_mode(self.metrics_path, 0o644))
        except OSError as exc:
            raise StateError(
                f"cannot write the state of service {self.service}: {exc.strerror} ({exc.filename})"
            ) from None


# --- the operations, as mutations of the state document ---------------------------------


def lock_holder(state: dict, now: float) -> dict | None:
    """The live run lock (None when free or expired)."""
    lock = state.get("lock")
    if lock and parse_time(lock["expires_at"]) > now:
        return lock
    return None


def acquire(owner: str, action: str | None, ttl: int, now: float):
    """Mutation: take (or renew) the run lock for ``owner``; raise Locked when another run holds it."""

    def mutate(state: dict) -> tuple:
        holder = lock_holder(state, now)
        if holder is not None and holder["owner"] != owner:
            raise Locked(
                f"service {state['service']} is locked by run {holder['owner']}"
                f"{' (' + holder['action'] + ')' if holder.get('action') else ''} since {holder['acquired_at']}, "
                f"until {holder['expires_at']} at the latest; wait for it to finish, or release it with "
                "danacloud.vm_autoscale.autoscale_lock state=absent force=true if that run is dead",
                holder,
            )
        stale = state.get("lock") if holder is None else None
        acquired_at = holder["acquired_at"] if holder is not None else format_time(now)
        state["lock"] = {
            "owner": owner,
            "action": action if action is not None else (holder or {}).get("action"),
            "acquired_at": acquired_at,
            "expires_at": format_time(now + ttl),
        }
        state["updated_at"] = format_time(now)
        # What a run that is gone left unfinished: the lock is free or expired, its intent is still here.
        intent = state.get("intent")
        abandoned = None
        if intent is not None and intent["run"] != owner:
            abandoned = {**intent, "lock": stale if stale and stale.get("owner") == intent["run"] else None}
        return True, {"renewed": holder is not None, "expired_lock": stale, "abandoned": abandoned}

    return mutate


def _planned(vm: Any, step: str) -> dict:
    """An intent entry from a planned VM: its name, or a mapping with vm and ip."""
    if isinstance(vm, dict):
        return {"vm": str(vm.get("vm")), "ip": str(vm.get("ip") or ""), "step": step}
    return {"vm": str(vm), "ip": "", "step": step}


class Lost(StateError):
    """A run's lock is no longer its own: it expired and another run took it over (and repaired)."""


def hold(owner: str, ttl: int, now: float, *, step: str | None = None, plan: dict | None = None, progress=None):
    """Mutation: renew ``owner``'s lock for ``ttl`` more seconds, and record what it is doing.

    Unlike ``acquire``, this never takes a lock: a run whose lock another run has taken over (it
    expired - the step outlived its limit, or the runner was frozen) raises Lost and must stop
    without acting further, since the other run may be undoing what it made. An expired lock
    nobody took is still the owner's. ``plan`` ({"action", "vms": [{"vm", "ip"}]}) starts the
    run's intent record; ``progress`` ({"vm", "step", "ip"}) marks a step of one VM done.
    """

    def mutate(state: dict) -> tuple:
        lock = state.get("lock")
        if lock is None or lock["owner"] != owner:
            taken = (
                f"run {lock['owner']} ({lock.get('action') or '?'}) holds it since {lock['acquired_at']}"
                if lock
                else "it was released"
            )
            raise Lost(
                f"run {owner} no longer holds the lock of service {state['service']}: {taken}. It outlived its "
                "time limit (or its runner stopped) and the service may have been repaired since; this run stops "
                "here without changing anything else"
            )
        lock["expires_at"] = format_time(now + ttl)
        if step is not None:
            lock["step"] = step
        intent = state.get("intent")
        if plan is not None:
            if intent is not None and intent["run"] != owner:
                raise StateError(
                    f"service {state['service']} still holds the unfinished intent of run {intent['run']}: "
                    "repair it first (every acting run does at its start)"
                )
            steps = INTENT_STEPS.get(plan.get("action"))
            if steps is None:
                raise StateError(f"plan.action is {plan.get('action')!r}, expected one of {', '.join(INTENT_STEPS)}")
            intent = {
                "run": owner,
                "action": plan["action"],
                "started_at": format_time(now),
                "vms": [_planned(vm, steps[0]) for vm in plan.get("vms") or []],
            }
            validate_intent(intent)
            state["intent"] = intent
        if progress is not None:
            if intent is None or intent["run"] != owner:
                raise StateError(f"run {owner} has no intent record on service {state['service']} to mark progress in")
            entry = next((item for item in intent["vms"] if item["vm"] == progress.get("vm")), None)
            if entry is None or progress.get("step") not in INTENT_STEPS[intent["action"]]:
                raise StateError(
                    f"progress {progress!r} names no planned VM of run {owner} "
                    f"({', '.join(item['vm'] for item in intent['vms'])}) or no step of {intent['action']} "
                    f"({', '.join(INTENT_STEPS[intent['action']])})"
                )
            entry["step"] = progress["step"]
            if progress.get("ip"):
                entry["ip"] = str(progress["ip"])
        if intent is not None and intent["run"] == owner:
            intent["updated_at"] = format_time(now)
        state["updated_at"] = format_time(now)
        return True, {"renewed": True, "intent": state.get("intent")}

    return mutate


def release(owner: str | None, force: bool, now: float):
    """Mutation: release the run lock held by ``owner`` (any holder with ``force``)."""

    def mutate(state: dict) -> tuple:
        lock = state.get("lock")
        if lock is None:
            return False, {"released": None}
        if not force and lock["owner"] != owner and lock_holder(state, now) is not None:
            raise Locked(
                f"service {state['service']} is locked by run {lock['owner']}, not by {owner}; "
                "nothing was released (force=true releases another run's lock)",
                lock,
            )
        state["lock"] = None
        state["updated_at"] = format_time(now)
        return True, {"released": lock}

    return mutate


def cooldown(state: dict, cooldown_seconds: int, now: float) -> tuple[int, float | None]:
    """(seconds left of the cooldown since the last successful scale action of either kind, its epoch)."""
    stamps = [parse_time(value) for value in state["last_scale"].values()]
    last = max(stamps) if stamps else None
    return (0 if last is None else max(0, int(last + cooldown_seconds - now + 0.999))), last


def record(event: dict, instances: int | None, breaker_threshold: int, now: float):
    """Mutation: count one finished action (``event``), move the breaker, remember the instances.

    ``event`` needs ``id``, ``action`` and ``status``; an event whose id the state has already
    counted is not counted twice (a retried task). Returns the completed event in extra.
    """

    def mutate(state: dict) -> tuple:
        action, status = event["action"], event["status"]
        if event["id"] in state.get("recent_event_ids", []):
            return False, {"event": None, "duplicate": True}
        complete = {
            "service": state["service"],
            "timestamp": format_time(now),
            **event,
        }
        if action in ACTIONS:
            totals = state["actions_total"][action]
            totals[status] = totals.get(status, 0) + 1
            if status == "success":
                state["last_scale"][action] = format_time(now)
        if status == "skipped" and event.get("limit") in LIMITS:
            refusals = state.setdefault("refusals_total", dict.fromkeys(LIMITS, 0))
            refusals[event["limit"]] = refusals.get(event["limit"], 0) + 1
        opened = False
        # a refusal that is the operator's to fix (a missing template) is no sign of a sick site
        counts = event.get("breaker_counts", True) not in (False, "false", "False")
        if action == "scale_out" and status == "failed" and counts:
            state["consecutive_failures"] += 1
            if state["consecutive_failures"] >= breaker_threshold and not state["suspended"]:
                opened = True
                state["suspended"] = True
                state["suspended_at"] = format_time(now)
                state["suspended_reason"] = (
                    f"{state['consecutive_failures']} failed scale-outs in a row; last: "
                    f"{event.get('step') or 'unknown step'}: {event.get('reason') or 'no reason given'}"
                )
        elif action == "scale_out" and status == "success":
            state["consecutive_failures"] = 0
        if instances is not None:
            state["instances"] = instances
        if opened:
            complete["breaker"] = "opened"
        state["recent_event_ids"] = [*state.get("recent_event_ids", []), event["id"]][-50:]
        # the run's last event (or the event recording a dead run) ends its intent
        if (state.get("intent") or {}).get("run") == event["id"]:
            state["intent"] = None
        state["updated_at"] = format_time(now)
        return True, {"event": complete, "duplicate": False, "breaker_opened": opened}

    return mutate


def note_drift(count: int, run: str, now: float):
    """Mutation: remember what the service's reconcile run ``run`` left: ``count`` drifts (0: none)."""

    def mutate(state: dict) -> tuple:
        if not isinstance(count, int) or count < 0:
            raise StateError(f"drift.count is {count!r}, expected a count (0 or more)")
        state["drift"] = {"count": count, "checked_at": format_time(now), "run": run}
        state["updated_at"] = format_time(now)
        return True, {}

    return mutate


def reset_breaker(by: str, reason: str, now: float):
    """Mutation: close the circuit breaker (an operator's decision), recorded as an event."""

    def mutate(state: dict) -> tuple:
        if not state["suspended"] and state["consecutive_failures"] == 0:
            return False, {"event": None}
        event = {
            "id": new_event_id(now),
            "service": state["service"],
            "action": "breaker_reset",
            "status": "success",
            "timestamp": format_time(now),
            "trigger": "operator",
            "by": by,
            "reason": reason,
            "previous": {
                "suspended": state["suspended"],
                "suspended_at": state["suspended_at"],
                "suspended_reason": state["suspended_reason"],
                "consecutive_failures": state["consecutive_failures"],
            },
        }
        state.update(suspended=False, suspended_at=None, suspended_reason=None, consecutive_failures=0)
        state["updated_at"] = format_time(now)
        return True, {"event": event}

    return mutate


def select_events(events: list, status: list | None, since: float | None, until: float | None, limit: int) -> list:
    """The newest ``limit`` events (0: all) matching the status list and the time range, oldest first."""
    chosen = []
    for event in events:
        if status and event.get("status") not in status:
            continue
        try:
            stamp = parse_time(event.get("timestamp", ""))
        except (TypeError, ValueError):
            stamp = None
        if since is not None and (stamp is None or stamp < since):
            continue
        if until is not None and (stamp is None or stamp > until):
            continue
        chosen.append(event)
    return chosen[-limit:] if limit else chosen
