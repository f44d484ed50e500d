# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift between what the autoscaler's systems hold for one service, and the plan that fixes it.

The four systems: vCenter (the VMs carrying ``guestinfo.vm_autoscale.role=autoscaled``), the pool
on every F5 device, the IP leases on the state host and the service's file_sd targets. The truth
is the autoscaled VMs: an autoscaled VM the state host does not know and no pool serves is an
orphan (a run that failed and could not undo); anything else that names a VM that is not there
is stale. A warm VM (``role=warm``, scaling.warm_pool) belongs powered off, leased, in no pool and
no target; one that is not is removed, and a pool short of its size is refilled (by the warm pool's
refill, which also replaces warm VMs of another template version). Static members and members
outside the service's address pool are the operator's: they are reported, never changed. Only
plain data in, plain data out (unit tested).
"""

from __future__ import annotations

import ipaddress

ROLE_KEY = "guestinfo.vm_autoscale.role"
SERVICE_KEY = "guestinfo.vm_autoscale.service"
IP_KEY = "guestinfo.vm_autoscale.ip"

# Every kind of drift, what it means and what the fix does (docs/reconcile.md lists the same).
KINDS = {
    "orphan_vm": "a VM the autoscaler made that has no lease and is in no pool",
    "above_max": "a leased autoscaled VM in no pool that would take the service above its maximum",
    "vm_without_lease": "an autoscaled VM serving in the pool whose address has no lease",
    "lease_mismatch": "an autoscaled VM whose lease is for another address than its own",
    "vm_not_in_pool": "a leased autoscaled VM missing from the pool on some device",
    "vm_without_target": "a leased autoscaled VM that Prometheus does not scrape",
    "member_without_vm": "a pool member in the service's address pool with no autoscaled VM behind it",
    "lease_without_vm": "a lease whose VM does not exist",
    "target_without_vm": "a Prometheus target whose VM does not exist",
    "static_member_missing": "a static member of the inventory missing from the pool on some device",
    "unknown_member": "a pool member that is neither static nor in the service's address pool",
    "pool_differs": "the F5 devices hold different members in the pool",
    "warm_powered_on": "a warm VM (scaling.warm_pool) that is powered on, outside the pool",
    "warm_without_lease": "a warm VM whose address has no lease (or a lease for another address)",
    "warm_pool_short": "the warm pool holds fewer VMs that can serve than scaling.warm_pool.size",
}


def _check_warm(warm: dict, lease_by_owner: dict, report, plan: dict) -> dict:
    """The warm VMs that stay ({name: ip}); the others are reported and planned for deletion."""
    kept = {}
    for name, vm in sorted(warm.items()):
        lease = lease_by_owner.get(name)
        if vm["power"] != "poweredOff":
            state = vm["power"] or "in an unknown state"
            report("warm_powered_on", name, f"warm VM {name} ({vm['ip'] or 'no address'}) is {state}",
                   "delete the VM and release its lease (the refill replaces it)", ip=vm["ip"])  # fmt: skip
            if lease is not None:
                plan["release_leases"].append(lease["ip"])
        elif lease is None or lease["ip"] != vm["ip"]:
            detail = f"its lease is for {lease['ip']}" if lease is not None else "no lease"
            report("warm_without_lease", name, f"warm VM {name} ({vm['ip'] or 'no address'}): {detail}",
                   "delete the VM (the refill replaces it)", ip=vm["ip"])  # fmt: skip
            if lease is not None:
                plan["release_leases"].append(lease["ip"])
        else:
            kept[name] = vm["ip"]
            continue
        plan["delete_vms"].append(name)
        plan["refill"] = True
    return kept


def _address(member: dict) -> tuple[str, int | None]:
    name = member.get("name") or ""
    address, _sep, port = name.rpartition(":")
    if not address:
        return member.get("address", name), None
    return member.get("address") or address, int(port) if port.isdigit() else None


def _in_range(ip: str, start: str, end: str) -> bool:
    try:
        return ipaddress.ip_address(start) <= ipaddress.ip_address(ip) <= ipaddress.ip_address(end)
    except ValueError:
        return False


def autoscaled_vms(service: str, instances: list) -> dict:
    """{name: ip} of the VMs the autoscaler made for ``service``, from vmware_guest_info instances."""
    vms = {}
    for instance in instances:
        settings = instance.get("advanced_settings") or {}
        if settings.get(ROLE_KEY) == "autoscaled" and settings.get(SERVICE_KEY, service) == service:
            vms[instance["hw_name"]] = settings.get(IP_KEY, "")
    return vms


def warm_vms(service: str, instances: list) -> dict:
    """{name: {ip, power}} of the warm VMs of ``service``, from vmware_guest_info instances."""
    vms = {}
    for instance in instances:
        settings = instance.get("advanced_settings") or {}
        if settings.get(ROLE_KEY) == "warm" and settings.get(SERVICE_KEY, service) == service:
            vms[instance["hw_name"]] = {"ip": settings.get(IP_KEY, ""), "power": instance.get("hw_power_status", "")}
    return vms


def find_drift(
    service: str, config: dict, systems: dict, *, mode: str = "active_sync", active: str | None = None,
    target_port: int = 9100,
) -> dict:  # fmt: skip
    """The drift of ``service`` and the plan that removes it.

    ``systems`` holds what was read: ``instances`` (vmware_guest_info instances of the VMs in the
    service's folder), ``pools`` (each F5 device's name to the pool's members, iControl REST
    items), ``leases`` (what ``ip_pool_allocate state=query`` lists) and ``targets`` (the file_sd
    entries).
    With ``mode`` active_sync, changes go to the ``active`` device and a config sync copies them
    to the others; with ``each``, to every device on its own.
    """
    instances, pools = systems["instances"], systems["pools"]
    leases, targets = systems["leases"], systems["targets"]
    port = int(config["f5"]["member_port"])
    network = config["network"]
    start, end = network["ip_pool_start"], network["ip_pool_end"]
    static = {m["ip"]: m.get("name", m["ip"]) for m in config.get("static_members") or []}
    vms = autoscaled_vms(service, instances)
    warm = warm_vms(service, instances)
    devices = list(pools)
    writers = devices if mode == "each" else [active] if active in pools else []

    held: dict[str, dict[str, dict]] = {}  # device -> member address -> member
    for device, members in pools.items():
        held[device] = {}
        for member in members or []:
            address, member_port = _address(member)
            held[device][address if member_port == port else member.get("name", address)] = member

    lease_by_owner = {lease["owner"]: lease for lease in leases}
    lease_by_ip = {lease["ip"]: lease for lease in leases}
    drift: list[dict] = []
    plan = {"delete_vms": [], "release_leases": [], "adopt_leases": [], "add_members": [], "remove_members": [],
            "refill": False}  # fmt: skip

    def report(kind, obj, detail, fix=None, **extra):
        drift.append({"kind": kind, "object": obj, "detail": detail, "fix": fix, **extra})

    def on_devices(ip):
        return [d for d in devices if ip in held[d]]

    # Reconcile never takes a service above its maximum: the instances are the static members and
    # every autoscaled VM kept; leased VMs in no pool beyond the maximum go, newest first.
    maximum = (config.get("scaling") or {}).get("max_instances")
    leased_outside = sorted(
        (name for name, ip in vms.items() if not on_devices(ip) and (lease_by_owner.get(name) or {}).get("ip") == ip),
        reverse=True,
    )
    keepable = len(static) + sum(
        1 for name, ip in vms.items() if on_devices(ip) or (lease_by_owner.get(name) or {}).get("ip") == ip
    )
    above = set(leased_outside[: max(0, keepable - int(maximum))] if maximum is not None else [])

    orphans, kept = set(), {}
    for name, ip in sorted(vms.items()):
        lease = lease_by_owner.get(name)
        serving = on_devices(ip)
        if name in above:
            report("above_max", name, f"{name} ({ip}) is in no pool; putting it back would take the service to "
                   f"{keepable} of max {maximum} instances", "delete the VM and release its lease", ip=ip)  # fmt: skip
            plan["delete_vms"].append(name)
            plan["release_leases"].append(ip)
            orphans.add(name)
            continue
        if lease is not None and lease["ip"] != ip:
            report("lease_mismatch", name, f"{name} has {ip}; its lease is for {lease['ip']}",
                   f"release the lease of {lease['ip']}", ip=lease["ip"])  # fmt: skip
            plan["release_leases"].append(lease["ip"])
            lease = None
        if lease is None and not serving:
            report("orphan_vm", name, f"{name} ({ip or 'no address'}): no lease, in no pool", "delete the VM", ip=ip)
            plan["delete_vms"].append(name)
            orphans.add(name)
            continue
        kept[name] = ip
        if lease is None:
            other = lease_by_ip.get(ip)
            if other is not None and other["owner"] != name and other["owner"] in vms:
                report("vm_without_lease", name, f"{name} serves on {', '.join(serving)} with {ip}, which is leased to "
                       f"{other['owner']}", None, ip=ip)  # fmt: skip
            else:
                report("vm_without_lease", name, f"{name} serves on {', '.join(serving)} with {ip}, which has no lease",
                       f"lease {ip} to {name}", ip=ip)  # fmt: skip
                plan["adopt_leases"].append({"owner": name, "ip": ip})
        missing = [d for d in devices if d not in serving]
        if missing:
            adds = [d for d in writers if d in missing]
            fix = (f"add {ip}:{port} on {', '.join(adds)} once its health check answers" if adds else None) or (
                "config sync from " + active if mode == "active_sync" and active in serving else None
            )
            report("vm_not_in_pool", name, f"{name} ({ip}) is not in the pool on {', '.join(missing)}", fix,
                   ip=ip, devices=missing)  # fmt: skip
            plan["add_members"].extend({"device": d, "ip": ip, "vm": name} for d in adds)

    warm_kept = _check_warm(warm, lease_by_owner, report, plan)
    size = int(((config.get("scaling") or {}).get("warm_pool") or {}).get("size") or 0)
    if len(warm_kept) < size:
        report("warm_pool_short", service, f"the warm pool holds {len(warm_kept)} of {size} VMs",
               "refill the warm pool (as playbooks/warm_pool.yml)")  # fmt: skip
        plan["refill"] = True

    wanted_ips = set(static) | set(kept.values())
    for address in sorted({a for d in devices for a in held[d]}):
        if address in wanted_ips:
            continue
        holders = on_devices(address)
        if _in_range(address, start, end) or any(
            str(held[d][address].get("description", "")).startswith("vm_autoscale") for d in holders
        ):
            removes = [d for d in writers if d in holders]
            fix = (f"remove it from {', '.join(removes)}" if removes else None) or (
                "config sync from " + active if mode == "active_sync" and active else None
            )
            report("member_without_vm", address, f"member {address}:{port} on {', '.join(holders)} has no "
                   "autoscaled VM", fix, devices=holders)  # fmt: skip
            plan["remove_members"].extend({"device": d, "ip": address} for d in removes)
        else:
            report("unknown_member", address, f"member {address} on {', '.join(holders)} is neither a static member "
                   "nor in the service's address pool: left alone", None, devices=holders)  # fmt: skip

    for ip, name in sorted(static.items()):
        missing = [d for d in devices if ip not in held[d]]
        if missing:
            synced = mode == "active_sync" and active is not None and active not in missing
            fix = f"config sync from {active}" if synced else None
            report("static_member_missing", name, f"static member {name} ({ip}:{port}) is not in the pool on "
                   f"{', '.join(missing)}", fix, devices=missing)  # fmt: skip

    for lease in sorted(leases, key=lambda item: item["ip"]):
        if lease["owner"] not in vms and lease["owner"] not in warm_kept and lease["ip"] not in plan["release_leases"]:
            report("lease_without_vm", lease["ip"], f"{lease['ip']} is leased ({lease.get('state', '?')}) to "
                   f"{lease['owner']}, which does not exist", f"release {lease['ip']}")  # fmt: skip
            plan["release_leases"].append(lease["ip"])

    new_targets, targets_changed = [], False
    for entry in targets:
        vm = (entry.get("labels") or {}).get("vm")
        if vm is None:
            new_targets.append(entry)
        elif vm in kept and entry.get("targets") == [f"{kept[vm]}:{target_port}"]:
            new_targets.append(entry)
        else:
            targets_changed = True
            if vm not in orphans:
                where = entry.get("targets")
                what = (
                    "is a warm VM (powered off)"
                    if vm in warm
                    else "does not exist"
                    if vm not in kept
                    else f"has {kept[vm]}"
                )
                report("target_without_vm", vm, f"target {where} names {vm}, which {what}", "remove the target")
    scraped = {(entry.get("labels") or {}).get("vm") for entry in new_targets}
    for name, ip in sorted(kept.items()):
        if name not in scraped:
            if not any(d["kind"] == "target_without_vm" and d["object"] == name for d in drift):
                report("vm_without_target", name, f"{name} ({ip}) is not in the Prometheus targets", "add its target")
            new_targets.append({"targets": [f"{ip}:{target_port}"], "labels": {"service": service, "vm": name}})
            targets_changed = True

    names = {d: sorted(f"{a}:{port}" if ":" not in a else a for a in held[d]) for d in devices}
    differs = len({tuple(v) for v in names.values()}) > 1
    if differs:
        report("pool_differs", config["f5"]["pool_name"], "; ".join(f"{d}: {', '.join(v) or 'empty'}" for d, v in
               names.items()), f"config sync from {active}" if mode == "active_sync" and active else
               "the member fixes above", devices=devices)  # fmt: skip

    plan["targets"] = new_targets if targets_changed else None
    synced = any(d["fix"] and "config sync" in d["fix"] for d in drift)
    plan["sync"] = mode == "active_sync" and bool(differs or plan["add_members"] or plan["remove_members"] or synced)
    return {
        "drift": drift,
        "plan": plan,
        "fixable": sum(1 for d in drift if d["fix"]),
        "unfixable": sum(1 for d in drift if not d["fix"]),
        "lines": [f"{d['kind']} {d['object']}: {d['detail']} -> {d['fix'] or 'left to the operator'}" for d in drift],
    }
