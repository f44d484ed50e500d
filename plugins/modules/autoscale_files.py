#!/usr/bin/python
# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: autoscale_files
short_description: Write many small configuration files in one call, checked and pruned
version_added: 0.1.0
description:
  - Writes a set of files (targets, rule files, metrics) in one call. Onboarding uses it instead
    of running one task per file and service.
  - Each file is written only when its content or mode differs, atomically (temporary file in the
    same folder, fsync, rename). A file with O(files[].force=false) is only created, never
    rewritten.
  - Files marked O(files[].check=rules) are checked together with one C(promtool check rules) call
    before anything is written. If promtool refuses one, the module fails with promtool's message
    naming the real path, and no file is written.
  - O(prune) removes files in a folder that match a pattern and are not in its keep list (the
    files of services that left the inventory).
author:
  - Dana Cloud platform team (@danacloud)
requirements:
  - promtool (when a file has O(files[].check=rules))
attributes:
  check_mode:
    description: Can run in check mode and return the changed status it predicts without writing.
    support: full
    details:
      - Rule files are still checked with promtool, in a temporary folder.
  diff_mode:
    description: Lists the files that would be written and removed.
    support: partial
    details:
      - The diff names the files, not their content (hundreds of files at once).
options:
  files:
    description: The files to write.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path. Its folder must exist.
        type: path
        required: true
      content:
        description: The whole content.
        type: str
        required: true
      mode:
        description: Permissions, as an octal string.
        type: str
        default: "0644"
      force:
        description: Rewrite a file whose content differs; V(false) only creates missing files.
        type: bool
        default: true
      check:
        description: V(rules) to check the file with C(promtool check rules) first.
        type: str
        choices: [none, rules]
        default: none
  prune:
    description: Files to remove.
    type: list
    elements: dict
    default: []
    suboptions:
      directory:
        description: The folder (a missing folder has nothing to prune).
        type: path
        required: true
      pattern:
        description: A shell pattern of the file names this call owns, for example V(vm_autoscale-*.yml).
        type: str
        required: true
      keep:
        description: File names (not paths) to keep.
        type: list
        elements: str
        default: []
  promtool_path:
    description: promtool; by default looked up in C(PATH).
    type: path
notes:
  - Set C(no_log) on the task when the contents are secrets.
"""

EXAMPLES = r"""
- name: Targets and rules of every service at once
  danacloud.vm_autoscale.autoscale_files:
    files:
      - path: /etc/prometheus/file_sd/vm_autoscale-acme-web-static.json
        content: '[{"targets": ["198.18.1.11:9100"], "labels": {"service": "acme-web"}}]'
      - path: /etc/prometheus/rules/vm_autoscale-acme-web.yml
        content: "{{ rule_file_text }}"
        check: rules
    prune:
      - directory: /etc/prometheus/rules
        pattern: vm_autoscale-*.yml
        keep: [vm_autoscale-acme-web.yml]
"""

RETURN = r"""
written:
  description: Files written (or that would be, in check mode).
  returned: always
  type: list
  elements: str
removed:
  description: Files removed by O(prune) (or that would be).
  returned: always
  type: list
  elements: str
unchanged:
  description: How many files already had the wanted content and mode.
  returned: always
  type: int
"""

import fnmatch
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _files, _prometheus

ARGUMENT_SPEC = {
    "files": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "path": {"type": "path", "required": True},
            "content": {"type": "str", "required": True},
            "mode": {"type": "str", "default": "0644"},
            "force": {"type": "bool", "default": True},
            "check": {"type": "str", "choices": ["none", "rules"], "default": "none"},
        },
    },
    "prune": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "directory": {"type": "path", "required": True},
            "pattern": {"type": "str", "required": True},
            "keep": {"type": "list", "elements": "str", "default": []},
        },
    },
    "promtool_path": {"type": "path"},
}


def _mode(module: AnsibleModule, entry: dict) -> int:
    try:
        return int(entry["mode"], 8)
    except ValueError:
        module.fail_json(
            msg=f"Invalid mode {entry['mode']!r} of {entry['path']}: write it as an octal string like '0644'"
        )


def _current(path: str) -> tuple:
    """(content or None, mode or None) of the file on disk."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return None, None
    except UnicodeDecodeError:
        return "", os.stat(path).st_mode & 0o7777


def _plan(module: AnsibleModule) -> list:
    """The files to write: [(entry, mode)], the others are counted as unchanged."""
    seen = set()
    plan = []
    for entry in module.params["files"]:
        path = entry["path"]
        if not os.path.isabs(path):
            module.fail_json(msg=f"Invalid path {path!r}: it must be absolute")
        if path in seen:
            module.fail_json(msg=f"Invalid files: {path} is given twice")
        seen.add(path)
        if not os.path.isdir(os.path.dirname(path)):
            module.fail_json(msg=f"Failed to write {path}: directory {os.path.dirname(path)} does not exist")
        mode = _mode(module, entry)
        content, current_mode = _current(path)
        if content is not None and not entry["force"]:
            continue
        if content == entry["content"] and current_mode == mode:
            continue
        plan.append((entry, mode))
    return plan


def _check_rules(module: AnsibleModule, plan: list) -> None:
    rule_files = [entry for entry, _mode in plan if entry["check"] == "rules"]
    if not rule_files:
        return
    promtool = module.params["promtool_path"] or module.get_bin_path("promtool")
    if not promtool:
        module.fail_json(msg="Failed to check rule files: promtool is not installed on this host (Debian: prometheus)")
    files = [(entry["path"], entry["content"]) for entry in rule_files]
    refusal = _prometheus.promtool_refusal(module.run_command, promtool, module.tmpdir, files)
    if refusal is not None:
        module.fail_json(
            msg=f"Failed to write the rule files: promtool check rules refused them: {refusal}; no file was written"
        )


def _write(module: AnsibleModule, entry: dict, mode: int) -> None:
    path = entry["path"]
    try:
        _files.write_atomic(path, entry["content"], mode)
    except OSError as exc:
        module.fail_json(msg=f"Failed to write {path}: {exc.strerror}")


def _prunable(module: AnsibleModule) -> list:
    found = []
    for rule in module.params["prune"]:
        directory = rule["directory"]
        if not os.path.isdir(directory):
            continue
        keep = set(rule["keep"])
        for name in sorted(os.listdir(directory)):
            if fnmatch.fnmatchcase(name, rule["pattern"]) and name not in keep:
                path = os.path.join(directory, name)
                if os.path.isfile(path):
                    found.append(path)
    return found


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    plan = _plan(module)
    _check_rules(module, plan)
    removed = _prunable(module)
    if not module.check_mode:
        for entry, mode in plan:
            _write(module, entry, mode)
        for path in removed:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                module.fail_json(msg=f"Failed to remove {path}: {exc.strerror}")
    written = [entry["path"] for entry, _mode in plan]
    result = {
        "changed": bool(written or removed),
        "written": written,
        "removed": removed,
        "unchanged": len(module.params["files"]) - len(written),
    }
    if module._diff:
        result["diff"] = {
            "before": "".join(f"{path}\n" for path in removed),
            "after": "".join(f"{path}\n" for path in written),
            "before_header": "files removed",
            "after_header": "files written",
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
