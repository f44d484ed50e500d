"""What the crash-safety tests share (issue 18): a run of acme-web killed right after a step, the wait
for its lock to expire, and what a repaired service looks like everywhere.

A scale action runs with short step limits and its whole process group is SIGKILLed right after one
side-effect step (a callback plugin does it, so the kill lands exactly there:
tests/integration/callbacks/kill_after.py). The test waits until the lock the dead run held has
expired - read from the state document, not guessed - and triggers the service once more. Results
are read back from vcsim, both F5 devices, the leases, the Prometheus targets, the state document
and the event log. The tests are in three files (test_crash_safety*.py) so that the labs of
``make test`` run their waits for lock expiries side by side.
"""

import json
import os
import subprocess
import time
from pathlib import Path

from labclient import F5_A, F5_B, vm_names
from scaling import events, leases, members, service_state, targets

REPO = Path(__file__).resolve().parents[2]
STATIC = ["198.18.1.11:80", "198.18.1.12:80"]
NO_COOLDOWN = ("-e", "scale_out_respect_cooldown=false", "-e", "scale_in_respect_cooldown=false")
# Short step limits for the run that is killed, so that its lock expires within seconds.
SHORT_LIMITS = (
    "-e",
    json.dumps({
        "scale_out_lock_margin": 1, "scale_out_call_timeout": 3, "scale_out_lease_timeout": 8,
        "scale_out_vm_timeout": 12, "scale_out_boot_timeout": 12, "scale_out_health_timeout": 8,
        "scale_out_f5_sync_timeout": 6, "scale_out_f5_member_timeout": 20,
        "scale_in_lock_margin": 1, "scale_in_call_timeout": 3, "scale_in_vm_timeout": 15,
        "scale_in_f5_sync_timeout": 6, "scale_in_drain_timeout": 10,
    }),
)  # fmt: skip


def killed_run(tmp_path, playbook, task, *extra):
    """Run ``playbook`` for acme-web in a session of its own (with the arguments ``extra``); the callback
    SIGKILLs the group after ``task``."""
    env = {
        **os.environ,
        "ANSIBLE_CALLBACKS_ENABLED": "kill_after",
        "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "tests" / "integration" / "callbacks"),
        "VM_AUTOSCALE_TEST_KILL_AFTER": task,
    }
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", playbook, "-l", "acme-web"]
    with open(tmp_path / "killed.log", "w") as log:
        process = subprocess.Popen(
            [*argv, *NO_COOLDOWN, *SHORT_LIMITS, *extra], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            returncode = process.wait(timeout=300)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, 9)
                process.wait()
    output = (tmp_path / "killed.log").read_text()
    assert returncode == -9, f"the run was not killed after {task!r} (rc {returncode}):\n{output[-3000:]}"
    return output


def wait_for_the_dead_lock_to_expire(lab):
    """The dead run's intent and lock are there; sleep until the lock has expired (its own expiry)."""
    state = service_state(lab)
    assert state["intent"] is not None and state["lock"] is not None, state
    assert state["lock"]["owner"] == state["intent"]["run"]
    expiry = time.mktime(time.strptime(state["lock"]["expires_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    left = expiry - time.time()
    assert left < 60, f"the dead run's lock holds {left:.0f} s more: its step limits are not what the test set"
    time.sleep(max(0.0, left) + 1.2)
    return state["intent"]


def consistent(lab, vsphere):
    """The service's autoscaled VMs agree everywhere; returns their names."""
    vms = sorted(name for name in vm_names(vsphere) if name.startswith("acme-web-auto-"))
    by_owner = {lease["owner"]: (ip, lease["state"]) for ip, lease in leases(lab).items()}
    assert sorted(by_owner) == vms, (by_owner, vms)
    assert all(state == "in_use" for _ip, state in by_owner.values()), by_owner
    ips = sorted(ip for ip, _state in by_owner.values())
    expected = sorted([*STATIC, *(f"{ip}:80" for ip in ips)])
    assert members(F5_A) == expected and members(F5_B) == expected, (members(F5_A), members(F5_B), expected)
    expected_targets = [
        {"targets": [f"{by_owner[vm][0]}:9100"], "labels": {"service": "acme-web", "vm": vm}} for vm in vms
    ]
    assert sorted(targets(lab), key=lambda t: t["labels"]["vm"]) == expected_targets, targets(lab)
    state = service_state(lab)
    assert state["intent"] is None and state["lock"] is None, state
    return vms


def abandoned_event(lab, dead, by):
    """The one event of the dead run: abandoned, recorded by run ``by``."""
    recorded = [event for event in events(lab) if event["id"] == dead["run"]]
    assert len(recorded) == 1 and recorded[0]["status"] == "abandoned", recorded
    assert recorded[0]["repaired_by"] == by and recorded[0]["action"] == dead["action"], recorded[0]
    assert recorded[0]["intent"] == dead["vms"]
    return recorded[0]
