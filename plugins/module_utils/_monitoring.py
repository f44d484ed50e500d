# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitoring files of many services at once (targets, rule files, metrics), for onboarding.

Behind the filter ``autoscale_monitoring_files``: onboarding computes every service's files in
one pass and writes them with one ``autoscale_files`` call per host, instead of one task per
file and service (which costs seconds per service).
"""

from __future__ import annotations

import json
import re

from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _model, _prometheus, _rules

RULES_HEADER = (
    "# Managed by Ansible: the rule group of one autoscaled service, written by the role\n"
    "# danacloud.vm_autoscale.prometheus_autoscale. Edit the inventory, not this file.\n"
)


def targets_file(name: str, file_sd_dir: str) -> str:
    """The targets file of service ``name``'s autoscaled VMs: what scale-out, scale-in and
    reconcile change (module autoscale_target), onboarding creates and offboarding removes."""
    return f"{file_sd_dir}/vm_autoscale-{name}-auto.json"


def paths(name: str, settings: dict) -> dict:
    """Where the monitoring files of service ``name`` are - named here only, for onboarding (which
    writes them) and offboarding (which removes them): on the PLG host its ``static`` and ``auto``
    targets (and ``auto_lock``, the lock autoscale_target takes for the latter) and its ``rules``;
    on the state host its ``config`` and ``state`` metrics."""
    file_sd, rules_dir, textfile = settings["file_sd_dir"], settings["rules_dir"], settings["textfile_dir"]
    return {
        "static": f"{file_sd}/vm_autoscale-{name}-static.json",
        "auto": targets_file(name, file_sd),
        "auto_lock": f"{file_sd}/.vm_autoscale-{name}-auto.json.lock",
        "rules": f"{rules_dir}/vm_autoscale-{name}.yml",
        "config": f"{textfile}/vm_autoscale_{name}_config.prom",
        "state": f"{textfile}/vm_autoscale_{name}_state.prom",
    }


PLG_FILES = ("rules", "static", "auto", "auto_lock")
STATE_HOST_FILES = ("config", "state")


def removed_files(names: list, settings: dict) -> dict:
    """{"plg": [...], "state_host": [...]}: every monitoring file of the services ``names``, by host."""
    return {
        "plg": [paths(name, settings)[kind] for kind in PLG_FILES for name in names],
        "state_host": [paths(name, settings)[kind] for kind in STATE_HOST_FILES for name in names],
    }


def monitoring_files(services: dict, all_services: list, settings: dict) -> dict:
    """{"plg": {"files", "prune"}, "state_host": {"files", "prune"}} for ``services``.

    ``services`` maps the services of this run to their ``autoscale`` mappings; ``all_services``
    are every service of the inventory (their files are kept). ``settings``: ``file_sd_dir``,
    ``rules_dir``, ``textfile_dir``, ``node_exporter_port``, and the rule settings of
    ``_rules.service_rules``.
    """
    file_sd, rules_dir, textfile = settings["file_sd_dir"], settings["rules_dir"], settings["textfile_dir"]
    plg_files: list = []
    state_files: list = []
    for name in sorted(services):
        config = _model.with_defaults(name, services[name])
        members = [f"{member['ip']}:{settings['node_exporter_port']}" for member in config["static_members"]]
        targets = [{"targets": members, "labels": {"service": name}}]
        group = _prometheus.render_group(f"vm_autoscale-{name}", _rules.service_rules(name, config, settings), None)
        where = paths(name, settings)
        plg_files += [
            {"path": where["static"], "content": json.dumps(targets, indent=2) + "\n"},
            {"path": where["auto"], "content": "[]\n", "force": False},
            {
                "path": where["rules"],
                "content": _prometheus.dump_rule_file([group], RULES_HEADER),
                "check": "rules",
            },
        ]
        state_files += [
            {"path": where["config"], "content": _rules.config_metrics(name, config)},
            {
                "path": where["state"],
                "content": _rules.initial_state_metrics(name, config),
                "force": False,
            },
        ]
    every = sorted(set(all_services) | set(services))
    return {
        "plg": {
            "files": plg_files,
            "prune": [
                {
                    "directory": file_sd,
                    "pattern": "vm_autoscale-*-static.json",
                    "keep": [f"vm_autoscale-{name}-static.json" for name in every],
                },
                {
                    "directory": rules_dir,
                    "pattern": "vm_autoscale-*.yml",
                    "keep": [f"vm_autoscale-{name}.yml" for name in every],
                },
            ],
        },
        "state_host": {
            "files": state_files,
            "prune": [
                {
                    "directory": textfile,
                    "pattern": "vm_autoscale_*_config.prom",
                    "keep": [f"vm_autoscale_{name}_config.prom" for name in every],
                }
            ],
        },
    }


# A webhook token goes into an Authorization: Bearer header (Alertmanager) and a Jenkins
# credential: long enough not to be guessed, and only characters a header carries unquoted.
TOKEN = re.compile(r"\A[A-Za-z0-9._~+/=-]{16,256}\Z")


def token_problems(tokens: dict, scope: list | None = None) -> list:
    """What is wrong with the services' webhook tokens (``{service: token}``), never showing one.

    A token that is not 16-256 header-safe characters, and one token shared by several services (a
    leak of it would start every one of their pipelines), are problems; a service without a token
    (no pipeline) is not. Each problem is ``{service, related, field, message, in_scope}`` as
    ``_model.problems`` returns them.
    """
    found, holders = [], {}
    for name in sorted(tokens):
        token = tokens[name]
        if token is None or token == "":
            continue
        if not isinstance(token, str) or not TOKEN.match(token):
            found.append({"service": name, "related": [], "field": "jenkins_webhook_token", "message": (
                f"service {name}: jenkins_webhook_token must be 16 to 256 letters, digits or ._~+/=- (it is sent"
                f" as a bearer token); set it from the vault (vault_jenkins_webhook_tokens['{name}'])")})  # fmt: skip
            continue
        holders.setdefault(token, []).append(name)
    for names in holders.values():
        if len(names) > 1:
            message = (
                f"services {', '.join(names)} share one jenkins_webhook_token: give each service its own (a"
                " leaked token would start all their pipelines); generate one per service into the vault"
            )
            found.append(
                {"service": names[0], "related": names[1:], "field": "jenkins_webhook_token", "message": message}
            )
    for problem in found:
        involved = [problem["service"], *problem["related"]]
        problem["in_scope"] = scope is None or any(name in scope for name in involved)
    return found


def token_files(names: list, tokens: list, secrets_dir: str) -> list:
    """One 0600 token file per service; ValueError naming a service whose token is too short,
    or the services that share one."""
    shared = [p for p in token_problems(dict(zip(names, tokens))) if p["related"]]
    if shared:
        raise ValueError(shared[0]["message"])
    files = []
    for name, token in zip(names, tokens):
        if not isinstance(token, str) or len(token) < 16:
            raise ValueError(
                f"service {name}: jenkins_webhook_token is missing or shorter than 16 characters; "
                f"set it from the vault (vault_jenkins_webhook_tokens['{name}'])"
            )
        files.append({"path": f"{secrets_dir}/webhook-{name}.token", "content": token, "mode": "0600", "diff": False})
    return files
