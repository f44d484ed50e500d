#!/usr/bin/python
# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: alert_rule
short_description: Manage one rule group in a Prometheus rule file, validated by promtool
version_added: 0.1.0
description:
  - Creates, updates or removes one rule group (alerting and recording rules) in a Prometheus
    rule file. The other groups of the file are kept as they are.
  - The candidate file is checked with C(promtool check rules) before it replaces the old one.
    If promtool refuses it, the module fails with promtool's message and the file is not touched.
    Prometheus keeps the old rules when a rule file is broken but applies the rest of a new
    configuration, so an unchecked rule file fails silently.
  - The file is replaced atomically. The comparison is semantic (V(5m) equals V(300s), an
    expression is compared without surrounding white space), so a group that says the same thing
    is not rewritten.
  - The module does not reload Prometheus. Notify a handler that sends C(POST /-/reload) when it
    reports a change.
author:
  - Dana Cloud platform team (@danacloud)
requirements:
  - PyYAML (on the host that holds the rule file)
  - promtool (on the host that holds the rule file, when O(validate=true))
attributes:
  check_mode:
    description: Can run in check mode and return the changed status it predicts without writing the file.
    support: full
    details:
      - The candidate file is still validated with promtool (in a temporary file).
  diff_mode:
    description: Returns the group before and after, as YAML.
    support: full
options:
  path:
    description:
      - The rule file. Its directory must exist.
    type: path
    required: true
  name:
    description:
      - Name of the rule group, unique in the file.
    type: str
    required: true
  state:
    description:
      - V(present) makes the group exactly O(rules) (created at the end of the file if missing).
      - V(absent) removes the group. Removing a group that is not there, or from a file that does
        not exist, is not an error.
    type: str
    choices: [present, absent]
    default: present
  interval:
    description:
      - How often the group is evaluated (a Prometheus duration). Without it, the global
        C(evaluation_interval) applies.
    type: str
  rules:
    description:
      - The rules of the group, in order. Required with O(state=present).
    type: list
    elements: dict
    suboptions:
      alert:
        description: Name of an alerting rule. Exactly one of O(rules[].alert) and O(rules[].record).
        type: str
      record:
        description: Name of the series a recording rule writes.
        type: str
      expr:
        description: The PromQL expression.
        type: str
        required: true
      for:
        description: How long the expression must hold before the alert fires (alerts only).
        type: str
      labels:
        description: Labels added to the alert or series.
        type: dict
      annotations:
        description: Annotations of the alert (alerts only).
        type: dict
  validate:
    description:
      - Check the candidate file with C(promtool check rules) before writing it.
    type: bool
    default: true
  promtool_path:
    description:
      - Path of promtool. By default it is looked up in C(PATH).
    type: path
  backup:
    description:
      - Keep a timestamped copy of the previous file next to it when it changes.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.files
notes:
  - The file is rewritten as YAML; comments in it are not preserved.
seealso:
  - name: Prometheus alerting rules
    description: The format of alerting rules.
    link: https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/
"""

EXAMPLES = r"""
- name: Scale-out alert of acme-web
  danacloud.vm_autoscale.alert_rule:
    path: /etc/prometheus/rules/vm_autoscale-acme-web.yml
    name: vm_autoscale-acme-web
    rules:
      - alert: VmAutoscaleScaleOut
        expr: avg by (service) (vm_autoscale:cpu_percent{service="acme-web"}) > 75
        for: 1m
        labels:
          service: acme-web
          autoscale_action: scale_out
          severity: info
        annotations:
          summary: acme-web is above 75% CPU
    mode: "0644"
  notify: Reload Prometheus

- name: Remove the group of an offboarded service
  danacloud.vm_autoscale.alert_rule:
    path: /etc/prometheus/rules/vm_autoscale-globex-api.yml
    name: vm_autoscale-globex-api
    state: absent
  notify: Reload Prometheus
"""

RETURN = r"""
path:
  description: The rule file.
  returned: always
  type: str
  sample: /etc/prometheus/rules/vm_autoscale-acme-web.yml
rule_group:
  description:
    - The group as written (V(null) with O(state=absent)). Named so because Ansible adds the file's
      owning C(group) to the result.
  returned: always
  type: dict
  sample: {name: vm_autoscale-acme-web, rules: [{alert: VmAutoscaleScaleOut, expr: "vector(1)"}]}
backup_file:
  description: The copy of the previous file, when O(backup=true) and the file changed.
  returned: changed and backup requested
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _files, _prometheus
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._failure import ModuleFailure, run

HEADER = (
    "# Prometheus rule file. The groups written by danacloud.vm_autoscale.alert_rule are managed by\n"
    "# Ansible; other groups are kept. Comments are not preserved.\n"
)

RULE_OPTIONS = {
    "alert": {"type": "str"},
    "record": {"type": "str"},
    "expr": {"type": "str", "required": True},
    "for": {"type": "str"},
    "labels": {"type": "dict"},
    "annotations": {"type": "dict"},
}

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "interval": {"type": "str"},
    "rules": {"type": "list", "elements": "dict", "options": RULE_OPTIONS},
    "validate": {"type": "bool", "default": True},
    "promtool_path": {"type": "path"},
    "backup": {"type": "bool", "default": False},
}


def _action(params: dict) -> str:
    """What the call does, for its failure message."""
    verb = "remove" if params["state"] == "absent" else "write"
    return f"{verb} rule group {params['name']} in {params['path']}"


def _read(params: dict, path: str) -> tuple:
    """(text, groups) of the current file; ('', []) when it does not exist."""
    if not os.path.exists(path):
        directory = os.path.dirname(path) or "."
        if params["state"] == "present" and not os.path.isdir(directory):
            raise ModuleFailure(_action(params), f"directory {directory} does not exist")
        return None, []
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        return text, _prometheus.parse_rule_file(path, text)
    except OSError as exc:
        raise ModuleFailure(_action(params), f"cannot read the file: {to_native(exc)}") from exc
    except _prometheus.RuleFileError as exc:
        raise ModuleFailure(_action(params), f"{exc}; the file was left untouched") from exc


def _wanted(params: dict) -> dict | None:
    if params["state"] == "absent":
        return None
    rules = params["rules"]
    if not rules:
        raise ModuleFailure(_action(params), "invalid rules: state=present needs at least one rule")
    for index, rule in enumerate(rules):
        if bool(rule.get("alert")) == bool(rule.get("record")):
            raise ModuleFailure(_action(params), f"invalid rules[{index}]: give exactly one of alert or record")
    group = _prometheus.render_group(params["name"], rules, params["interval"])
    try:
        _prometheus.canonical_group("group", group)
    except _prometheus.RuleFileError as exc:
        raise ModuleFailure(_action(params), f"invalid rules: {exc}; nothing was changed") from exc
    return group


def _validate(module: AnsibleModule, content: str) -> None:
    promtool = module.params["promtool_path"] or module.get_bin_path("promtool")
    if not promtool:
        raise ModuleFailure(
            _action(module.params),
            "promtool is not installed on this host to validate it; install it "
            "(Debian: prometheus), set promtool_path, or validate=false knowingly",
        )
    refusal = _prometheus.promtool_refusal(
        module.run_command, promtool, module.tmpdir, [(module.params["path"], content)]
    )
    if refusal is not None:
        raise ModuleFailure(
            _action(module.params),
            f"promtool check rules refused the file: {refusal}; the rule file was left untouched",
        )


def _write(module: AnsibleModule, path: str, content: str) -> str | None:
    backup_file = None
    if module.params["backup"] and os.path.exists(path):
        backup_file = module.backup_local(path)
    try:
        _files.write_atomic(path, content, _files.current_mode(path, 0o644))
    except OSError as exc:
        raise ModuleFailure(_action(module.params), f"cannot write the file: {to_native(exc)}") from exc
    return backup_file


def _run(module: AnsibleModule) -> dict:
    if not _prometheus.HAS_YAML:
        raise ModuleFailure(
            _action(module.params), missing_required_lib("PyYAML"), exception=str(_prometheus.YAML_IMPORT_ERROR)
        )
    path = module.params["path"]
    name = module.params["name"]
    wanted = _wanted(module.params)
    text, groups = _read(module.params, path)
    index = next((i for i, group in enumerate(groups) if group["name"] == name), None)
    current = groups[index] if index is not None else None

    if wanted is None:
        changed = current is not None
        new_groups = [group for group in groups if group["name"] != name]
    else:
        changed = current is None or _prometheus.canonical_group("group", current) != _prometheus.canonical_group(
            "group", wanted
        )
        new_groups = list(groups)
        if index is None:
            new_groups.append(wanted)
        else:
            new_groups[index] = wanted

    result = {"changed": changed, "path": path, "rule_group": wanted}
    if module._diff:
        result["diff"] = {
            "before": _prometheus.dump_group(current),
            "after": _prometheus.dump_group(wanted),
            "before_header": f"{path} (group {name})",
            "after_header": f"{path} (group {name})",
        }
    if changed:
        content = _prometheus.dump_rule_file(new_groups, HEADER)
        if module.params["validate"]:
            _validate(module, content)
        if not module.check_mode:
            backup_file = _write(module, path, content)
            if backup_file:
                result["backup_file"] = backup_file
    if text is not None or (changed and not module.check_mode):
        file_args = module.load_file_common_arguments(module.params, path=path)
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        add_file_common_args=True,
        supports_check_mode=True,
        required_if=[["state", "present", ["rules"]]],
    )
    run(module, _run)


if __name__ == "__main__":
    main()
