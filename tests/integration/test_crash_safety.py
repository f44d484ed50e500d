"""A run killed at any step is repaired by the next run of the service (issue 18).

A scale action of acme-web runs with short step limits and its whole process group is SIGKILLed
right after one side-effect step (a callback plugin does it, so the kill lands exactly there:
tests/integration/callbacks/kill_after.py). The test waits until the lock the dead run held has
expired - read from the state document, not guessed - and triggers the service once more. The
runs form a chain: the next run repairs the dead one first and is itself killed at the next
step, so every repair is also done by a run that then dies; the last run ends. Read back from
vcsim, both F5 devices, the leases, the Prometheus targets, the state document and the event log:
no run failed for the lock; each dead run is recorded as abandoned, once, by the run after it,
with what it repaired; nothing of a dead run is left; the service ends at a consistent size; and
the last run's own action succeeded.
"""

import json
import os
import signal
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

# Scale-out: (kill point, the task right after which the run dies). Each killed run first repairs
# what the one before it left (a repair by a run that then dies itself), then makes its own VM.
# The last point leaves a serving VM, which the final run keeps.
SCALE_OUT_KILLS = [
    ("after the lease", "Reserve an address"),
    ("after the clone and power-on", "Clone the service's template"),
    ("after the Prometheus target", "Add the VM to the service's Prometheus targets"),
    ("after the member on the first F5 device", "Add the member to the pool"),
    ("after the config sync", "Push to the peer by config-sync from the active device - new member"),
    ("before the event", "Renew the run lock: record the event"),
]
# Scale-in: (playbook, the task after which it dies or None for a run that ends, what the run
# repairs of the one before it, the autoscaled VMs after it when it ends).
SCALE_IN_STORY = [
    ("playbooks/scale_in.yml", "Power off the VM", None, None),  # after the power-off
    ("playbooks/scale_out.yml", None, "removed", ["acme-web-auto-0001"]),
    ("playbooks/scale_in.yml", "Delete the VM", None, None),  # before the lease release
    ("playbooks/scale_out.yml", None, "removed", ["acme-web-auto-0001"]),
    ("playbooks/scale_in.yml", "Disable the member", None, None),  # after the disable
    ("playbooks/scale_in.yml", "Remove the member from the pool", "put_back", None),  # after the member removal
    ("playbooks/scale_in.yml", None, "put_back", []),
]


def killed_run(tmp_path, playbook, task):
    """Run ``playbook`` for acme-web in a session of its own; the callback SIGKILLs the group after ``task``."""
    env = {
        **os.environ,
        "ANSIBLE_CALLBACKS_ENABLED": "kill_after",
        "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "tests" / "integration" / "callbacks"),
        "VM_AUTOSCALE_TEST_KILL_AFTER": task,
    }
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", playbook, "-l", "acme-web"]
    with open(tmp_path / "killed.log", "w") as log:
        process = subprocess.Popen(
            [*argv, *NO_COOLDOWN, *SHORT_LIMITS], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
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


def test_a_scale_out_killed_at_each_step_is_repaired_by_the_next_run(run_playbook, prepared, vsphere, tmp_path):
    lab = prepared
    dead = None
    for point, task in SCALE_OUT_KILLS:
        killed_run(tmp_path, "playbooks/scale_out.yml", task)
        intent = wait_for_the_dead_lock_to_expire(lab)
        assert intent["action"] == "scale_out" and [vm["vm"] for vm in intent["vms"]] == ["acme-web-auto-0001"], point
        if dead is not None:  # this run repaired the one before it, then made its own VM (and died)
            repair = abandoned_event(lab, dead, intent["run"])
            assert repair["removed"] == ["acme-web-auto-0001"] and repair["kept"] == [], (point, repair)
            # nothing of the dead run is left: every lease is this run's
            assert {lease["requested_by"] for lease in leases(lab).values()} <= {intent["run"]}, (point, leases(lab))
        dead = intent

    again = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN)
    assert again.returncode == 0, again.stdout[-3000:]
    repair = abandoned_event(lab, dead, events(lab)[-1]["id"])
    assert repair["kept"] == ["acme-web-auto-0001"] and repair["removed"] == []  # it was serving
    assert events(lab)[-1]["action"] == "scale_out" and events(lab)[-1]["status"] == "success"
    assert consistent(lab, vsphere) == ["acme-web-auto-0001", "acme-web-auto-0002"]
    state = service_state(lab)
    assert state["actions_total"]["scale_out"]["abandoned"] == len(SCALE_OUT_KILLS)
    assert state["consecutive_failures"] == 0 and not state["suspended"]  # a dead runner is not the service's failure


def test_a_scale_in_killed_at_each_step_is_repaired_by_the_next_run(run_playbook, prepared, vsphere, tmp_path):
    lab = prepared
    grown = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN)
    assert grown.returncode == 0, grown.stdout[-3000:]
    dead = None
    for playbook, task, repair, vms in SCALE_IN_STORY:
        if task is not None:
            killed_run(tmp_path, playbook, task)
            intent = wait_for_the_dead_lock_to_expire(lab)
            assert intent["action"] == "scale_in" and [vm["vm"] for vm in intent["vms"]] == ["acme-web-auto-0001"]
            by = intent["run"]
        else:
            run = run_playbook(playbook, "-l", "acme-web", *NO_COOLDOWN)
            assert run.returncode == 0, run.stdout[-3000:]
            by = events(lab)[-1]["id"]
            assert events(lab)[-1]["status"] == "success" and events(lab)[-1]["action"] in playbook
        if dead is not None:
            recorded = abandoned_event(lab, dead, by)
            other = "removed" if repair == "put_back" else "put_back"
            assert recorded[repair] == ["acme-web-auto-0001"] and recorded[other] == [], (playbook, task, recorded)
        if vms is not None:
            assert consistent(lab, vsphere) == vms
        dead = intent if task is not None else None
    assert service_state(lab)["actions_total"]["scale_in"]["abandoned"] == 4


def test_reconcile_reports_a_dead_run_and_repairs_it_with_a_fix(run_playbook, prepared, vsphere, tmp_path):
    lab = prepared
    killed_run(tmp_path, "playbooks/scale_out.yml", "Clone the service's template")
    intent = wait_for_the_dead_lock_to_expire(lab)
    assert "acme-web-auto-0001" in vm_names(vsphere)  # cloned, outside the pool

    report = run_playbook("playbooks/reconcile.yml", "-l", "acme-web")
    assert report.returncode == 0, report.stdout[-3000:]
    assert f"run {intent['run']} (scale-out" in report.stdout and "died half-way" in report.stdout
    state = service_state(lab)
    assert state["intent"] == intent and state["lock"] is None  # reported, left to a fix; not blocked
    assert not [event for event in events(lab) if event["id"] == intent["run"]]

    fixed = run_playbook("playbooks/reconcile.yml", "-l", "acme-web", "-e", "reconcile_fix=true")
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    recorded = [event for event in events(lab) if event["id"] == intent["run"]]
    assert len(recorded) == 1 and recorded[0]["status"] == "abandoned", recorded
    assert recorded[0]["repaired_by"].startswith("acme-web-reconcile-") and recorded[0]["removed"] == [
        "acme-web-auto-0001"
    ]
    assert consistent(lab, vsphere) == []


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
