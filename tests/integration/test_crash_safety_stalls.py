"""A run that stalls is not a dead one (issue 18): frozen until its lock was taken over, or cut off
from the state host half-way - it stops without acting further, and the next run repairs.

How the runs are stopped and what a repaired service looks like: tests/integration/crash.py.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

from crash import NO_COOLDOWN, REPO, SHORT_LIMITS, STATIC, abandoned_event, consistent, wait_for_the_dead_lock_to_expire
from labclient import F5_A, F5_B, vm_names
from scaling import events, leases, members, targets


def test_a_frozen_run_whose_lock_was_taken_over_stops_without_touching_the_repair(
    run_playbook, prepared, vsphere, tmp_path
):
    """A slow run is not a dead one until its lock expires; once another run has taken the lock over
    and repaired, the frozen run - continued - finds its lock gone at its next renewal and stops."""
    lab = prepared
    env = {
        **os.environ,
        "ANSIBLE_CALLBACKS_ENABLED": "kill_after",
        "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "tests" / "integration" / "callbacks"),
        "VM_AUTOSCALE_TEST_KILL_AFTER": "Wait for the application's health endpoint",
        "VM_AUTOSCALE_TEST_SIGNAL": "STOP",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",  # its messages whole, not folded
    }
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", "playbooks/scale_out.yml"]
    log = open(tmp_path / "frozen.log", "w")  # open while the run lives
    frozen = subprocess.Popen(
        [*argv, "-l", "acme-web", *NO_COOLDOWN, *SHORT_LIMITS], cwd=REPO, env=env, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        # Stopped (state T) once its VM is healthy: the callback stopped its own process group.
        deadline = time.time() + 120
        while time.time() < deadline and frozen.poll() is None:
            status = Path(f"/proc/{frozen.pid}/stat").read_text().split(")")[-1].split()[0]
            if status == "T":
                break
            time.sleep(0.2)
        assert frozen.poll() is None and status == "T", (tmp_path / "frozen.log").read_text()[-3000:]
        intent = wait_for_the_dead_lock_to_expire(lab)

        again = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN)
        assert again.returncode == 0, again.stdout[-3000:]
        repaired_by = events(lab)[-1]["id"]
        recorded = abandoned_event(lab, intent, repaired_by)
        assert recorded["removed"] == ["acme-web-auto-0001"]
        before = {"vms": consistent(lab, vsphere), "leases": leases(lab), "targets": targets(lab)}

        os.killpg(frozen.pid, signal.SIGCONT)
        returncode = frozen.wait(timeout=120)
    finally:
        if frozen.poll() is None:
            os.killpg(frozen.pid, signal.SIGKILL)
            frozen.wait()
        log.close()
    output = (tmp_path / "frozen.log").read_text()
    assert returncode != 0 and f"run {intent['run']} no longer holds the lock of service acme-web" in output, output[
        -3000:
    ]
    # It changed nothing: the repairing run's VM, lease, members and target are as that run left them.
    after = {"vms": consistent(lab, vsphere), "leases": leases(lab), "targets": targets(lab)}
    assert after == before
    assert [event["id"] for event in events(lab)].count(intent["run"]) == 1  # only the abandoned event


def test_the_state_host_unreachable_half_way_stops_the_run_and_the_next_run_repairs(
    run_playbook, prepared, vsphere, tmp_path
):
    """The state host stops answering right after the clone (connection_plugins/cut_local.py): the
    run cannot renew its lock, so it stops there - UNREACHABLE, no undo, nothing more on vCenter,
    the F5 devices or the targets. When the state host is back and the lock has expired, the next
    run repairs what it left and scales out."""
    lab = prepared
    cut = tmp_path / "cut"
    overlay = tmp_path / "cut.yml"
    overlay.write_text("all:\n  hosts:\n    plg-lab:\n      ansible_connection: cut_local\n")
    env = {
        **os.environ,
        "ANSIBLE_CALLBACKS_ENABLED": "kill_after",
        "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "tests" / "integration" / "callbacks"),
        "ANSIBLE_CONNECTION_PLUGINS": str(REPO / "tests" / "integration" / "connection_plugins"),
        "VM_AUTOSCALE_TEST_KILL_AFTER": "Clone the service's template",
        "VM_AUTOSCALE_TEST_SIGNAL": "CUT",
        "VM_AUTOSCALE_TEST_CUT_FILE": str(cut),
    }
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", "-i", str(overlay)]
    before = len(events(lab))
    run = subprocess.run(
        [*argv, "playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN, *SHORT_LIMITS], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert cut.exists(), output[-3000:]  # the cut came after the clone
    assert run.returncode == 4 and "UNREACHABLE" in output and "cut by the test" in output, output[-3000:]
    # It stopped without acting further: the VM it cloned is there, outside the pool and the targets,
    # its address still only reserved; no undo ran, and no event could be written.
    assert [name for name in vm_names(vsphere) if name.startswith("acme-web-auto-")] == ["acme-web-auto-0001"]
    assert members(F5_A) == STATIC and members(F5_B) == STATIC and targets(lab) == []
    assert [lease["state"] for lease in leases(lab).values()] == ["reserved"]
    assert len(events(lab)) == before

    cut.unlink()  # the state host answers again
    intent = wait_for_the_dead_lock_to_expire(lab)
    assert [vm["vm"] for vm in intent["vms"]] == ["acme-web-auto-0001"]
    again = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN)
    assert again.returncode == 0, again.stdout[-3000:]
    recorded = abandoned_event(lab, intent, events(lab)[-1]["id"])
    assert recorded["removed"] == ["acme-web-auto-0001"] and recorded["kept"] == []
    assert events(lab)[-1]["status"] == "success"
    assert len(consistent(lab, vsphere)) == 1
