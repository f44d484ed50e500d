"""What the scale-out and scale-in tests read back (acme-web), and the fixture that prepares the lab."""

import json
import time
from pathlib import Path

import yaml
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _files, _ipam_leases
from labclient import F5_A, F5_B, emulator, f5, vm_names
from pyVim.task import WaitForTask

REPO = Path(__file__).resolve().parents[2]

POOL = "/mgmt/tm/ltm/pool/~Common~acme-web-pool"


def _service(service: str) -> dict:
    """The service's autoscaling configuration, as the lab inventory has it."""
    return yaml.safe_load((REPO / "inventories" / "lab" / "host_vars" / f"{service}.yml").read_text())["autoscale"]


def warm_mapping(size: int, template: str | None = None, **scaling) -> str:
    """acme-web's autoscale mapping (as ``-e`` JSON) with a warm pool of ``size``, the step policy,
    and ``template`` as its template when given."""
    config = _service("acme-web")
    config["template"]["name"] = template or config["template"]["name"]
    config["scaling"] = {**config["scaling"], "policy": "step", "warm_pool": {"size": size, "return_on_scale_in": True},
                         **scaling}  # fmt: skip
    return json.dumps({"autoscale": config})


def remove_autoscaled(lab, content, service: str = "acme-web") -> list[str]:
    """Take away every trace of the VMs the autoscaler made for ``service``: the VM in vCenter, its
    member and node on the F5 pair, its Prometheus target, its lease. Returns the VMs removed.

    The tests' cleanup between tests, made directly through the lab's own interfaces (pyVmomi, the
    F5's REST API and the emulator's sync, the lease and target files under their locks) - in
    about 0.3 CPU seconds where a playbook with the role's undo steps took 5.6 per VM. It proves
    nothing about undo: the scale tests do (a failure at each step is undone, read back from every
    system), and the fixture's callers check the lab after it as before.
    """
    config = _service(service)
    prefix = f"{service}-auto-"
    vms = vm_names(content)
    removed = sorted(name for name in vms if name.startswith(prefix))
    for name in removed:
        vm = vms[name]
        if vm.runtime.powerState == "poweredOn":
            WaitForTask(vm.PowerOffVM_Task())
        WaitForTask(vm.Destroy_Task())
    _remove_members(config)
    # The lease and target files, under the locks their modules take.
    store = _ipam_leases.LeaseStore(str(lab.state / "statehost" / "vm_autoscale" / "ipam"), service)
    with store.locked() as document:
        kept = {
            kind: {ip: entry for ip, entry in document[kind].items() if not entry.get("owner", "").startswith(prefix)}
            for kind in ("leases", "probing")
        }
        if any(kept[kind] != document[kind] for kind in kept):
            store.write({**document, **kept}, time.time())
    path = lab.state / "plg" / "prometheus" / "file_sd" / f"vm_autoscale-{service}-auto.json"
    if path.exists():
        with _files.flocked(str(path.parent / f".{path.name}.lock"), 30):
            entries = json.loads(path.read_text())
            kept_entries = [e for e in entries if not (e.get("labels") or {}).get("vm", "").startswith(prefix)]
            if kept_entries != entries:
                _files.write_json(str(path), kept_entries, 0o644)
    return removed


def _remove_members(config: dict) -> None:
    """The members of the service's pool that are not its static ones, and their nodes, removed on
    the active F5 device and synced to its peer (which also drops a stale member the peer alone had)."""
    partition = config["f5"].get("partition", "Common")
    pool = f"/mgmt/tm/ltm/pool/~{partition}~{config['f5']['pool_name']}/members"
    port = config["f5"]["member_port"]
    static = {f"{member['ip']}:{port}" for member in config["static_members"]}
    active = next(d for d in emulator("f5", "GET", "/devices") if d["failover"] == "active")
    device = f"https://{active['address']}" + ("" if int(active["port"]) == 443 else f":{active['port']}")
    extra = {
        name for d in (F5_A, F5_B) for name in (m["name"] for m in f5("GET", pool, device=d).json()["items"])
    } - static
    if not extra:
        return
    present = {m["name"] for m in f5("GET", pool, device=device).json()["items"]}
    for name in sorted(extra & present):
        answer = f5("DELETE", f"{pool}/~{partition}~{name}", device=device)
        assert answer.status_code == 200, f"{name}: {answer.status_code} {answer.text}"
        node = f5("DELETE", f"/mgmt/tm/ltm/node/~{partition}~{name.rsplit(':', 1)[0]}", device=device)
        assert node.status_code in (200, 404), f"node of {name}: {node.status_code} {node.text}"
    emulator("f5", "POST", f"/devices/{active['name']}/sync", {"direction": "to-group"})


def members(device):
    return sorted(m["name"] for m in f5("GET", f"{POOL}/members", device=device).json()["items"])


def leases(lab):
    path = lab.state / "statehost" / "vm_autoscale" / "ipam" / "acme-web.json"
    return json.loads(path.read_text())["leases"] if path.exists() else {}


def targets(lab):
    path = lab.state / "plg" / "prometheus" / "file_sd" / "vm_autoscale-acme-web-auto.json"
    return json.loads(path.read_text())


def service_state(lab):
    """acme-web's state document on the state host (lock, cooldown, breaker)."""
    return json.loads((lab.state / "statehost" / "vm_autoscale" / "services" / "acme-web.json").read_text())


def events(lab):
    path = lab.state / "statehost" / "vm_autoscale" / "events" / "acme-web.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def snapshot(lab, vsphere):
    return {
        "vms": sorted(vm_names(vsphere)),
        "bigip-a": members(F5_A),
        "bigip-b": members(F5_B),
        "targets": targets(lab),
        "leases": {ip: (lease["owner"], lease["state"]) for ip, lease in leases(lab).items()},
    }
