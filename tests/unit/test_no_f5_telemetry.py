"""Every task that calls an f5networks.f5_modules module turns F5's telemetry (TEEM) off: the
collection never sends anything to F5 from the operator's network."""

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FILES = sorted(
    [*REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("playbooks/*.yml"), *REPO.glob("extensions/molecule/*/*.yml")]
)


SCALE_PROVIDERS = next(
    task["ansible.builtin.set_fact"]["scale_common_f5_providers"]
    for task in yaml.safe_load((REPO / "roles" / "scale_common" / "tasks" / "start.yml").read_text())
    if "scale_common_f5_providers" in (task.get("ansible.builtin.set_fact") or {})
)


def tasks(node):
    if isinstance(node, list):
        for item in node:
            yield from tasks(item)
    elif isinstance(node, dict):
        if any(str(key).startswith("f5networks.f5_modules.") for key in node):
            yield node
        for value in node.values():
            yield from tasks(value)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_f5_tasks_turn_telemetry_off(path):
    for task in tasks(yaml.safe_load(path.read_text())):
        (module,) = [key for key in task if str(key).startswith("f5networks.f5_modules.")]
        provider = task[module].get("provider")
        if isinstance(provider, str) and provider.startswith("{{ scale_common_f5_providers["):
            # the scale roles' one provider per device, built by the internal role scale_common
            assert "'no_f5_teem': true" in SCALE_PROVIDERS, f"{path}: {task.get('name')}"
            continue
        if isinstance(provider, str):  # a variable: look it up in the task's vars, or the role's vars/main.yml
            name = provider.strip("{} ")
            role_vars = path.parents[1] / "vars" / "main.yml"
            known = {
                **(yaml.safe_load(role_vars.read_text()) if role_vars.exists() else {}),
                **(task.get("vars") or {}),
            }
            provider = known.get(name, provider)
        assert isinstance(provider, dict) and provider.get("no_f5_teem") is True, f"{path}: {task.get('name')}"


def test_the_check_sees_the_f5_tasks():
    found = sum(len(list(tasks(yaml.safe_load(path.read_text())))) for path in FILES)
    assert found >= 9, found  # vm_template 1, scale_out 2, scale_in 2, reconcile 2, molecule 2
