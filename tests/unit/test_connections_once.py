"""Connections are declared once per role (issue 22): vCenter and the F5 login in module_defaults
on the block of the role's tasks/main.yml, the vendor F5 modules' provider built once - by the
internal role scale_common for the scale roles, in vars/main.yml for vm_template - never task by
task, where one copy drifts from the others."""

from functools import cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VCENTER_MODULES = ("community.vmware.", "vmware.vmware.", "danacloud.vm_autoscale.autoscale_vm_info")
OUR_F5 = ("danacloud.vm_autoscale.f5_pool_status", "danacloud.vm_autoscale.f5_config_sync")
VENDOR_F5 = "f5networks.f5_modules."
LOGIN = {"hostname", "port", "username", "password", "validate_certs", "user", "pass", "pwd", "admin"}
# The scale roles and their internal role: one F5 provider per device, built by scale_common's start.
SCALE_ROLES = ("scale_out", "scale_in", "reconcile", "scale_common")
GROUPS = {
    "vcenter": ["group/community.vmware.vmware", "group/vmware.vmware.vmware", "group/danacloud.vm_autoscale.vcenter"],
    "f5": ["group/danacloud.vm_autoscale.f5"],
}


def tasks(items):
    for task in items or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from tasks(task.get(key))


def module_of(task):
    return next((key for key in task if "." in key and not key.startswith("ansible.builtin.")), None)


def load(path):
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader


@cache
def role_tasks():
    found = []
    for path in sorted((REPO / "roles").glob("*/tasks/*.yml")):
        for task in tasks(load(path)):
            module = module_of(task)
            if module:
                found.append((path, task, module))
    return found


def test_no_task_logs_in_by_itself():
    found = []
    for path, task, module in role_tasks():
        args = task[module] if isinstance(task[module], dict) else {}
        if module.startswith(VCENTER_MODULES) and LOGIN & set(args):
            found.append((str(path.relative_to(REPO)), task["name"], sorted(LOGIN & set(args))))
        if module in OUR_F5 and {"username", "password", "validate_certs", "ca_path"} & set(args):
            found.append((str(path.relative_to(REPO)), task["name"], "F5 login"))
        if module.startswith(VENDOR_F5):
            role = path.parts[-3]
            if role in SCALE_ROLES:
                if not str(args.get("provider")).startswith("{{ scale_common_f5_providers["):
                    found.append(
                        (str(path.relative_to(REPO)), task["name"], "provider is not scale_common_f5_providers")
                    )
            elif args.get("provider") != f"{{{{ {role}_f5_provider }}}}":
                found.append((str(path.relative_to(REPO)), task["name"], f"provider is not {role}_f5_provider"))
            elif f"{role}_f5_device" not in (task.get("vars") or {}):
                found.append((str(path.relative_to(REPO)), task["name"], f"no {role}_f5_device"))
    assert not found, found


def uses(role):
    kinds = set()
    for path, _task, module in role_tasks():
        if path.parts[-3] == role:
            kinds |= {"vcenter"} if module.startswith(VCENTER_MODULES) else set()
            kinds |= {"f5"} if module in OUR_F5 else set()
    return kinds


@pytest.mark.parametrize(
    "role", sorted(p.name for p in (REPO / "roles").iterdir() if (p / "tasks" / "main.yml").exists())
)
def test_a_role_sets_the_connections_it_uses_once_on_its_main_block(role):
    kinds = uses(role)
    if role == "scale_common":
        kinds = set()  # internal: its steps run under the main block of the scale role that calls them
    elif role in SCALE_ROLES:
        kinds |= uses("scale_common")
    main = load(REPO / "roles" / role / "tasks" / "main.yml")
    if not kinds:
        assert not any("module_defaults" in task for task in tasks(main))
        return
    (block,) = main  # everything the role does is under the one block
    defaults = dict(block.get("module_defaults") or {})
    # besides the logins: the run lock's owner for its renewals before each step (scale_out, scale_in)
    lock = defaults.pop("danacloud.vm_autoscale.autoscale_lock", None)
    assert lock is None or (role in ("scale_out", "scale_in") and sorted(lock) == ["owner", "service", "state_dir"])
    assert sorted(defaults) == sorted(group for kind in kinds for group in GROUPS[kind]), sorted(defaults)
    for kind in kinds:
        first, *rest = (defaults[group] for group in GROUPS[kind])
        assert all(other == first for other in rest)
        assert all(f"{role}_" in str(value) for value in first.values()), first


def test_the_vendor_f5_provider_is_built_in_the_roles_vars():
    provider = yaml.safe_load((REPO / "roles" / "vm_template" / "vars" / "main.yml").read_text())[
        "vm_template_f5_provider"
    ]
    assert provider["server"] == "{{ vm_template_f5_device.server }}"
    assert provider["user"] == "{{ vm_template_f5_username }}" and provider["no_f5_teem"] is True


def test_the_scale_roles_f5_providers_are_built_once_by_scale_common_and_not_logged():
    (task,) = [t for t in tasks(load(REPO / "roles" / "scale_common" / "tasks" / "start.yml"))
               if "scale_common_f5_providers" in (t.get("ansible.builtin.set_fact") or {})]  # fmt: skip
    built = task["ansible.builtin.set_fact"]["scale_common_f5_providers"]
    assert task["no_log"] is True
    for part in ("'server': item.server", "'user': scale_common_f5_username", "'no_f5_teem': true"):
        assert part in built, built
    for role in ("scale_out", "scale_in", "reconcile"):
        assert "f5_provider" not in (REPO / "roles" / role / "vars" / "main.yml").read_text()
