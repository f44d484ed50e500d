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
  and the refill replaces them.
Every result is read back from vCenter, both F5 devices, the leases, the targets and the events.
"""

import json

import yaml
from labclient import F5_A, F5_B, find_vm, vm_names
from scaling import REPO, events, leases, members, targets

STATIC = ["198.18.1.11:80", "198.18.1.12:80"]
STEP = "step"
CONFIG = yaml.safe_load((REPO / "inventories" / "lab" / "host_vars" / "acme-web.yml").read_text())["autoscale"]
TEMPLATE = CONFIG["template"]["name"]


def mapping(size: int, **scaling) -> str:
    """acme-web's autoscale mapping with a warm pool of ``size`` (the step policy, no cooldown)."""
    config = json.loads(json.dumps(CONFIG))
    config["scaling"] = {**config["scaling"], "policy": STEP, "warm_pool": {"size": size, "return_on_scale_in": True},
                         **scaling}  # fmt: skip
    return json.dumps({"autoscale": config})


def marks(vsphere, name: str) -> dict:
    vm = find_vm(vsphere, name)
    settings = {o.key.removeprefix("guestinfo.vm_autoscale."): o.value for o in vm.config.extraConfig}
    return {"power": vm.runtime.powerState, **settings}


def autoscaled(vsphere) -> list:
    return sorted(name for name in vm_names(vsphere) if name.startswith("acme-web-auto-"))


def template_version(lab) -> str:
    record = lab.state / "statehost" / "vm_autoscale" / "templates" / f"{TEMPLATE}.json"
    return json.loads(record.read_text())["created_at"]


def assert_warm(lab, vsphere, names: list) -> None:
    """``names`` are warm: powered off, marked, leased (in use), in no pool and no target."""
    version = template_version(lab)
    owned = {lease["owner"]: (ip, lease["state"]) for ip, lease in leases(lab).items()}
    for name in names:
        found = marks(vsphere, name)
        assert (found["power"], found["role"], found["service"]) == ("poweredOff", "warm", "acme-web"), found
        assert (found["template"], found["template_version"]) == (TEMPLATE, version), found
        assert owned[name] == (found["ip"], "in_use"), (name, owned)
        for device in (F5_A, F5_B):
            assert f"{found['ip']}:80" not in members(device)
        assert name not in [entry["labels"]["vm"] for entry in targets(lab)]


def test_the_warm_pool_is_filled_taken_by_a_scale_out_and_refilled(run_playbook, prepared, vsphere):
    lab = prepared
    count = len(events(lab))
    fill = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", mapping(2), "-e", "scale_out_warm_only=true")
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
    out = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", mapping(2), "-e", "scale_out_step=2",
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
