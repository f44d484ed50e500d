"""The warm pool in the lab (acme-web with scaling.warm_pool, through an inventory override).

- A refill (scale_out.yml with scale_out_warm_only, what onboarding and reconcile --fix run) clones
  the pool's VMs powered off, marked warm with the template's version, their addresses leased and
  confirmed, outside both F5 pools and the targets.
- A scale-out takes the warm VMs first - powered on, no clone - brings them into service, and
  refills the pool afterwards under its own event.
- A scale-in returns a VM of the current template version to a pool short of its size: powered
  off, re-marked warm, its lease kept, out of both F5 pools and the targets; with the pool full
  the next scale-in deletes.
- A new template version makes the warm VMs stale: a scale-out clones instead of taking them,
  and the refill replaces them; warm_pool.yml with size 0 empties the pool.
- create_template.yml fills the pool; reconcile finds a consistent pool free of drift (the warm
  VMs' leases are theirs), and with a fix deletes a warm VM that is powered on or has lost its
  lease, then refills.
- A refill SIGKILLed after a clone is repaired by the service's next run: the VM it had not
  finished is removed with its lease, the pool is refilled.
Every result is read back from vCenter, both F5 devices, the leases, the targets and the events.
"""

import json
import time

import yaml
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _ipam_leases
from crash import killed_run, wait_for_the_dead_lock_to_expire
from labclient import F5_A, F5_B, find_vm, vm_names
from pyVim.task import WaitForTask
from scaling import REPO, events, leases, members, service_state, targets, warm_mapping

STATIC = ["198.18.1.11:80", "198.18.1.12:80"]
CONFIG = yaml.safe_load((REPO / "inventories" / "lab" / "host_vars" / "acme-web.yml").read_text())["autoscale"]
TEMPLATE = CONFIG["template"]["name"]


def marks(vsphere, name: str) -> dict:
    vm = find_vm(vsphere, name)
    settings = {o.key.removeprefix("guestinfo.vm_autoscale."): o.value for o in vm.config.extraConfig}
    return {"power": vm.runtime.powerState, **settings}


def autoscaled(vsphere) -> list:
    return sorted(name for name in vm_names(vsphere) if name.startswith("acme-web-auto-"))


def template_version(lab, template: str = TEMPLATE) -> str:
    record = lab.state / "statehost" / "vm_autoscale" / "templates" / f"{template}.json"
    return json.loads(record.read_text())["created_at"]


def assert_warm(lab, vsphere, names: list, template: str = TEMPLATE) -> None:
    """``names`` are warm: powered off, marked, leased (in use), in no pool and no target."""
    version = template_version(lab, template)
    owned = {lease["owner"]: (ip, lease["state"]) for ip, lease in leases(lab).items()}
    for name in names:
        found = marks(vsphere, name)
        assert (found["power"], found["role"], found["service"]) == ("poweredOff", "warm", "acme-web"), found
        assert (found["template"], found["template_version"]) == (template, version), found
        assert owned[name] == (found["ip"], "in_use"), (name, owned)
        for device in (F5_A, F5_B):
            assert f"{found['ip']}:80" not in members(device)
        assert name not in [entry["labels"]["vm"] for entry in targets(lab)]


def test_the_warm_pool_is_filled_taken_by_a_scale_out_and_refilled(run_playbook, prepared, vsphere):
    lab = prepared
    count = len(events(lab))
    fill = run_playbook(
        "playbooks/scale_out.yml", "-l", "acme-web", "-e", warm_mapping(2), "-e", "scale_out_warm_only=true"
    )
    assert fill.returncode == 0, fill.failed
    assert autoscaled(vsphere) == ["acme-web-auto-0001", "acme-web-auto-0002"]
    assert_warm(lab, vsphere, ["acme-web-auto-0001", "acme-web-auto-0002"])
    (event,) = events(lab)[count:]
    assert (event["action"], event["status"], event["size"]) == ("warm_pool", "success", 2), event
    assert [vm["vm"] for vm in event["cloned"]] == ["acme-web-auto-0001", "acme-web-auto-0002"]
    for device in (F5_A, F5_B):
        assert members(device) == STATIC
    warm_ips = {name: marks(vsphere, name)["ip"] for name in ("acme-web-auto-0001", "acme-web-auto-0002")}

    # A scale-out of 2 takes both warm VMs (no clone) and refills the pool with 2 new ones after.
    count = len(events(lab))
    out = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", warm_mapping(2), "-e", "scale_out_step=2",
                       "-e", "scale_out_respect_cooldown=false")  # fmt: skip
    assert out.returncode == 0, out.failed
    scaled, refill = events(lab)[count:]
    assert (scaled["action"], scaled["status"]) == ("scale_out", "success"), scaled
    assert [(a["type"], a["vm"]) for a in scaled["actions"] if a["type"] in ("warm-take", "vm-creation")] == [
        ("warm-take", "acme-web-auto-0001"), ("warm-take", "acme-web-auto-0002")]  # fmt: skip
    assert not [a for a in scaled["actions"] if a["type"] == "ip-allocation"]
    assert (refill["action"], refill["status"], refill["id"]) == ("warm_pool", "success", scaled["id"] + "-warm")
    for name, ip in warm_ips.items():
        found = marks(vsphere, name)
        assert (found["power"], found["role"], found["ip"]) == ("poweredOn", "autoscaled", ip), found
        assert leases(lab)[ip]["owner"] == name and leases(lab)[ip]["state"] == "in_use"
    for device in (F5_A, F5_B):
        assert members(device) == sorted(STATIC + [f"{ip}:80" for ip in warm_ips.values()])
    assert sorted(entry["labels"]["vm"] for entry in targets(lab)) == sorted(warm_ips)
    assert autoscaled(vsphere) == [f"acme-web-auto-000{n}" for n in range(1, 5)]
    assert_warm(lab, vsphere, ["acme-web-auto-0003", "acme-web-auto-0004"])
    assert (
        json.loads((lab.state / "statehost" / "vm_autoscale" / "services" / "acme-web.json").read_text())["lock"]
        is None
    )


def test_a_scale_in_returns_a_vm_to_a_short_pool_and_a_new_template_replaces_the_warm_vms(
    run_playbook, prepared, vsphere
):
    lab = prepared
    no_cooldown = ("-e", "scale_out_respect_cooldown=false", "-e", "scale_in_respect_cooldown=false")
    cold = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", warm_mapping(0), "-e", "scale_out_step=2",
                        *no_cooldown)  # fmt: skip
    assert cold.returncode == 0, cold.failed
    made = {name: marks(vsphere, name)["ip"] for name in ("acme-web-auto-0001", "acme-web-auto-0002")}
    assert marks(vsphere, "acme-web-auto-0001")["template_version"] == template_version(lab)  # every clone is marked

    # A scale-in of 2 with a pool of 1, empty: the newest goes back to the pool, the other is deleted.
    count = len(events(lab))
    back = run_playbook("playbooks/scale_in.yml", "-l", "acme-web", "-e", warm_mapping(1), "-e", "scale_in_step=2",
                        *no_cooldown)  # fmt: skip
    assert back.returncode == 0, back.failed
    (event,) = events(lab)[count:]
    kinds = [(a["type"], a.get("vm")) for a in event["actions"] if a["type"] in ("warm-return", "vm-deletion")]
    assert kinds == [("warm-return", "acme-web-auto-0002"), ("vm-deletion", "acme-web-auto-0001")], event["actions"]
    assert autoscaled(vsphere) == ["acme-web-auto-0002"]
    assert_warm(lab, vsphere, ["acme-web-auto-0002"])
    assert made["acme-web-auto-0001"] not in leases(lab)
    for device in (F5_A, F5_B):
        assert members(device) == STATIC
    assert targets(lab) == []

    # The pool full (1 of 1), a scale-out takes the returned VM, then nothing is left to refill.
    count = len(events(lab))
    taken = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", warm_mapping(1), *no_cooldown)
    assert taken.returncode == 0, taken.failed
    scaled, refill = events(lab)[count:]
    assert [a["type"] for a in scaled["actions"]][:1] == ["warm-take"] and refill["action"] == "warm_pool"
    assert marks(vsphere, "acme-web-auto-0002")["power"] == "poweredOn"
    assert_warm(lab, vsphere, ["acme-web-auto-0003"])

    # A new template: the warm VM of the old one is not taken (a clone instead), and the refill
    # replaces it with one of the new template.
    new = "tpl-acme-web-v2"
    try:
        made = run_playbook("playbooks/create_template.yml", "-l", "acme-web", "-e", f"vm_template_name={new}")
        assert made.returncode == 0, made.failed
        count = len(events(lab))
        fresh = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", warm_mapping(1, template=new),
                             *no_cooldown)  # fmt: skip
        assert fresh.returncode == 0, fresh.failed
        scaled, refill = events(lab)[count:]
        assert [a["type"] for a in scaled["actions"] if a["type"] in ("warm-take", "vm-creation")] == ["vm-creation"]
        assert [entry["vm"] for entry in refill["deleted"]] == ["acme-web-auto-0003"]
        assert "version" in refill["deleted"][0]["why"]
        assert [vm["vm"] for vm in refill["cloned"]] == ["acme-web-auto-0005"]
        assert "acme-web-auto-0003" not in autoscaled(vsphere)
        assert_warm(lab, vsphere, ["acme-web-auto-0005"], template=new)
        # warm_pool.yml with size 0 empties the pool
        empty = run_playbook("playbooks/warm_pool.yml", "-l", "acme-web", "-e", warm_mapping(0, template=new))
        assert empty.returncode == 0, empty.failed
        assert "acme-web-auto-0005" not in autoscaled(vsphere)
        assert "acme-web-auto-0005" not in [lease["owner"] for lease in leases(lab).values()]
    finally:
        template = find_vm(vsphere, new)
        if template is not None:
            WaitForTask(template.Destroy_Task())
        (lab.state / "statehost" / "vm_autoscale" / "templates" / f"{new}.json").unlink(missing_ok=True)


def test_create_template_fills_the_pool_and_reconcile_keeps_it_consistent(run_playbook, prepared, vsphere):
    lab = prepared
    filled = run_playbook("playbooks/create_template.yml", "-l", "acme-web", "-e", warm_mapping(2))
    assert filled.returncode == 0, filled.failed
    pool = autoscaled(vsphere)
    assert len(pool) == 2
    assert_warm(lab, vsphere, pool)

    report = run_playbook("playbooks/reconcile.yml", "-l", "acme-web", "-e", warm_mapping(2))
    assert report.returncode == 0, report.failed
    assert report.task("Report the drift", "acme-web")["msg"] == ["service acme-web: no drift"]
    assert_warm(lab, vsphere, pool)

    # Faults: one warm VM powered on, the other's lease gone.
    on, unleased = pool
    moids = {find_vm(vsphere, name)._moId for name in pool}
    WaitForTask(find_vm(vsphere, on).PowerOnVM_Task())
    ip = marks(vsphere, unleased)["ip"]
    store = _ipam_leases.LeaseStore(str(lab.state / "statehost" / "vm_autoscale" / "ipam"), "acme-web")
    with store.locked() as document:
        store.write({**document, "leases": {k: v for k, v in document["leases"].items() if k != ip}}, time.time())
    found = run_playbook("playbooks/reconcile.yml", "-l", "acme-web", "-e", warm_mapping(2))
    lines = "\n".join(found.task("Report the drift", "acme-web")["msg"])
    assert f"warm_powered_on {on}" in lines and f"warm_without_lease {unleased}" in lines, lines
    fixed = run_playbook("playbooks/reconcile.yml", "-l", "acme-web", "-e", warm_mapping(2), "-e", "reconcile_fix=true")
    assert fixed.returncode == 0, fixed.failed
    now = autoscaled(vsphere)
    # both deleted and cloned anew (the names may come back: new VMs are numbered after the folder's highest)
    assert len(now) == 2 and not {find_vm(vsphere, name)._moId for name in now} & moids
    assert_warm(lab, vsphere, now)
    assert events(lab)[-1]["action"] == "warm_pool" and events(lab)[-1]["id"].endswith("-warm")
    for device in (F5_A, F5_B):
        assert members(device) == STATIC


def test_a_refill_killed_after_a_clone_is_repaired_by_the_next_run(run_playbook, prepared, vsphere, tmp_path):
    lab = prepared
    killed_run(tmp_path, "playbooks/warm_pool.yml", "Clone the service's template into the warm VM with its static address, powered off",
               "-e", warm_mapping(2))  # fmt: skip
    intent = wait_for_the_dead_lock_to_expire(lab)
    assert intent["action"] == "warm_pool" and [vm["step"] for vm in intent["vms"]] == ["leased", "planned"], intent
    half = intent["vms"][0]["vm"]
    assert half in autoscaled(vsphere)  # the clone the dead run made, not marked warm in its intent

    again = run_playbook("playbooks/warm_pool.yml", "-l", "acme-web", "-e", warm_mapping(2))
    assert again.returncode == 0, again.failed
    abandoned, refill = events(lab)[-2:]
    assert (abandoned["status"], abandoned["action"], abandoned["removed"]) == (
        "abandoned",
        "warm_pool",
        [half, intent["vms"][1]["vm"]],
    )
    assert (refill["action"], refill["status"]) == ("warm_pool", "success")
    pool = autoscaled(vsphere)
    assert len(pool) == 2
    assert_warm(lab, vsphere, pool)
    assert sorted(lease["owner"] for lease in leases(lab).values()) == pool  # the dead run's lease went with its VM
    assert service_state(lab)["intent"] is None
