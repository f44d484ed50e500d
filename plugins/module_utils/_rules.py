# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Prometheus rules of one autoscaled service, generated from its ``autoscale`` mapping.

Kept in Python (behind the filter ``autoscale_prometheus_rules``) so that the PromQL is written
once, unit-tested with ``promtool test rules``, and rendered the same for 2 or 500 services.

Every alert carries ``service`` and ``vm_autoscale`` (``action`` for the two that trigger a
pipeline, ``operator`` for those meant for people); the two action alerts also carry
``autoscale_action`` (``scale_out`` or ``scale_in``). Alertmanager routes on these labels.

Metrics the collection exports on the state host (node_exporter textfile collector), per service:

- ``vm_autoscale_enabled``, ``vm_autoscale_min_instances``, ``vm_autoscale_max_instances``,
  ``vm_autoscale_cooldown_seconds`` - the configuration, rewritten at every onboarding;
- ``vm_autoscale_instances``, ``vm_autoscale_suspended``,
  ``vm_autoscale_last_scale_timestamp_seconds{action}``, ``vm_autoscale_actions_total{action,
  result}`` - the state, written by the scale actions (initial values at onboarding).

A gate on the state never blocks an action alert by being absent: ``vm_autoscale_instances`` is
missing until a run has counted, so the min/max gates are ``unless`` clauses (docs/monitoring.md).
"""

from __future__ import annotations

from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _state
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._model import PROM_DURATION
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._names import SERVICE_RULE, is_service

# The alert each action is triggered by: the only names playbooks/autoscale.yml accepts and asks
# Prometheus about (_request), whatever a notification says.
ACTION_ALERTS = {"scale_out": "VmAutoscaleScaleOut", "scale_in": "VmAutoscaleScaleIn"}


def _percent(value: float) -> str:
    return f"{round(value, 3):g}"


def _tracking_conditions(service: str, scaling: dict) -> tuple:
    """The action alerts' load conditions under target tracking, and their texts.

    Scale-out: a tracked load above its target plus the tolerance. Scale-in: every tracked load
    below its target minus the tolerance *and* low enough that one VM fewer would still be at or
    below the target (``load x N / (N - 1) <= target``, so that the decision's ``ceil(N x load /
    target)`` is below N); without ``vm_autoscale_instances`` it does not fire.
    """
    tracking = scaling["target_tracking"]
    tolerance = int(tracking["tolerance_percent"])
    one = f'service="{service}"'
    count = f"max by (service) (vm_autoscale_instances{{{one}}})"
    tracked = [
        (name, f"vm_autoscale:{name}_percent{{{one}}}", int(tracking[f"{name}_percent"]))
        for name in ("cpu", "memory")
        if tracking.get(f"{name}_percent") is not None
    ]
    above = " or ".join(f"{series} > {_percent(target * (100 + tolerance) / 100)}" for _n, series, target in tracked)
    below = "\nand on (service) ".join(
        f"{series} < {_percent(target * (100 - tolerance) / 100)}\n"
        f"and on (service) {series} * on (service) {count} / ({count} - 1) <= {target}"
        for _n, series, target in tracked
    )
    targets = " and ".join(f"{name} {target}%" for name, _s, target in tracked)
    return (
        f"({above})",
        f"load above its target ({targets}, +{tolerance}%)",
        "Above it for {minutes} min; the pipeline adds the VMs that bring it back to the target,"
        f" at most {int(tracking['max_step'])}",
        f"({below})",
        (
            f"load below its target ({targets}, -{tolerance}%) with one VM fewer",
            "Below it for {minutes} min; the pipeline removes the VMs the target does not need,"
            f" at most {int(scaling['scale_in_step'])}",
        ),
    )


def load_query(service: str, direction: str, window: str = "") -> str:
    """The PromQL of a tracked decision's load reading: the service's CPU and memory use, each
    labelled ``metric`` (``cpu``, ``memory``); with ``window``, each one's peak over it (a
    scale-in's conservative reading)."""
    if not is_service(service):
        raise ValueError(f"service {service!r} is not a service name ({SERVICE_RULE})")
    if direction not in ACTION_ALERTS:
        raise ValueError(f"direction is {direction!r}, expected scale_out or scale_in")
    if window and not PROM_DURATION.match(window):
        raise ValueError(f"window is {window!r}, expected a Prometheus duration like 15m")
    parts = []
    for name in ("cpu", "memory"):
        series = f'vm_autoscale:{name}_percent{{service="{service}"}}'
        if window:
            series = f"max_over_time({series}[{window}])"
        parts.append(f'label_replace({series}, "metric", "{name}", "", "")')
    return " or ".join(parts)


def service_rules(service: str, config: dict, settings: dict) -> list:
    """The rules of one service's group, in order: recording rules, action alerts, operator alerts.

    ``config`` is the service's mapping with defaults (``autoscale_config``); ``settings``
    has ``job`` (the scrape job of the VMs), ``at_max_for``, ``metrics_missing_for``,
    ``failed_window`` and ``drift_for`` (30m when absent).
    """
    monitoring = config["monitoring"]
    scaling = config["scaling"]
    window = monitoring["rate_window"]
    selector = f'job="{settings["job"]}",service="{service}"'
    one = f'service="{service}"'
    cpu = f"vm_autoscale:cpu_percent{{{one}}}"
    memory = f"vm_autoscale:memory_percent{{{one}}}"

    def state(metric: str) -> str:
        return f"max by (service) ({metric}{{{one}}})"

    enabled = f"{state('vm_autoscale_enabled')} == 1"
    suspended = f"{state('vm_autoscale_suspended')} == 1"
    cooling = (
        f"(time() - max by (service) (vm_autoscale_last_scale_timestamp_seconds{{{one}}}) "
        f"< {int(scaling['cooldown_seconds'])})"
    )
    labels = {"service": service}
    recording = [
        {
            # Busy share of all CPUs of all VMs of the service: 1 - idle time / all time. A ratio
            # of two rates over the same series: a target younger than the window has too few
            # samples for either, and the error cancels out. The drafts' 100 - rate(idle) * 100
            # divides by the whole window and reads a new VM as ~94 % busy (plg-notes).
            "record": "vm_autoscale:cpu_percent",
            "expr": (
                "100 * (1 -\n"
                f'  sum by (service) (rate(node_cpu_seconds_total{{{selector},mode="idle"}}[{window}]))\n'
                f"  / sum by (service) (rate(node_cpu_seconds_total{{{selector}}}[{window}]))\n"
                ")"
            ),
        },
        {
            "record": "vm_autoscale:memory_percent",
            "expr": (
                "100 * (1 - avg by (service) (\n"
                f"  node_memory_MemAvailable_bytes{{{selector}}} / node_memory_MemTotal_bytes{{{selector}}}\n"
                "))"
            ),
        },
        {"record": "vm_autoscale:targets_up", "expr": f"sum by (service) (up{{{selector}}})"},
    ]
    instances = state("vm_autoscale_instances")
    gates = f"and on (service) {enabled}\n{{bound}}unless on (service) {suspended}\nunless on (service) {cooling}"
    out_gate = gates.replace("{bound}", f"unless on (service) {instances} >= {int(scaling['max_instances'])}\n")
    in_gate = gates.replace("{bound}", f"unless on (service) {instances} <= {int(scaling['min_instances'])}\n")
    if scaling.get("policy") == "target_tracking":
        busy, busy_text, out_text, quiet, in_text = _tracking_conditions(service, scaling)
    else:
        cpu_out, memory_out = monitoring["cpu_threshold"], monitoring["memory_threshold"]
        cpu_in, memory_in = monitoring["scale_in_cpu_threshold"], monitoring["scale_in_memory_threshold"]
        busy = f"({cpu} > {cpu_out} or {memory} > {memory_out})"
        busy_text = f"load above the scale-out threshold (CPU {cpu_out}% or memory {memory_out}%)"
        out_text = f"Above the threshold for {{minutes}} min; the pipeline adds {int(scaling['scale_out_step'])} VM(s)"
        quiet = f"({cpu} < {cpu_in} and on (service) {memory} < {memory_in})"
        in_text = (
            f"load below the scale-in thresholds (CPU {cpu_in}% and memory {memory_in}%)",
            f"Below both for {{minutes}} min; the pipeline removes {int(scaling['scale_in_step'])} VM(s)",
        )
    actions = [
        {
            "alert": ACTION_ALERTS["scale_out"],
            "expr": f"{busy}\n{out_gate}",
            "for": f"{int(monitoring['duration_minutes'])}m",
            "labels": {**labels, "vm_autoscale": "action", "autoscale_action": "scale_out", "severity": "info"},
            "annotations": {
                "summary": f"{service}: {busy_text}",
                "description": (
                    out_text.format(minutes=int(monitoring["duration_minutes"]))
                    + f", up to {int(scaling['max_instances'])}."
                ),
            },
        },
        {
            "alert": ACTION_ALERTS["scale_in"],
            "expr": f"{quiet}\n{in_gate}",
            "for": f"{int(monitoring['scale_in_duration_minutes'])}m",
            "labels": {**labels, "vm_autoscale": "action", "autoscale_action": "scale_in", "severity": "info"},
            "annotations": {
                "summary": f"{service}: {in_text[0]}",
                "description": (
                    in_text[1].format(minutes=int(monitoring["scale_in_duration_minutes"]))
                    + f", down to {int(scaling['min_instances'])}."
                ),
            },
        },
    ]
    operator = {**labels, "vm_autoscale": "operator"}
    operators = [
        {
            "alert": "VmAutoscaleActionFailed",
            # "abandoned": a run that died half-way (its runner killed), repaired by the next run
            "expr": (
                f'increase(vm_autoscale_actions_total{{{one},result=~"failed|abandoned"}}'
                f"[{settings['failed_window']}]) > 0"
            ),
            "labels": {**operator, "severity": "warning"},
            "annotations": {
                "summary": f"{service}: a scale action failed, or its run died",
                "description": (
                    "See the service's event log and the pipeline build for the step that failed; an abandoned "
                    "run was killed half-way and repaired by the next run (docs/operations.md, A run that dies)."
                ),
            },
        },
        {
            "alert": "VmAutoscaleSuspended",
            "expr": suspended,
            "labels": {**operator, "severity": "critical"},
            "annotations": {
                "summary": f"{service}: autoscaling suspended by the circuit breaker",
                "description": "Scale-outs failed in a row; fix the cause, then reset the breaker.",
            },
        },
        {
            "alert": "VmAutoscaleAtMaxCapacity",
            "expr": f"{instances} >= {int(scaling['max_instances'])}\nand on (service) {busy}",
            "for": settings["at_max_for"],
            "labels": {**operator, "severity": "warning"},
            "annotations": {
                "summary": f"{service}: overloaded at its maximum of {int(scaling['max_instances'])} instances",
                "description": "Raise scaling.max_instances or look at the service itself.",
            },
        },
        {
            "alert": "VmAutoscaleSiteCapReached",
            "expr": (
                f'sum by (service) (increase(vm_autoscale_refusals_total{{{one},limit="site_cap"}}'
                f"[{settings['failed_window']}])) > 0"
            ),
            "labels": {**operator, "severity": "critical"},
            "annotations": {
                "summary": f"{service}: a scale-out was refused at the site-wide cap of autoscaled VMs",
                "description": (
                    "The site's autoscaled VMs (all services) reached vm_autoscale_max_autoscaled_vms: raise it"
                    " if the load is real, or find the service that runs away."
                ),
            },
        },
        {
            "alert": "VmAutoscaleDrift",
            "expr": f"max by (service) (vm_autoscale_drift{{{one}}}) > 0",
            "for": settings.get("drift_for", "30m"),
            "labels": {**operator, "severity": "warning"},
            "annotations": {
                "summary": f"{service}: vCenter, the F5 devices, the leases and the targets disagree",
                "description": (
                    "The service's last reconcile left drift: see its report (playbooks/reconcile.yml) and fix it"
                    " with -e reconcile_fix=true, or fix what it cannot by hand (docs/reconcile.md)."
                ),
            },
        },
        {
            "alert": "VmAutoscaleMetricsMissing",
            "expr": f"absent(vm_autoscale_enabled{{{one}}})",
            "for": settings["metrics_missing_for"],
            "labels": {**operator, "severity": "warning"},
            "annotations": {
                "summary": f"{service}: the autoscaler's metrics are missing",
                "description": (
                    "Without them no scale alert can fire: check the state host's node_exporter textfile directory."
                ),
            },
        },
    ]
    return recording + actions + operators


def config_metrics(service: str, config: dict) -> str:
    """The textfile-collector file of a service's configuration metrics."""
    scaling = config["scaling"]
    values = {
        "vm_autoscale_enabled": 1 if config["enabled"] else 0,
        "vm_autoscale_min_instances": int(scaling["min_instances"]),
        "vm_autoscale_max_instances": int(scaling["max_instances"]),
        "vm_autoscale_cooldown_seconds": int(scaling["cooldown_seconds"]),
    }
    helps = {
        "vm_autoscale_enabled": "1 when autoscaling of the service is enabled in the inventory.",
        "vm_autoscale_min_instances": "Fewest instances the service scales in to.",
        "vm_autoscale_max_instances": "Most instances the service scales out to.",
        "vm_autoscale_cooldown_seconds": "Seconds between two scale actions of the service.",
    }
    if scaling.get("policy") == "target_tracking":  # the dashboard draws the target beside the load
        tracking = scaling["target_tracking"]
        for name in ("cpu", "memory"):
            if tracking.get(f"{name}_percent") is not None:
                values[f"vm_autoscale_target_{name}_percent"] = int(tracking[f"{name}_percent"])
                helps[f"vm_autoscale_target_{name}_percent"] = f"The {name} use target tracking holds the service at."
    return _textfile(service, values, helps)


def initial_state_metrics(service: str, config: dict) -> str:
    """The first state file of a service: its static members, not suspended, nothing done yet.

    The same text the scale actions write later (``_state.metrics_text``), counters at 0.
    """
    state = _state.empty_state(service)
    state["instances"] = len(config["static_members"])
    return _state.metrics_text(state)


def _textfile(service: str, values: dict, helps: dict) -> str:
    lines = []
    for name, value in values.items():
        lines += [f"# HELP {name} {helps[name]}", f"# TYPE {name} gauge", f'{name}{{service="{service}"}} {value}']
    return "\n".join(lines) + "\n"
