"""A run killed at any step is repaired by the next run of the service (issue 18): scale-out.

The runs form a chain: the next run repairs the dead one first and is itself killed at the next
step, so every repair is also done by a run that then dies; the last run ends. Read back from
vcsim, both F5 devices, the leases, the Prometheus targets, the state document and the event log:
no run failed for the lock; each dead run is recorded as abandoned, once, by the run after it,
with what it repaired; nothing of a dead run is left; the service ends at a consistent size; and
the last run's own action succeeded. How a run is killed: tests/integration/crash.py.
"""

from crash import NO_COOLDOWN, abandoned_event, consistent, killed_run, wait_for_the_dead_lock_to_expire
from labclient import vm_names
from scaling import events, leases, service_state

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
