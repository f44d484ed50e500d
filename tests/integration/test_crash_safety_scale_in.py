"""A scale-in killed at any step is repaired by the next run of the service (issue 18).

Killed scale-ins and scale-outs alternate: each run repairs the one before it (a member put back
in service, or the half-removed VM removed), read back from vcsim, both F5 devices, the leases,
the targets and the event log. How a run is killed: tests/integration/crash.py.
"""

from crash import NO_COOLDOWN, abandoned_event, consistent, killed_run, wait_for_the_dead_lock_to_expire
from scaling import events, service_state

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
