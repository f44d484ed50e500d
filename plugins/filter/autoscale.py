# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the ``autoscale:`` data model (documented in autoscale_config.yml, autoscale_problems.yml)."""

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import (
    _alertmanager,
    _capacity,
    _drift,
    _events,
    _model,
    _monitoring,
    _request,
    _rules,
)


def autoscale_config(config: dict, service: str) -> dict:
    if not isinstance(service, str) or not service:
        raise AnsibleFilterError(
            "autoscale_config: give the service name, e.g. autoscale | autoscale_config(inventory_hostname)"
        )
    return _model.with_defaults(service, _plain(config))


def autoscale_problems(
    services: dict, scope: list | None = None, settings: dict | None = None, established: list | None = None
) -> list:
    if not isinstance(services, dict):
        raise AnsibleFilterError("autoscale_problems: expects a mapping of service name to its autoscale mapping")
    try:
        return _model.problems(
            _plain(services),
            None if scope is None else _plain(list(scope)),
            _plain(settings or {}),
            None if established is None else _plain(list(established)),
        )
    except ValueError as exc:
        raise AnsibleFilterError(f"autoscale_problems: {exc}") from exc


def autoscale_prometheus_rules(config: dict, service: str, settings: dict) -> list:
    try:
        return _rules.service_rules(service, _plain(config), _plain(settings))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(
            f"autoscale_prometheus_rules: cannot build the rules of {service}: {exc!r}; "
            "give it the output of autoscale_config and run autoscale_preflight first"
        ) from exc


def autoscale_metrics(config: dict, service: str, kind: str) -> str:
    if kind == "config":
        return _rules.config_metrics(service, config)
    if kind == "initial_state":
        return _rules.initial_state_metrics(service, config)
    raise AnsibleFilterError(f"autoscale_metrics: kind is {kind!r}, expected config or initial_state")


def autoscale_alertmanager_config(base: dict, services: list, settings: dict) -> dict:
    try:
        return _alertmanager.render(_plain(base), _plain(list(services)), _plain(settings))
    except _alertmanager.AlertmanagerConfigError as exc:
        raise AnsibleFilterError(f"autoscale_alertmanager_config: {exc}") from exc
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError(f"autoscale_alertmanager_config: incomplete settings: {exc!r}") from exc


def _plain(data):
    """Plain Python data (Ansible 2.19 hands filters tagged str subclasses PyYAML cannot dump)."""
    return json.loads(json.dumps(data, default=str))


def autoscale_monitoring_files(services: dict, all_services: list, settings: dict) -> dict:
    try:
        return _monitoring.monitoring_files(_plain(services), _plain(list(all_services)), _plain(settings))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(
            f"autoscale_monitoring_files: {exc!r}; run autoscale_preflight first and give every setting"
        ) from exc


def autoscale_token_files(names: list, tokens: list, secrets_dir: str) -> list:
    try:
        return _monitoring.token_files(list(names), list(tokens), secrets_dir)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def autoscale_token_problems(tokens: dict, scope: list | None = None) -> list:
    if not isinstance(tokens, dict):
        raise AnsibleFilterError("autoscale_token_problems: expects a mapping of service name to its webhook token")
    return _monitoring.token_problems(_plain(tokens), None if scope is None else _plain(list(scope)))


def autoscale_jenkins_jobs(names: list, configs: list, tokens: list, enabled: bool = True, limits=None) -> list:
    try:
        return _model.jenkins_jobs(
            _plain(list(names)), _plain(list(configs)), list(tokens), bool(enabled), _plain(limits or {})
        )
    except ValueError as exc:
        raise AnsibleFilterError(f"autoscale_jenkins_jobs: {exc}") from exc


def autoscale_run_bound(limits, scale_out_step=1, scale_in_step=1) -> dict:
    """The longest a run may take (seconds): scale_out, scale_in and run (docs/operations.md)."""
    try:
        return _model.run_bound(_plain(limits or {}), scale_out_step, scale_in_step)
    except ValueError as exc:
        raise AnsibleFilterError(f"autoscale_run_bound: {exc}") from exc


def autoscale_event_table(events: list) -> list:
    """Lines of a fixed-width table of scale events (the planners' event list)."""
    try:
        return _events.event_table(_plain(events))
    except ValueError as exc:
        raise AnsibleFilterError(f"autoscale_event_table: {exc}") from exc


_TRUE = ("true", "yes", "1", "on")
PROTECT_KEY = "guestinfo.vm_autoscale.protected"


def autoscale_removable_vms(instances: list, static_names: list, protect_key: str = PROTECT_KEY) -> list:
    """Names of the VMs scale-in may remove, the one to remove first first.

    ``instances`` are ``vmware_guest_info`` instances. Only VMs the autoscaler made
    (``guestinfo.vm_autoscale.role`` = ``autoscaled``), never a static member, never a VM whose
    ``protect_key`` setting is true; newest first (``guestinfo.vm_autoscale.created_at``, then name).
    """
    if not isinstance(instances, list):
        raise AnsibleFilterError("autoscale_removable_vms: expects the instances that vmware_guest_info returns")
    static = set(_plain(list(static_names or [])))
    chosen = []
    for instance in _plain(instances):
        if not isinstance(instance, dict):
            continue
        settings = instance.get("advanced_settings") or {}
        name = instance.get("hw_name")
        if not name or name in static or settings.get("guestinfo.vm_autoscale.role") != "autoscaled":
            continue
        if str(settings.get(protect_key, "")).strip().lower() in _TRUE:
            continue
        chosen.append((settings.get("guestinfo.vm_autoscale.created_at", ""), name))
    return [name for _created, name in sorted(chosen, reverse=True)]


def autoscale_alert_request(payload, service: str) -> dict:
    """What an Alertmanager webhook payload asks of ``service``: a hint, verified before acting (_request)."""
    if isinstance(payload, (str, bytes)):
        return _request.request(str(payload), str(service))
    return _request.request(_plain(payload), str(service))


def autoscale_alert_query(service: str, action: str) -> str:
    """The PromQL asking whether the service's own alert for ``action`` fires now."""
    try:
        return _request.verify_query(str(service), str(action))
    except ValueError as exc:
        raise AnsibleFilterError(f"autoscale_alert_query: {exc}") from exc


def autoscale_alert_verify(answer, service: str, action: str) -> dict:
    """``{firing, reason}`` from Prometheus's answer to autoscale_alert_query."""
    try:
        return _request.verify(_plain(answer), str(service), str(action))
    except ValueError as exc:
        raise AnsibleFilterError(f"autoscale_alert_verify: {exc}") from exc


def autoscale_drift(  # noqa: PLR0917 - a filter's arguments are positional in Jinja
    service: str,
    config: dict,
    instances: list,
    pools: dict,
    leases: list,
    targets: list,
    mode: str = "active_sync",
    active: str | None = None,
    target_port: int = 9100,
) -> dict:
    """The drift of ``service`` between vCenter, the F5 devices, the leases and the targets, and the fix plan."""
    if mode not in ("active_sync", "each"):
        raise AnsibleFilterError(f"autoscale_drift: mode is {mode!r}, expected active_sync or each")
    if mode == "active_sync" and active not in (pools or {}):
        raise AnsibleFilterError(f"autoscale_drift: the active device {active!r} is not one of the pools' devices")
    try:
        systems = {"instances": list(instances), "pools": pools, "leases": list(leases), "targets": list(targets)}
        return _drift.find_drift(
            service, _plain(config), _plain(systems), mode=mode, active=active, target_port=int(target_port)
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"autoscale_drift: cannot compare the systems of {service}: {exc!r}") from exc


def autoscale_scale_out_count(members: list, service: str, autoscaled: list, member_port: int, limits: dict) -> dict:
    """How many VMs a scale-out of ``service`` may add, and why none (_capacity.scale_out_count)."""
    try:
        return _capacity.scale_out_count(
            str(service), _plain(list(members)), _plain(list(autoscaled)), int(member_port), _plain(limits)
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"autoscale_scale_out_count: cannot count the capacity of {service}: {exc!r}") from exc


class FilterModule:
    def filters(self) -> dict:
        return {
            "autoscale_config": autoscale_config,
            "autoscale_problems": autoscale_problems,
            "autoscale_prometheus_rules": autoscale_prometheus_rules,
            "autoscale_metrics": autoscale_metrics,
            "autoscale_alertmanager_config": autoscale_alertmanager_config,
            "autoscale_monitoring_files": autoscale_monitoring_files,
            "autoscale_token_files": autoscale_token_files,
            "autoscale_token_problems": autoscale_token_problems,
            "autoscale_jenkins_jobs": autoscale_jenkins_jobs,
            "autoscale_run_bound": autoscale_run_bound,
            "autoscale_event_table": autoscale_event_table,
            "autoscale_removable_vms": autoscale_removable_vms,
            "autoscale_alert_request": autoscale_alert_request,
            "autoscale_alert_query": autoscale_alert_query,
            "autoscale_alert_verify": autoscale_alert_verify,
            "autoscale_drift": autoscale_drift,
            "autoscale_scale_out_count": autoscale_scale_out_count,
        }
