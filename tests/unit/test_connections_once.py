"""Connections are declared once per role (issue 22): vCenter and the F5 login in module_defaults
on the block of the role's tasks/main.yml, the vendor F5 modules' provider in the role's
vars/main.yml - never task by task, where one copy drifts from the others."""

from functools import cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VCENTER_MODULES = ("community.vmware.", "vmware.vmware.", "danacloud.vm_autoscale.autoscale_vm_info")
OUR_F5 = ("danacloud.vm_autoscale.f5_pool_status", "danacloud.vm_autoscale.f5_config_sync")
VENDOR_F5 = "f5networks.f5_modules."
LOGIN = {"hostname", "port", "username", "password", "validate_certs", "user", "pass", "pwd", "admin"}
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
            if args.get("provider") != f"{{{{ {role}_f5_provider }}}}":
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
    if role in ("scale_in", "reconcile"):
        kinds |= uses("scale_out")  # they run scale_out's steps under their own main block
    main = load(REPO / "roles" / role / "tasks" / "main.yml")
    if not kinds:
        assert not any("module_defaults" in task for task in tasks(main))
        return
    (block,) = main  # everything the role does is under the one block
    defaults = block.get("module_defaults") or {}
    assert sorted(defaults) == sorted(group for kind in kinds for group in GROUPS[kind]), sorted(defaults)
    for kind in kinds:
        first, *rest = (defaults[group] for group in GROUPS[kind])
        assert all(other == first for other in rest)
        assert all(f"{role}_" in str(value) for value in first.values()), first


@pytest.mark.parametrize("role", ["scale_out", "scale_in", "reconcile", "vm_template"])
def test_the_vendor_f5_provider_is_built_in_the_roles_vars(role):
    provider = yaml.safe_load((REPO / "roles" / role / "vars" / "main.yml").read_text())[f"{role}_f5_provider"]
    assert provider["server"] == f"{{{{ {role}_f5_device.server }}}}"
    assert provider["user"] == f"{{{{ {role}_f5_username }}}}" and provider["no_f5_teem"] is True
