# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What onboarding tells the operator each service has now. Private.

One call per service over its configuration with defaults (``_model.with_defaults``). Written in
Jinja, the same lines made the filter ``autoscale_config`` run about twenty times per service,
which cost onboarding about 35 s at 500 services; here it runs once.
"""

from __future__ import annotations

from typing import Any


def _template_state(service: str, name: str, lookup: Any) -> str:
    """What vCenter holds under the template's name: its entry in autoscale_vm_info's ``templates``."""
    found = (lookup.get("templates") or {}).get(name) if isinstance(lookup, dict) else None
    if not isinstance(found, dict):
        reason = (lookup.get("msg") if isinstance(lookup, dict) else None) or "no answer"
        return f"not checked: vCenter could not be read ({reason})"
    if found.get("template"):
        return "a template in vCenter"
    problem = (
        "MISSING in vCenter"
        if not found.get("exists")
        else f"is {found.get('count')} objects in vCenter, not one template"
    )
    return (
        f"{problem} - run playbooks/create_template.yml -l {service} before the first peak"
        " (scale-outs refuse to run without it)"
    )


def _policy(scaling: dict, monitoring: dict) -> str:
    """What makes the service scale, in words."""
    if scaling.get("policy") == "target_tracking":
        tracking = scaling["target_tracking"]
        targets = " and ".join(
            f"{tracking[f'{name}_percent']} % {label}"
            for name, label in (("cpu", "CPU"), ("memory", "memory"))
            if tracking.get(f"{name}_percent") is not None
        )
        return (
            f"target tracking: holds {targets} +-{tracking['tolerance_percent']} %,"
            f" up to {tracking['max_step']} VM(s) per scale-out, {scaling['scale_in_step']} per scale-in"
        )
    return (
        f"scale out above {monitoring['cpu_threshold']} % CPU or {monitoring['memory_threshold']} % memory,"
        f" scale in below {monitoring['scale_in_cpu_threshold']} % and {monitoring['scale_in_memory_threshold']} %"
    )


def service_summary(service: str, config: dict, lookup: Any = None, check_mode: bool = False) -> list[str]:
    """The lines of the summary: autoscaling, Jenkins job, alert rules, route and template."""
    enabled = bool(config["enabled"])
    scaling, monitoring = config["scaling"], config["monitoring"]
    job = config["jenkins"]["job_name"]
    schedule = config["reconcile"]["schedule"]
    reconcile = f"reconcile-{service} ({schedule})" if schedule else "none"
    template = config["template"]["name"]
    return [
        f"service {service}{' (check mode: what it would have)' if check_mode else ''}:"
        f" autoscaling {'enabled' if enabled else 'DISABLED (autoscale.enabled)'},"
        f" {scaling['min_instances']}-{scaling['max_instances']} instances",
        f"Jenkins job {job} ({'enabled' if enabled else 'disabled'}), scheduled reconcile {reconcile}",
        f"Prometheus rule group vm_autoscale-{service} ({_policy(scaling, monitoring)}),"
        f" {len(config['static_members'])} static target(s)",
        f"Alertmanager route service={service} to {job}",
        f"template {template}: {_template_state(service, template, lookup)}",
    ]
