"""Drift between vCenter, the F5 devices, the leases and the targets of a service, and the fix plan."""

import copy

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _drift

CONFIG = {
    "f5": {"member_port": 80, "pool_name": "web-pool"},
    "network": {"ip_pool_start": "198.18.1.100", "ip_pool_end": "198.18.1.119"},
    "static_members": [{"name": "web-01", "ip": "198.18.1.11"}, {"name": "web-02", "ip": "198.18.1.12"}],
}


def vm(name, ip, role="autoscaled", service="web"):
    settings = {"guestinfo.vm_autoscale.ip": ip, "guestinfo.vm_autoscale.service": service}
    if role:
        settings["guestinfo.vm_autoscale.role"] = role
    return {"hw_name": name, "advanced_settings": settings}


def member(ip, port=80, description=""):
    return {"name": f"{ip}:{port}", "address": ip, "description": description}


STATIC = [member("198.18.1.11"), member("198.18.1.12")]


def consistent():
    """One autoscaled VM that every system knows: no drift."""
    return {
        "instances": [vm("web-01", "198.18.1.11", role=None), vm("web-auto-0001", "198.18.1.100")],
        "pools": {"a": [*STATIC, member("198.18.1.100")], "b": [*STATIC, member("198.18.1.100")]},
        "leases": [{"ip": "198.18.1.100", "owner": "web-auto-0001", "state": "in_use"}],
        "targets": [{"targets": ["198.18.1.100:9100"], "labels": {"service": "web", "vm": "web-auto-0001"}}],
    }


def drift(systems, mode="active_sync", active="a"):
    return _drift.find_drift("web", CONFIG, systems, mode=mode, active=active)


def kinds(result):
    return sorted((d["kind"], d["object"]) for d in result["drift"])


def test_consistent_systems_have_no_drift_and_an_empty_plan():
    result = drift(consistent())
    assert result["drift"] == [] and result["lines"] == []
    assert result["plan"] == {"delete_vms": [], "release_leases": [], "adopt_leases": [], "add_members": [],
                              "remove_members": [], "refill": False, "targets": None, "sync": False}  # fmt: skip


def test_an_orphan_vm_is_deleted_with_its_target():
    systems = consistent()
    systems["instances"].append(vm("web-auto-0002", "198.18.1.101"))
    systems["targets"].append({"targets": ["198.18.1.101:9100"], "labels": {"service": "web", "vm": "web-auto-0002"}})
    result = drift(systems)
    assert kinds(result) == [("orphan_vm", "web-auto-0002")]
    assert result["plan"]["delete_vms"] == ["web-auto-0002"]
    assert result["plan"]["targets"] == consistent()["targets"]
    assert result["lines"] == [
        "orphan_vm web-auto-0002: web-auto-0002 (198.18.1.101): no lease, in no pool -> delete the VM"
    ]


def test_reconcile_never_takes_the_service_above_its_maximum():
    # max 4: two static members and one serving VM leave room for one of the two leased VMs that
    # are in no pool; the newest goes (VM, lease and target), the other is put back.
    systems = consistent()
    for number, ip in ((2, "198.18.1.101"), (3, "198.18.1.102")):
        systems["instances"].append(vm(f"web-auto-000{number}", ip))
        systems["leases"].append({"ip": ip, "owner": f"web-auto-000{number}", "state": "in_use"})
        systems["targets"].append(
            {"targets": [f"{ip}:9100"], "labels": {"service": "web", "vm": f"web-auto-000{number}"}}
        )
    config = {**CONFIG, "scaling": {"max_instances": 4}}
    result = _drift.find_drift("web", config, systems, mode="each")
    assert kinds(result) == [("above_max", "web-auto-0003"), ("vm_not_in_pool", "web-auto-0002")]
    assert result["plan"]["delete_vms"] == ["web-auto-0003"]
    assert result["plan"]["release_leases"] == ["198.18.1.102"]
    assert [m["ip"] for m in result["plan"]["add_members"]] == ["198.18.1.101", "198.18.1.101"]
    assert "web-auto-0003" not in str(result["plan"]["targets"])
    (line,) = [line for line in result["lines"] if line.startswith("above_max")]
    assert "would take the service to 5 of max 4 instances -> delete the VM and release its lease" in line
    # with room for both, both go back; a VM that serves somewhere is never deleted for the maximum
    assert not any(d["kind"] == "above_max" for d in _drift.find_drift(
        "web", {**CONFIG, "scaling": {"max_instances": 5}}, systems, mode="each")["drift"])  # fmt: skip
    systems["pools"]["a"].append(member("198.18.1.102"))
    result = _drift.find_drift("web", {**CONFIG, "scaling": {"max_instances": 3}}, systems, mode="each")
    assert [d["object"] for d in result["drift"] if d["kind"] == "above_max"] == ["web-auto-0002"]


def test_a_member_without_vm_is_removed_from_the_active_device_then_synced():
    systems = consistent()
    for device in ("a", "b"):
        systems["pools"][device].append(member("198.18.1.105"))
    result = drift(systems)
    assert kinds(result) == [("member_without_vm", "198.18.1.105")]
    assert result["plan"]["remove_members"] == [{"device": "a", "ip": "198.18.1.105"}]
    assert result["plan"]["sync"] is True
    each = drift(systems, mode="each", active=None)
    assert each["plan"]["remove_members"] == [
        {"device": "a", "ip": "198.18.1.105"},
        {"device": "b", "ip": "198.18.1.105"},
    ]
    assert each["plan"]["sync"] is False


def test_a_member_described_by_the_autoscaler_outside_the_range_is_still_its_own():
    systems = consistent()
    systems["pools"]["a"].append(member("198.18.1.50", description="vm_autoscale web-auto-0009 (run)"))
    systems["pools"]["b"].append(member("198.18.1.50", description="vm_autoscale web-auto-0009 (run)"))
    assert kinds(drift(systems)) == [("member_without_vm", "198.18.1.50")]


def test_a_lease_without_vm_is_released():
    systems = consistent()
    systems["leases"].append({"ip": "198.18.1.102", "owner": "web-auto-0003", "state": "reserved"})
    result = drift(systems)
    assert kinds(result) == [("lease_without_vm", "198.18.1.102")]
    assert result["plan"]["release_leases"] == ["198.18.1.102"]


def test_a_leased_vm_missing_from_the_pool_is_added_back_where_it_is_missing():
    systems = consistent()
    for device in ("a", "b"):
        systems["pools"][device] = list(STATIC)
    result = drift(systems)
    assert kinds(result) == [("vm_not_in_pool", "web-auto-0001")]
    assert result["plan"]["add_members"] == [{"device": "a", "ip": "198.18.1.100", "vm": "web-auto-0001"}]
    assert result["plan"]["sync"] is True


def test_pools_that_differ_only_on_the_standby_are_fixed_by_a_config_sync():
    systems = consistent()
    systems["pools"]["b"] = list(STATIC)
    result = drift(systems)
    assert kinds(result) == [("pool_differs", "web-pool"), ("vm_not_in_pool", "web-auto-0001")]
    assert result["plan"]["add_members"] == []
    assert result["plan"]["sync"] is True
    assert all(d["fix"] == "config sync from a" for d in result["drift"])
    # Devices that do not sync: the member is added on the one that lacks it.
    each = drift(systems, mode="each", active=None)
    assert each["plan"]["add_members"] == [{"device": "b", "ip": "198.18.1.100", "vm": "web-auto-0001"}]


def test_a_vm_serving_without_a_lease_is_given_one_unless_another_vm_holds_it():
    systems = consistent()
    systems["leases"] = []
    result = drift(systems)
    assert kinds(result) == [("vm_without_lease", "web-auto-0001")]
    assert result["plan"]["adopt_leases"] == [{"owner": "web-auto-0001", "ip": "198.18.1.100"}]
    # The address is leased to a VM that is gone: that lease is released (first), then adopted.
    systems["leases"] = [{"ip": "198.18.1.100", "owner": "web-auto-0007", "state": "in_use"}]
    stale = drift(systems)
    assert kinds(stale) == [("lease_without_vm", "198.18.1.100"), ("vm_without_lease", "web-auto-0001")]
    assert stale["plan"]["release_leases"] == ["198.18.1.100"]
    assert stale["plan"]["adopt_leases"] == [{"owner": "web-auto-0001", "ip": "198.18.1.100"}]
    # Leased to another autoscaled VM that exists: a conflict the operator resolves.
    systems["instances"].append(vm("web-auto-0007", "198.18.1.101"))
    systems["pools"]["a"].append(member("198.18.1.101"))
    systems["pools"]["b"].append(member("198.18.1.101"))
    systems["targets"].append({"targets": ["198.18.1.101:9100"], "labels": {"service": "web", "vm": "web-auto-0007"}})
    conflict = drift(systems)
    assert ("vm_without_lease", "web-auto-0001") in kinds(conflict)
    assert {"owner": "web-auto-0001", "ip": "198.18.1.100"} not in conflict["plan"]["adopt_leases"]
    assert next(d for d in conflict["drift"] if d["object"] == "web-auto-0001")["fix"] is None


def test_a_lease_for_another_address_is_released():
    systems = consistent()
    systems["leases"] = [{"ip": "198.18.1.110", "owner": "web-auto-0001", "state": "in_use"}]
    result = drift(systems)
    assert kinds(result) == [("lease_mismatch", "web-auto-0001"), ("vm_without_lease", "web-auto-0001")]
    assert result["plan"]["release_leases"] == ["198.18.1.110"]
    assert result["plan"]["adopt_leases"] == [{"owner": "web-auto-0001", "ip": "198.18.1.100"}]


def test_targets_follow_the_vms():
    systems = consistent()
    systems["targets"] = [{"targets": ["198.18.1.103:9100"], "labels": {"service": "web", "vm": "web-auto-0005"}}]
    result = drift(systems)
    assert kinds(result) == [("target_without_vm", "web-auto-0005"), ("vm_without_target", "web-auto-0001")]
    assert result["plan"]["targets"] == consistent()["targets"]


def test_static_and_unknown_members_are_reported_and_left_alone():
    systems = consistent()
    systems["pools"]["a"].append(member("198.18.1.60"))  # outside the address pool, not static
    systems["pools"]["b"].append(member("198.18.1.60"))
    systems["pools"]["a"].remove(member("198.18.1.12"))
    systems["pools"]["b"].remove(member("198.18.1.12"))
    result = drift(systems)
    assert kinds(result) == [("static_member_missing", "web-02"), ("unknown_member", "198.18.1.60")]
    assert all(d["fix"] is None for d in result["drift"]) and result["unfixable"] == 2
    assert result["plan"]["remove_members"] == [] and result["plan"]["sync"] is False


def test_vms_of_other_services_and_static_vms_are_not_the_autoscalers():
    systems = consistent()
    systems["instances"] += [
        vm("api-auto-0001", "198.18.2.100", service="api"),
        vm("web-03", "198.18.1.13", role="static"),
    ]
    assert drift(systems)["drift"] == []


def test_the_inputs_are_not_changed():
    systems = consistent()
    systems["pools"]["b"] = list(STATIC)
    kept = copy.deepcopy(systems)
    drift(systems)
    assert systems == kept


@pytest.mark.parametrize("kind", sorted(_drift.KINDS))
def test_every_kind_is_documented(kind):
    from pathlib import Path

    docs = Path(__file__).resolve().parents[4] / "docs" / "reconcile.md"
    assert f"`{kind}`" in docs.read_text()


def warm(name, ip, power="poweredOff"):
    found = vm(name, ip, role="warm")
    found["hw_power_status"] = power
    return found


def test_warm_vms_powered_off_and_leased_are_no_drift_and_their_leases_are_theirs():
    systems = consistent()
    systems["instances"] += [warm("web-auto-0002", "198.18.1.101"), warm("web-auto-0003", "198.18.1.102")]
    systems["leases"] += [{"ip": "198.18.1.101", "owner": "web-auto-0002", "state": "in_use"},
                          {"ip": "198.18.1.102", "owner": "web-auto-0003", "state": "in_use"}]  # fmt: skip
    config = {**CONFIG, "scaling": {"warm_pool": {"size": 2}}}
    result = _drift.find_drift("web", config, systems, mode="active_sync", active="a")
    assert result["drift"] == [] and result["plan"]["refill"] is False
    # the pool's size raised to 3: short by one, refilled
    config = {**CONFIG, "scaling": {"warm_pool": {"size": 3}}}
    short = _drift.find_drift("web", config, systems, mode="active_sync", active="a")
    assert kinds(short) == [("warm_pool_short", "web")] and short["plan"]["refill"] is True
    assert short["plan"]["delete_vms"] == [] and short["plan"]["release_leases"] == []


def test_a_warm_vm_powered_on_or_without_its_lease_is_deleted_and_the_pool_refilled():
    systems = consistent()
    systems["instances"] += [warm("web-auto-0002", "198.18.1.101", power="poweredOn"),
                             warm("web-auto-0003", "198.18.1.102"), warm("web-auto-0004", "198.18.1.103")]  # fmt: skip
    systems["leases"] += [{"ip": "198.18.1.101", "owner": "web-auto-0002", "state": "in_use"},
                          {"ip": "198.18.1.110", "owner": "web-auto-0004", "state": "in_use"}]  # fmt: skip
    # a target and a member at a warm VM's address: removed
    systems["targets"].append({"targets": ["198.18.1.101:9100"], "labels": {"service": "web", "vm": "web-auto-0002"}})
    systems["pools"]["a"].append(member("198.18.1.101"))
    result = drift(systems)
    assert kinds(result) == [("member_without_vm", "198.18.1.101"), ("pool_differs", "web-pool"),
                             ("target_without_vm", "web-auto-0002"), ("warm_powered_on", "web-auto-0002"),
                             ("warm_without_lease", "web-auto-0003"), ("warm_without_lease", "web-auto-0004")]  # fmt: skip
    plan = result["plan"]
    assert plan["delete_vms"] == ["web-auto-0002", "web-auto-0003", "web-auto-0004"]
    assert sorted(plan["release_leases"]) == ["198.18.1.101", "198.18.1.110"]
    assert plan["refill"] is True and plan["remove_members"] == [{"device": "a", "ip": "198.18.1.101"}]
    assert [entry["labels"]["vm"] for entry in plan["targets"]] == ["web-auto-0001"]
    detail = next(d["detail"] for d in result["drift"] if d["kind"] == "target_without_vm")
    assert detail.endswith("which is a warm VM (powered off)")
