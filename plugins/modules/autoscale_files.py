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
  - O(directories) are made first when missing (their parent must exist). In check mode a
    missing one is reported in RV(created_directories) and the files in it as to be written, so a
    first run on a new site can be checked before it is made.
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
    description: Shows the content of each file written or removed, before and after.
    support: full
    details:
      - One diff per file, for the first 25 files; further files are listed by name in one more
        diff (a first onboarding writes hundreds).
      - A file with O(files[].diff=false) (a secret) shows that it changes, not its content.
options:
  files:
    description: The files to write.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path. Its folder must exist, or be one of O(directories).
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
      diff:
        description: Show the content in the diff; V(false) for a secret.
        type: bool
        default: true
  directories:
    description: Folders to make (non-recursively) before writing, when missing.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path; its parent must exist.
        type: path
        required: true
      mode:
        description: Permissions of a folder this call makes, as an octal string.
        type: str
        default: "0755"
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
      diff:
        description: Show the content of a removed file in the diff; V(false) for secrets.
        type: bool
        default: true
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

- name: Secret files in a folder of their own, made on the first run
  danacloud.vm_autoscale.autoscale_files:
    directories:
      - {path: /etc/alertmanager/secrets, mode: "0700"}
    files:
      - path: /etc/alertmanager/secrets/webhook-acme-web.token
        content: "{{ acme_web_token }}"
        mode: "0600"
        diff: false
  no_log: true
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
created_directories:
  description: Folders made (or that would be, in check mode).
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
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._failure import ModuleFailure, run

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
            "diff": {"type": "bool", "default": True},
        },
    },
    "directories": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "path": {"type": "path", "required": True},
            "mode": {"type": "str", "default": "0755"},
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
            "diff": {"type": "bool", "default": True},
        },
    },
    "promtool_path": {"type": "path"},
}


def _mode(module: AnsibleModule, entry: dict) -> int:
    try:
        return int(entry["mode"], 8)
    except ValueError as exc:
        what = "make the folder" if entry.get("content") is None else "write"
        raise ModuleFailure(
            f"{what} {entry['path']}", f"mode {entry['mode']!r} is not an octal string like '0644'"
        ) from exc


def _current(path: str) -> tuple:
    """(content or None, mode or None) of the file on disk."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return None, None
    except UnicodeDecodeError:
        return "", os.stat(path).st_mode & 0o7777


def _directories(module: AnsibleModule) -> list:
    """The folders to make: [(path, mode)] of those missing."""
    missing = []
    for entry in module.params["directories"]:
        path = entry["path"].rstrip("/") or "/"
        mode = _mode(module, entry)
        if not os.path.isabs(path):
            raise ModuleFailure(f"make the folder {path!r}", "the path must be absolute")
        if os.path.isdir(path):
            continue
        if os.path.lexists(path):
            raise ModuleFailure(f"make the folder {path}", "something that is not a folder is there")
        if not os.path.isdir(os.path.dirname(path)):
            raise ModuleFailure(
                f"make the folder {path}", f"its parent {os.path.dirname(path)} does not exist; make it first"
            )
        missing.append((path, mode))
    return missing


def _plan(module: AnsibleModule, made: set) -> list:
    """The files to write: [(entry, mode)], the others are counted as unchanged."""
    seen = set()
    plan = []
    for entry in module.params["files"]:
        path = entry["path"]
        if not os.path.isabs(path):
            raise ModuleFailure(f"write {path!r}", "the path must be absolute")
        if path in seen:
            raise ModuleFailure(f"write {path}", "it is given twice in files")
        seen.add(path)
        if not os.path.isdir(os.path.dirname(path)) and os.path.dirname(path) not in made:
            raise ModuleFailure(f"write {path}", f"directory {os.path.dirname(path)} does not exist")
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
        raise ModuleFailure("check the rule files", "promtool is not installed on this host (Debian: prometheus)")
    files = [(entry["path"], entry["content"]) for entry in rule_files]
    refusal = _prometheus.promtool_refusal(module.run_command, promtool, module.tmpdir, files)
    if refusal is not None:
        raise ModuleFailure(
            "write the rule files", f"promtool check rules refused them: {refusal}; no file was written"
        )


def _write(module: AnsibleModule, entry: dict, mode: int) -> None:
    path = entry["path"]
    try:
        _files.write_atomic(path, entry["content"], mode)
    except OSError as exc:
        raise ModuleFailure(f"write {path}", exc.strerror) from exc


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
                    found.append((path, rule["diff"]))
    return found


def _make_directories(module: AnsibleModule, directories: list) -> None:
    for path, mode in directories:
        try:
            os.mkdir(path, mode)
            os.chmod(path, mode)  # whatever the umask
        except FileExistsError:
            pass
        except OSError as exc:
            raise ModuleFailure(f"make the folder {path}", exc.strerror) from exc


# Content diffs of so many files at most; the rest are named in one more diff.
MAX_CONTENT_DIFFS = 25


HIDDEN = "(content not shown: a secret)\n"


def _file_diff(path: str, before: str | None, after: str | None, secret: bool) -> dict:
    if secret:
        before = None if before is None else HIDDEN
        after = None if after is None else ("(other content, not shown: a secret)\n" if before else HIDDEN)
    return {
        "before_header": path if before is not None else f"{path} (new)",
        "after_header": path if after is not None else f"{path} (removed)",
        "before": before or "",
        "after": after or "",
    }


def _diffs(plan: list, removed: list) -> list:
    """One before/after diff per file to write or remove (read before anything is written)."""
    changes = [(entry["path"], entry["content"], not entry["diff"]) for entry, _mode in plan]
    changes += [(path, None, not show) for path, show in removed]
    diffs = [_file_diff(path, _current(path)[0], after, secret) for path, after, secret in changes[:MAX_CONTENT_DIFFS]]
    rest = changes[MAX_CONTENT_DIFFS:]
    if rest:
        header = f"{len(rest)} more files (content not shown)"
        diffs.append(
            {
                "before_header": header,
                "after_header": header,
                "before": "".join(f"{path}\n" for path, after, _secret in rest if after is None),
                "after": "".join(f"{path}\n" for path, after, _secret in rest if after is not None),
            }
        )
    return diffs


def _run(module: AnsibleModule) -> dict:
    directories = _directories(module)
    plan = _plan(module, {path for path, _mode in directories})
    _check_rules(module, plan)
    removed = _prunable(module)
    diffs = _diffs(plan, removed) if module._diff else []
    if not module.check_mode:
        _make_directories(module, directories)
        for entry, mode in plan:
            _write(module, entry, mode)
        for path, _show in removed:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise ModuleFailure(f"remove {path}", exc.strerror) from exc
    written = [entry["path"] for entry, _mode in plan]
    result = {
        "changed": bool(written or removed or directories),
        "written": written,
        "removed": [path for path, _show in removed],
        "created_directories": [path for path, _mode in directories],
        "unchanged": len(module.params["files"]) - len(written),
    }
    if module._diff:
        result["diff"] = [
            *(
                {"before_header": f"{path} (new folder)", "after_header": path, "before": "", "after": "(folder)\n"}
                for path, _mode in directories
            ),
            *diffs,
        ]
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run(module, _run)


if __name__ == "__main__":
    main()
