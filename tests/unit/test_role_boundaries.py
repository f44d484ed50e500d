"""The roles are peers (issue 22): no role reaches into another role's task files. The steps the
scale roles share are the internal role scale_common's; every task file a role or playbook calls
in another role is an entry point declared in that role's argument specs, and is called by its
entry point name, so that ansible-core validates its inputs (a name with ``.yml`` skips the check)."""

import os
import subprocess
import sys
from pathlib import Path

import yaml
from playbook_tasks import tasks

REPO = Path(__file__).resolve().parents[2]
INCLUDES = ("ansible.builtin.include_role", "ansible.builtin.import_role")


def calls():
    """(file, caller role or None, called role, tasks_from) of every role include in roles/ and playbooks/."""
    found = []
    for path in sorted([*REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("playbooks/*.yml")]):
        caller = path.parts[-3] if path.parts[-4:-3] == ("roles",) else None
        for task in tasks(yaml.safe_load(path.read_text())):
            for action in INCLUDES:
                if action in task:
                    called = task[action]["name"].removeprefix("danacloud.vm_autoscale.")
                    found.append((str(path.relative_to(REPO)), caller, called, task[action].get("tasks_from", "main")))
    return found


def entry_points(role):
    return set(yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"])


def test_a_role_calls_no_other_role_but_the_internal_one():
    reaching = [call for call in calls() if call[1] is not None and call[2] != "scale_common"]
    assert not reaching, reaching
    # scale_out, scale_in and reconcile each call the shared steps; none calls another's
    callers = {call[1] for call in calls() if call[2] == "scale_common"}
    assert {"scale_out", "scale_in", "reconcile"} <= callers, callers


def test_every_task_file_called_in_another_role_is_a_declared_entry_point_called_by_name():
    wrong = []
    for where, _caller, called, entry in calls():
        if entry.endswith((".yml", ".yaml")) or entry not in entry_points(called):
            wrong.append((where, called, entry))
    assert not wrong, wrong
    # the internal role declares every task file it has (each can be called, each is validated)
    files = {path.stem for path in (REPO / "roles" / "scale_common" / "tasks").glob("*.yml")}
    assert files == entry_points("scale_common"), files ^ entry_points("scale_common")


def test_the_internal_role_refuses_to_run_on_its_own(tmp_path):
    playbook = tmp_path / "alone.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles: [danacloud.vm_autoscale.scale_common]\n")
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.minimal",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(playbook)],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert (
        "danacloud.vm_autoscale.scale_common is internal to the roles scale_out, scale_in and reconcile" in done.stdout
    )
    assert "Nothing was changed" in done.stdout
