# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a scale action decides, for both directions, in one place. Private.

The scale roles read the systems (the lock and the service's state, the F5 pools, vCenter) and
hand what they read to the ``autoscale_plan`` filter, which calls these functions; the roles
only act on the answer. Each decision is a pure function of what was read:

- ``guards``: the refusals that need no read of the F5 devices or vCenter (another run holds
  the lock, autoscaling disabled, the circuit breaker open, the cooldown running), as the reason
  the run skips, or empty.
- ``scale_out``: the service's instance count (its F5 members plus its autoscaled VMs in vCenter
  that are not members, so that a VM left outside the pool by a crash still counts against
  ``max_instances``), how many VMs it may add - the smallest of the step, the per-run ceiling,
  the room below ``max_instances`` and the room below the site-wide cap of autoscaled VMs, which
  is counted in vCenter across every service by the autoscaler's own marks
  (``guestinfo.vm_autoscale.role = autoscaled``) - the new VMs' names, and why none.
- ``scale_in``: the VMs to remove (only VMs the autoscaler made, never a static member or a
  protected VM, newest first), how many - the smallest of the step, the per-run ceiling and the
  room above ``min_instances`` - and why none.
- ``template``: what is wrong with the template the new VMs are cloned from, or empty.
- ``warm_pool``: what the refill of a service's warm pool does - the warm VMs to delete (from
  another template version, powered on, without an address, beyond the size) and the names of
  the VMs to clone - within the site-wide cap and the per-run ceiling.

A warm pool (``scaling.warm_pool``) holds VMs cloned ahead from the template, powered off, their
addresses leased (``guestinfo.vm_autoscale.role = warm``). A scale-out takes warm VMs of the
current template version first (no clone on its critical path) and clones only the rest; warm
VMs count in the site-wide cap, not in the service's instances. A scale-in may return a VM of the
current template version to the pool instead of deleting it, up to the pool's size.

Under the ``target_tracking`` policy (``sizing``), the verified alert decides *whether* and the
load read from Prometheus at decision time decides *how many*: the desired count is
``ceil(instances x observed / target)`` (the Kubernetes HPA and AWS target-tracking rule; with
two targets the larger need wins); a scale-out adds ``desired - instances`` VMs, at least one
(the alert has held for its whole ``for``), a scale-in removes ``instances - desired`` by the
load's *peak* over its window, none when that peak needs them all; each at most its step, then
every limit above applies. Without a reading (Prometheus down, no data) the action is one VM, as
a step of 1 would be.
"""

from __future__ import annotations

import json
import math
import re

ROLE_KEY = "guestinfo.vm_autoscale.role"
CREATED_KEY = "guestinfo.vm_autoscale.created_at"
IP_KEY = "guestinfo.vm_autoscale.ip"
TEMPLATE_KEY = "guestinfo.vm_autoscale.template"
VERSION_KEY = "guestinfo.vm_autoscale.template_version"
PROTECT_KEY = "guestinfo.vm_autoscale.protected"
_TRUE = ("true", "yes", "1", "on")
DIRECTIONS = ("scale_out", "scale_in")


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} is {value!r}, expected a whole number, at least 1")
    return value


def _count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} is {value!r}, expected a whole number, at least 0")
    return value


def guards(state: dict, enabled: bool, respect_cooldown: bool) -> str:
    """Why the run does nothing before reading F5 or vCenter, or ``""``.

    ``state`` is what ``autoscale_lock`` returned when the run took the lock (``acquired``,
    ``busy_reason``, ``suspended``, ``state``, ``cooldown_remaining``), or what ``autoscale_state``
    returned for a dry run, which takes no lock (no ``acquired``).
    """
    if not state.get("acquired", True):
        return str(state.get("busy_reason") or "another run of the service holds its lock")
    if not enabled:
        return "autoscaling of the service is disabled in the inventory (autoscale.enabled)"
    if state.get("suspended"):
        recorded = state.get("state") or {}
        why = f": {recorded['suspended_reason']}" if recorded.get("suspended_reason") else ""
        return (
            f"suspended by the circuit breaker since {recorded.get('suspended_at', 'unknown')}{why}"
            " (reset: playbooks/breaker_reset.yml)"
        )
    remaining = int(state.get("cooldown_remaining") or 0)
    if respect_cooldown and remaining > 0:
        return f"in cooldown for {remaining} s more"
    return ""


def load_reading(answer) -> dict:
    """``{metric: value}`` from Prometheus's answer to the load query - its JSON text, the parsed
    answer or its ``data.result`` list, whose series carry the label ``metric`` (``cpu`` or
    ``memory``); empty for no answer, an error answer or anything else. Values that are not
    finite numbers are left out."""
    if isinstance(answer, str):
        try:
            answer = json.loads(answer) if answer.strip() else None
        except ValueError:
            return {}
    if isinstance(answer, dict):
        answer = (answer.get("data") or {}).get("result") if answer.get("status") == "success" else None
    reading: dict = {}
    for series in answer if isinstance(answer, list) else []:
        if not isinstance(series, dict):
            continue
        metric = (series.get("metric") or {}).get("metric")
        try:
            value = float((series.get("value") or [None, None])[1])
        except (TypeError, ValueError, IndexError):
            continue
        if metric in ("cpu", "memory") and math.isfinite(value) and value >= 0:
            reading[metric] = value
    return reading


def desired(instances: int, reading: dict, targets: dict) -> dict:
    """The count that holds the load at its targets: ``ceil(instances x observed / target)``, the
    largest over the targets given (``{metric: percent or None}``) that have a reading.

    Returns ``desired`` (None without a usable reading), ``metric`` (the one that decided),
    ``ratio`` (observed / target) and ``reading``.
    """
    ratios = {}
    for metric, target in sorted((targets or {}).items()):
        if target is None or metric not in reading:
            continue
        ratios[metric] = reading[metric] / _positive(f"target {metric}", int(target))
    if not ratios:
        return {"desired": None, "metric": "", "ratio": None, "reading": reading}
    metric = max(ratios, key=lambda name: ratios[name])
    # a ratio that is a whole fraction of the count (2 x 1.5) must not round up to one more
    need = max(1, math.ceil(instances * ratios[metric] - 1e-9))
    return {"desired": need, "metric": metric, "ratio": round(ratios[metric], 3), "reading": reading}


def _tracked(direction: str, instances: int, step: int, sizing: dict | None) -> tuple:
    """The VMs an action of ``direction`` wants before the limits, and what it was sized by."""
    if not sizing or sizing.get("policy", "step") == "step":
        return step, {"policy": "step", "step": step}
    if sizing["policy"] != "target_tracking":
        raise ValueError(f"sizing policy is {sizing['policy']!r}, expected step or target_tracking")
    found = desired(instances, load_reading(sizing.get("result")), sizing.get("targets") or {})
    record = {"policy": "target_tracking", "step": step, "targets": sizing.get("targets") or {}, **found}
    if found["desired"] is None:
        record["note"] = "no load reading from Prometheus: one VM, as a step of 1"
        return 1, record
    if direction == "scale_out":
        return max(1, min(step, found["desired"] - instances)), record
    # a scale-in is sized by the load's peak over its window: when that peak needs every instance,
    # none goes (the availability of the service comes before its cost)
    return max(0, min(step, instances - found["desired"])), record


def numbered(names: list, prefix: str) -> dict:
    """The names of the form ``<prefix><digits>``, each with its number."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)")
    found = {}
    for name in names:
        match = pattern.fullmatch(str(name))
        if match:
            found[str(name)] = int(match.group(1))
    return found


def scale_out(
    *,
    service: str,
    members: list,
    folder_vms: list,
    autoscaled: list,
    member_port: int,
    limits: dict,
    prefix: str,
    sizing: dict | None = None,
    warm: list | None = None,
    current_template: dict | None = None,
) -> dict:
    """The plan of one scale-out of ``service``.

    ``members`` are the pool's member names (``ip:port``); ``folder_vms`` the names of the VMs in
    the service's folder; ``autoscaled`` the autoscaled VMs of every service in vCenter (``{name,
    service, ip}``); ``limits`` has ``step``, ``max_instances``, ``max_vms_per_run`` and
    ``max_autoscaled_vms``; new VMs are named ``<prefix><number>``, numbered on from the highest in
    the folder, at least 4 digits. Returns ``instances``, ``autoscaled`` (the service's autoscaled
    VM names in the folder), ``outside_pool`` (names), ``site_autoscaled``, ``count``, ``planned``
    (the new names), ``reason`` (why ``count`` is 0) and ``limit`` (the limit that made it 0:
    ``max_instances`` or ``site_cap``, else empty). ``sizing`` (optional): ``policy`` (``step`` or
    ``target_tracking``), ``targets`` (``{cpu, memory}`` percent or None) and ``result`` (the
    Prometheus answer, see ``load_reading``); under target tracking ``step`` is
    the most one action adds. The answer's ``sizing`` says how the count was sized.

    ``warm`` (optional) are the warm VMs of every service (``autoscale_vm_info``'s ``warm``) and
    ``current_template`` the service's template (``{name, version}``): the service's warm VMs of that
    template version, powered off, are taken first (``warm_taken``, oldest first, at the head of
    ``planned``); only the rest is cloned. Warm VMs count in the site-wide cap; taking one does
    not add to it.
    """
    step = _positive("step", limits["step"])
    maximum = _positive("max_instances", limits["max_instances"])
    per_run = _positive("max_vms_per_run", limits["max_vms_per_run"])
    cap = _positive("max_autoscaled_vms", limits["max_autoscaled_vms"])
    members = list(members)
    mine = [vm for vm in autoscaled if vm.get("service") == service]
    outside = sorted(vm["name"] for vm in mine if f"{vm.get('ip')}:{member_port}" not in members)
    instances = len(members) + len(outside)
    warm = list(warm or [])
    site = len(autoscaled) + len(warm)
    wanted, sized = _tracked("scale_out", instances, step, sizing)
    count = max(0, min(wanted, per_run, maximum - instances))
    taken = [vm["name"] for vm in warm if vm.get("service") == service and _current(vm, current_template)][:count]
    count = len(taken) + max(0, min(count - len(taken), cap - site))
    reason, limit = "", ""
    if count < 1 and instances >= maximum:
        limit = "max_instances"
        reason = f"at max: {instances} of {maximum} instances"
        if outside:
            reason += (
                f" ({len(outside)} autoscaled VM(s) outside the F5 pool count too: {', '.join(outside)};"
                " playbooks/reconcile.yml puts them back or removes them)"
            )
    elif count < 1:
        limit = "site_cap"
        reason = (
            f"at the site-wide cap: {site} autoscaled VMs in vCenter across all services (warm VMs included), "
            f"of vm_autoscale_max_autoscaled_vms {cap} (raise it, or scale other services in)"
        )
    existing = numbered(folder_vms, prefix)
    return {
        "instances": instances,
        "autoscaled": list(existing),
        "outside_pool": outside,
        "site_autoscaled": site,
        "count": count,
        "planned": taken + _new_names(existing, prefix, count - len(taken)),
        "warm_taken": taken,
        "reason": reason,
        "limit": limit,
        "sizing": sized,
    }


def _new_names(existing: dict, prefix: str, count: int) -> list:
    """``count`` names ``<prefix><number>``, numbered on from the highest of ``existing``."""
    first = max(existing.values(), default=0) + 1
    return [f"{prefix}{number:04d}" for number in range(first, first + count)]


def _current(vm: dict, current_template: dict | None) -> bool:
    """A warm VM that can serve now: powered off, with an address, cloned from the service's
    template at its current version (``current_template``: ``{name, version}``)."""
    wanted = current_template or {}
    return (
        str(vm.get("power_state", "poweredOff")) == "poweredOff"
        and bool(vm.get("ip"))
        and vm.get("template", "") == wanted.get("name", "")
        and vm.get("template_version", "") == wanted.get("version", "")
    )


def warm_pool(
    *,
    service: str,
    size: int,
    warm: list,
    autoscaled: list,
    folder_vms: list,
    current_template: dict,
    prefix: str,
    limits: dict,
) -> dict:
    """What a refill of ``service``'s warm pool does.

    ``warm`` and ``autoscaled`` are ``autoscale_vm_info``'s lists (every service), ``folder_vms``
    the names in the service's folder, ``current_template`` ``{name, version}``, ``limits`` has
    ``max_vms_per_run`` and ``max_autoscaled_vms``. Returns ``keep`` (names), ``delete``
    (``[{vm, why}]``: another template version, powered on or without an address, beyond the
    size - newest first), ``clone`` (new names, at most the per-run ceiling and the room in the
    site-wide cap), ``missing`` (VMs short of ``size`` after the refill) and ``reason`` (why short).
    """
    size = _count("size", size)
    per_run = _positive("max_vms_per_run", limits["max_vms_per_run"])
    cap = _positive("max_autoscaled_vms", limits["max_autoscaled_vms"])
    mine = [vm for vm in warm if vm.get("service") == service]
    delete, keep = [], []
    for vm in mine:
        if _current(vm, current_template):
            keep.append(vm["name"])
            continue
        if str(vm.get("power_state", "")) != "poweredOff":
            why = f"it is {vm.get('power_state') or 'in an unknown power state'}, not powered off"
        elif not vm.get("ip"):
            why = "it has no address mark"
        else:
            now = current_template or {}
            why = (
                f"it was cloned from {vm.get('template') or '?'} version {vm.get('template_version') or '?'}, "
                f"the service's template is {now.get('name')} version {now.get('version') or '?'}"
            )
        delete.append({"vm": vm["name"], "why": why})
    for name in reversed(keep[size:]):
        delete.append({"vm": name, "why": f"the pool holds more than its size ({size})"})
    keep = keep[:size]
    site = len(autoscaled) + len(warm) - len(delete)
    wanted = size - len(keep)
    count = max(0, min(wanted, per_run, cap - site))
    reason = ""
    if count < wanted:
        reason = (
            f"{wanted - count} warm VM(s) short: "
            + ("the per-run ceiling vm_autoscale_max_vms_per_run" if count == per_run else "the site-wide cap")
            + " allows no more now; the next refill adds them"
        )
    return {
        "keep": keep,
        "delete": delete,
        "clone": _new_names(numbered(folder_vms, prefix), prefix, count),
        "missing": wanted - count,
        "reason": reason,
    }


def removable(instances: list, static_names: list, protect_key: str = PROTECT_KEY) -> list:
    """Names of the VMs a scale-in may remove, the one to remove first first.

    ``instances`` are ``vmware_guest_info`` instances. Only VMs the autoscaler made
    (``guestinfo.vm_autoscale.role`` = ``autoscaled``), never a static member, never a VM whose
    ``protect_key`` setting is true; newest first (``guestinfo.vm_autoscale.created_at``, then name).
    """
    static = set(static_names or [])
    chosen = []
    for instance in instances:
        if not isinstance(instance, dict):
            continue
        settings = instance.get("advanced_settings") or {}
        name = instance.get("hw_name")
        if not name or name in static or settings.get(ROLE_KEY) != "autoscaled":
            continue
        if str(settings.get(protect_key, "")).strip().lower() in _TRUE:
            continue
        chosen.append((str(settings.get(CREATED_KEY, "")), str(name)))
    return [name for _created, name in sorted(chosen, reverse=True)]


def scale_in(
    members: list,
    instances: list,
    static_names: list,
    limits: dict,
    *,
    protect_key: str = PROTECT_KEY,
    sizing: dict | None = None,
    warm: dict | None = None,
) -> dict:
    """The plan of one scale-in.

    ``members`` are the pool's member names; ``instances`` what ``vmware_guest_info`` returned for
    the service's autoscaled VMs; ``limits`` has ``step``, ``max_vms_per_run`` and
    ``min_instances``. Returns ``instances``, ``removable`` (names, first to remove first),
    ``victims`` (the names to remove now), ``count``, ``reason`` (why none) and ``sizing`` (as for
    ``scale_out``; under target tracking ``step`` is the most one action removes, and the reading
    should be the load's peak over the scale-in window, so that a scale-in is sized conservatively).
    ``warm`` (optional): ``size``, ``return_on_scale_in``, ``ready`` (the service's warm VMs that
    can serve now; counted from ``instances`` when not given) and ``current_template`` (``{name,
    version}``); ``returned`` names the victims that go back to the warm pool (powered off)
    instead of being deleted: those cloned from the current template version, while the pool is
    short of its size.
    """
    step = _positive("step", limits["step"])
    per_run = _positive("max_vms_per_run", limits["max_vms_per_run"])
    minimum = _count("min_instances", limits["min_instances"])
    candidates = removable(instances, static_names, protect_key)
    present = len(list(members))
    wanted, sized = _tracked("scale_in", present, step, sizing)
    count = min(wanted, per_run, present - minimum)
    if present - minimum < 1:
        reason = f"at min: {present} of min {minimum} instances"
    elif wanted < 1:
        load = ", ".join(f"{name} {value:g} %" for name, value in sorted(sized["reading"].items()))
        reason = (
            f"the load's peak over the scale-in window ({load}) needs {sized['desired']} instances"
            f" at the target: all {present} stay"
        )
    elif not candidates:
        reason = "no VM may be removed: only static members and protected VMs are left"
    else:
        reason = ""
    victims = candidates[: max(count, 0)] if not reason else []
    return {
        "instances": present,
        "removable": candidates,
        "victims": victims,
        "returned": _returned(victims, instances, warm),
        "count": len(victims),
        "reason": reason,
        "sizing": sized,
    }


def _returned(victims: list, instances: list, warm: dict | None) -> list:
    """The victims that go back to the warm pool (see ``scale_in``)."""
    if not warm or not warm.get("return_on_scale_in") or not victims:
        return []
    wanted = warm.get("current_template") or {}
    settings = {
        instance.get("hw_name"): instance.get("advanced_settings") or {}
        for instance in instances
        if isinstance(instance, dict)
    }
    if "ready" in warm:
        ready = _count("ready", warm["ready"])
    else:  # counted from the instances read: the warm VMs that can serve now
        ready = sum(
            1
            for instance in instances
            if isinstance(instance, dict)
            and (instance.get("advanced_settings") or {}).get(ROLE_KEY) == "warm"
            and _current(
                {
                    "power_state": instance.get("hw_power_status", "poweredOff"),
                    "ip": (instance.get("advanced_settings") or {}).get(IP_KEY, ""),
                    "template": (instance.get("advanced_settings") or {}).get(TEMPLATE_KEY, ""),
                    "template_version": (instance.get("advanced_settings") or {}).get(VERSION_KEY, ""),
                },
                wanted,
            )
        )
    room = max(0, _count("size", warm.get("size", 0)) - ready)
    current = [
        name
        for name in victims
        if settings.get(name, {}).get(TEMPLATE_KEY, "") == wanted.get("name", "")
        and settings.get(name, {}).get(VERSION_KEY, "") == wanted.get("version", "")
    ]
    return current[:room]


def template(found: dict, made_from: str, source_vm: str) -> str:
    """What is wrong with the template the new VMs are cloned from, or ``""``.

    ``found`` is ``autoscale_vm_info``'s answer for the template (``exists``, ``count``,
    ``template``); ``made_from`` the source VM ``create_template.yml`` recorded (or empty);
    ``source_vm`` the one the inventory names (or empty).
    """
    if not found.get("exists"):
        return "is not in vCenter"
    if int(found.get("count", 1)) > 1:
        return f"is one of {found['count']} objects of that name in vCenter (a clone by name is ambiguous)"
    if not found.get("template"):
        return "is a VM, not a template"
    if source_vm and made_from and made_from != source_vm:
        return f"was made from {made_from}, but autoscale.template.source_vm is {source_vm}"
    return ""


def plan(decision: str, facts: dict) -> dict | str:
    """One decision (guards, scale_out, scale_in, template or warm_pool) from ``facts``, named as its arguments."""
    functions = {
        "guards": guards,
        "scale_out": scale_out,
        "scale_in": scale_in,
        "template": template,
        "warm_pool": warm_pool,
    }
    if decision not in functions:
        raise ValueError(f"decision is {decision!r}, expected one of {', '.join(sorted(functions))}")
    if not isinstance(facts, dict):
        raise ValueError(f"the facts of decision {decision} are a {type(facts).__name__}, expected a mapping")
    return functions[decision](**facts)
