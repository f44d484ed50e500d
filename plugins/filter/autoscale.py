# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the ``autoscale:`` data model (documented in autoscale_config.yml, autoscale_problems.yml)."""

from __future__ import annotations

import importlib
import json

from ansible.errors import AnsibleFilterError


def _utils(name: str):
    """The collection's module_utils ``name``, imported when a filter first needs it.

    ansible-core loads this file in the worker process it forks for each task that uses one of
    these filters, and almost every task of the scale roles does (``autoscale_config``). Importing
    every module_utils up front cost each such task about 45 ms of CPU (three times the filter
    it ran); now each filter imports only its own.
    """
    return importlib.import_module(f"ansible_collections.danacloud.vm_autoscale.plugins.module_utils.{name}")


def autoscale_config(config: dict, service: str) -> dict:
    if not isinstance(service, str) or not service:
        raise AnsibleFilterError(
            "autoscale_config: give the service name, e.g. autoscale | autoscale_config(inventory_hostname)"
        )
    return _utils("_model").with_defaults(service, _plain(config))


def autoscale_problems(
    services: dict, scope: list | None = None, settings: dict | None = None, established: list | None = None
) -> list:
    if not isinstance(services, dict):
        raise AnsibleFilterError("autoscale_problems: expects a mapping of service name to its autoscale mapping")
    try:
        return _utils("_model").problems(
            _plain(services),
            None if scope is None else _plain(list(scope)),
            _plain(settings or {}),
            None if established is None else _plain(list(established)),
        )
    except ValueError as exc:
        raise AnsibleFilterError(f"autoscale_problems: {exc}") from exc


def autoscale_prometheus_rules(config: dict, service: str, settings: dict) -> list:
    try:
        return _utils("_rules").service_rules(service, _plain(config), _plain(settings))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(
            f"autoscale_prometheus_rules: cannot build the rules of {service}: {exc!r}; "
            "give it the output of autoscale_config and run autoscale_preflight first"
        ) from exc


def autoscale_metrics(config: dict, service: str, kind: str) -> str:
    if kind == "config":
        return _utils("_rules").config_metrics(service, config)
    if kind == "initial_state":
        return _utils("_rules").initial_state_metrics(service, config)
    raise AnsibleFilterError(f"autoscale_metrics: kind is {kind!r}, expected config or initial_state")


def autoscale_alertmanager_config(base: dict, services: list, settings: dict) -> dict:
    try:
        return _utils("_alertmanager").render(_plain(base), _plain(list(services)), _plain(settings))
    except _utils("_alertmanager").AlertmanagerConfigError as exc:
        raise AnsibleFilterError(f"autoscale_alertmanager_config: {exc}") from exc
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError(f"autoscale_alertmanager_config: incomplete settings: {exc!r}") from exc


def _plain(data):
    """Plain Python data (Ansible 2.19 hands filters tagged str subclasses PyYAML cannot dump)."""
    return json.loads(json.dumps(data, default=str))


def autoscale_monitoring_files(services: dict, all_services: list, settings: dict) -> dict:
    try:
        return _utils("_monitoring").monitoring_files(_plain(services), _plain(list(all_services)), _plain(settings))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(
            f"autoscale_monitoring_files: {exc!r}; run autoscale_preflight first and give every setting"
        ) from exc


def autoscale_monitoring_removed(names: list, settings: dict) -> dict:
    invalid = autoscale_invalid_services(names)
    if invalid:
        raise AnsibleFilterError(f"autoscale_monitoring_removed: not service names: {invalid!r}")
    try:
        return _utils("_monitoring").removed_files(_plain(list(names)), _plain(settings))
    except KeyError as exc:
        raise AnsibleFilterError(f"autoscale_monitoring_removed: give the setting {exc}") from exc


def autoscale_targets_file(name: str, file_sd_dir: str) -> str:
    invalid = autoscale_invalid_services([name])
    if invalid:
        raise AnsibleFilterError(f"autoscale_targets_file: not a service name: {name!r}")
    if not isinstance(file_sd_dir, str) or not file_sd_dir:
        raise AnsibleFilterError("autoscale_targets_file: give the folder of the file_sd targets (file_sd_dir)")
    return _utils("_monitoring").targets_file(str(name), file_sd_dir)


def autoscale_token_files(names: list, tokens: list, secrets_dir: str) -> list:
    try:
        return _utils("_monitoring").token_files(list(names), list(tokens), secrets_dir)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def autoscale_token_problems(tokens: dict, scope: list | None = None) -> list:
    if not isinstance(tokens, dict):
        raise AnsibleFilterError("autoscale_token_problems: expects a mapping of service name to its webhook token")
    return _utils("_monitoring").token_problems(_plain(tokens), None if scope is None else _plain(list(scope)))


def autoscale_jenkins_jobs(names: list, configs: list, tokens: list, enabled: bool = True, limits=None) -> list:
    try:
        return _utils("_pipelines").jenkins_jobs(
            _plain(list(names)), _plain(list(configs)), list(tokens), bool(enabled), _plain(limits or {})
        )
    except ValueError as exc:
        raise AnsibleFilterError(f"autoscale_jenkins_jobs: {exc}") from exc


def autoscale_run_bound(limits, scale_out_step=1, scale_in_step=1) -> dict:
    """The longest a run may take (seconds): scale_out, scale_in and run (docs/operations.md)."""
    try:
        return _utils("_pipelines").run_bound(_plain(limits or {}), scale_out_step, scale_in_step)
    except ValueError as exc:
        raise AnsibleFilterError(f"autoscale_run_bound: {exc}") from exc


def autoscale_event_table(events: list) -> list:
    """Lines of a fixed-width table of scale events (the planners' event list)."""
    try:
        return _utils("_events").event_table(_plain(events))
    except ValueError as exc:
        raise AnsibleFilterError(f"autoscale_event_table: {exc}") from exc


def autoscale_alert_request(payload, service: str) -> dict:
    """What an Alertmanager webhook payload asks of ``service``: a hint, verified before acting (_request)."""
    if isinstance(payload, (str, bytes)):
        return _utils("_request").request(str(payload), str(service))
    return _utils("_request").request(_plain(payload), str(service))


def autoscale_alert_query(service: str, action: str) -> str:
    """The PromQL asking whether the service's own alert for ``action`` fires now."""
    try:
        return _utils("_request").verify_query(str(service), str(action))
    except ValueError as exc:
        raise AnsibleFilterError(f"autoscale_alert_query: {exc}") from exc


def autoscale_load_query(service: str, direction: str, window: str = "") -> str:
    """The PromQL of a tracked decision's load reading (CPU and memory, labelled ``metric``)."""
    try:
        return _utils("_rules").load_query(str(service), str(direction), str(window or ""))
    except ValueError as exc:
        raise AnsibleFilterError(f"autoscale_load_query: {exc}") from exc


def autoscale_alert_verify(answer, service: str, action: str) -> dict:
    """``{firing, reason}`` from Prometheus's answer to autoscale_alert_query."""
    try:
        return _utils("_request").verify(_plain(answer), str(service), str(action))
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
        return _utils("_drift").find_drift(
            service, _plain(config), _plain(systems), mode=mode, active=active, target_port=int(target_port)
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"autoscale_drift: cannot compare the systems of {service}: {exc!r}") from exc


def autoscale_plan(facts: dict, decision: str):
    """One decision of a scale action - guards, scale_out, scale_in or template - from what the role read (_plan)."""
    try:
        return _utils("_plan").plan(str(decision), _plain(facts))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"autoscale_plan: cannot decide {decision}: {exc!r}") from exc


def autoscale_service_summary(services: dict, lookup=None, check_mode: bool = False) -> dict:
    """What onboarding tells the operator each service has now (_summary), over their configurations."""
    if not isinstance(services, dict):
        raise AnsibleFilterError(
            "autoscale_service_summary: expects a mapping of service name to its autoscale mapping"
        )
    answer = _plain(lookup) if lookup else None
    summary = {}
    for service, config in services.items():
        try:
            summary[service] = _utils("_summary").service_summary(
                service, autoscale_config(config, service), answer, bool(check_mode)
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AnsibleFilterError(f"autoscale_service_summary: cannot summarise {service}: {exc!r}") from exc
    return summary


def autoscale_invalid_services(names) -> list:
    """The names in ``names`` that are not valid service names (the rule of ``_names``), as given."""
    if not isinstance(names, (list, tuple)):
        raise AnsibleFilterError(
            f"autoscale_invalid_services: expects a list of service names, got {type(names).__name__}"
        )
    names_utils = _utils("_names")
    return [name for name in names if not names_utils.is_service(name)]


class FilterModule:
    def filters(self) -> dict:
        return {
            "autoscale_config": autoscale_config,
            "autoscale_problems": autoscale_problems,
            "autoscale_prometheus_rules": autoscale_prometheus_rules,
            "autoscale_metrics": autoscale_metrics,
            "autoscale_alertmanager_config": autoscale_alertmanager_config,
            "autoscale_monitoring_files": autoscale_monitoring_files,
            "autoscale_monitoring_removed": autoscale_monitoring_removed,
            "autoscale_targets_file": autoscale_targets_file,
            "autoscale_token_files": autoscale_token_files,
            "autoscale_token_problems": autoscale_token_problems,
            "autoscale_jenkins_jobs": autoscale_jenkins_jobs,
            "autoscale_run_bound": autoscale_run_bound,
            "autoscale_event_table": autoscale_event_table,
            "autoscale_alert_request": autoscale_alert_request,
            "autoscale_alert_query": autoscale_alert_query,
            "autoscale_alert_verify": autoscale_alert_verify,
            "autoscale_load_query": autoscale_load_query,
            "autoscale_drift": autoscale_drift,
            "autoscale_plan": autoscale_plan,
            "autoscale_invalid_services": autoscale_invalid_services,
            "autoscale_service_summary": autoscale_service_summary,
        }
