"""Config sync through every state a real pair shows (lab/labctl/bigip/sync.py, docs/lab.md): the
collection's f5_config_sync and the vendor's bigip_configsync_action side by side, each result
read back from both devices and the emulator's own sync status, never from the module's answer.

Each case slows the sync or injects a fault through the emulator's control socket; the phases are
made long enough that no case depends on how fast the machine is."""

from __future__ import annotations

import pytest
import yaml
from labclient import F5_B, emulator, f5, wait_for

GROUP = "dg-lab-failover"
OURS = {
    "server": "198.18.0.21",
    "name": "bigip-a",
    "username": "{{ f5_username }}",
    "password": "{{ f5_password }}",
    "ca_path": "{{ vm_autoscale_ca_path }}",
    "device_group": GROUP,
    "interval": 0.5,
}
VENDOR_PROVIDER = (
    "{server: 198.18.0.21, server_port: 443, user: '{{ f5_username }}', password: '{{ f5_password }}', "
    "validate_certs: true, no_f5_teem: true}"
)


@pytest.fixture
def pending_pool(lab):
    """A pool made on bigip-a only: the failover group reads Changes Pending. Gone from both after."""
    emulator("f5", "DELETE", "/sync-fault")
    timing = emulator("f5", "GET", "/sync-timing")
    emulator("f5", "POST", "/devices/bigip-a/sync")  # whatever a test before left unsynced
    assert emulator("f5", "GET", "/sync-status")["status"] == "In Sync"
    assert f5("POST", "/mgmt/tm/ltm/pool", json={"name": "sync-case"}).status_code == 200
    assert emulator("f5", "GET", "/sync-status")["status"] == "Changes Pending"
    yield "sync-case"
    emulator("f5", "DELETE", "/sync-fault")
    emulator("f5", "PUT", "/sync-timing", timing)
    f5("DELETE", "/mgmt/tm/ltm/pool/~Common~sync-case")
    emulator("f5", "POST", "/devices/bigip-a/sync")  # at once, ending any sync under way: the pair as it was
    assert not emulator("f5", "GET", "/sync-status")["syncing"]
    assert emulator("f5", "GET", "/sync-status")["status"] == "In Sync"


def tasks(*names: str, timeout: int = 30) -> str:
    """A play running f5_config_sync ("ours") and bigip_configsync_action ("vendor") in the order named."""
    task = {
        "ours": {"danacloud.vm_autoscale.f5_config_sync": {**OURS, "timeout": timeout}},
        "vendor": {"f5networks.f5_modules.bigip_configsync_action": {
            "device_group": GROUP, "sync_device_to_group": True, "provider": "__PROVIDER__"}},
    }  # fmt: skip
    play = [{"hosts": "plg-lab", "gather_facts": False, "tasks": [
        {"name": name, **task[name], "delegate_to": "localhost", "ignore_errors": True} for name in names
    ]}]  # fmt: skip
    return yaml.safe_dump(play, sort_keys=False).replace("__PROVIDER__", VENDOR_PROVIDER) + "\n"


def run_both(run_playbook, *names: str, timeout: int = 30) -> dict:
    """Run the tasks named (default: ours, then the vendor's); their results by name (failures kept)."""
    names = names or ("ours", "vendor")
    run = run_playbook(tasks(*names, timeout=timeout))
    assert run.result is not None, run.stderr
    return {name: run.task(name) for name in names}


def last_request(device: str = "bigip-a") -> int:
    return emulator("f5", "GET", f"/devices/{device}/requests")[-1]["seq"]


def requests_since(seq: int, method: str, path: str) -> list:
    calls = emulator("f5", "GET", f"/devices/bigip-a/requests?since={seq}")
    return [c for c in calls if c["method"] == method and c["path"].split("?")[0].rstrip("/") == path]


def on_peer(pool: str) -> bool:
    return f5("GET", f"/mgmt/tm/ltm/pool/~Common~{pool}", device=F5_B).status_code == 200


def group_status(device: str = "bigip-a") -> str:
    details = emulator("f5", "GET", f"/sync-status?device={device}")["details"]
    [line] = [d for d in details if d.startswith(f"{GROUP} (")]
    return line.split("(", 1)[1].split(")", 1)[0]


def test_a_slow_sync_is_waited_through_pending_and_not_all_devices_synced(run_playbook, pending_pool):
    # 1 s before the sync starts, 4 s of syncing: the vendor module's first look (3 s) meets
    # "Not All Devices Synced" and waits; ours waits through every phase.
    emulator("f5", "PUT", "/sync-timing", {"start_seconds": 1, "seconds": 4})
    results = run_both(run_playbook)
    ours, vendor = results["ours"], results["vendor"]
    assert ours["changed"] and ours["status"] == "In Sync" and ours["waited"] >= 4, ours
    assert not vendor.get("failed") and vendor["changed"] is False, vendor  # in sync by then: nothing to do
    assert on_peer(pending_pool)
    assert group_status("bigip-a") == group_status("bigip-b") == "In Sync"


def test_a_sync_that_starts_late_fails_the_vendor_module_but_not_ours(run_playbook, pending_pool):
    # A sync still "Changes Pending" at the vendor module's first look (3 s) makes it fail with the
    # recommended action (f5-ansible issues #2065, #2378); ours, asked next, finds the sync under
    # way (its own ask refused), waits, and ends in sync. The sync starts 12 s after the ask: the
    # vendor module looks 3 s after its ask, so a busy machine has 9 s of margin, not 2.
    emulator("f5", "PUT", "/sync-timing", {"start_seconds": 12, "seconds": 1})
    results = run_both(run_playbook, "vendor", "ours")
    vendor, ours = results["vendor"], results["ours"]
    assert vendor.get("failed"), vendor
    assert f"Recommended action: Synchronize bigip-a.lab.invalid to group {GROUP}" in vendor["msg"]
    assert not ours.get("failed") and ours["status"] == "In Sync", ours
    assert on_peer(pending_pool)


def test_a_stuck_sync_fails_both_with_the_recommended_action(run_playbook, pending_pool):
    emulator("f5", "POST", "/sync-fault", {"fault": "stuck"})
    results = run_both(run_playbook, "vendor", "ours", timeout=6)
    vendor, ours = results["vendor"], results["ours"]
    assert vendor.get("failed") and "Recommended action" in vendor["msg"], vendor
    assert ours.get("failed"), ours
    assert "did not finish in 6 s: Changes Pending" in ours["msg"]
    assert f"Recommended action: Synchronize bigip-a.lab.invalid to group {GROUP}" in ours["msg"]
    assert not on_peer(pending_pool)
    assert group_status() == "Changes Pending"


def test_a_peer_that_does_not_take_the_sync(run_playbook, pending_pool):
    emulator("f5", "POST", "/sync-fault", {"fault": "peer-fails", "device": "bigip-b"})
    ours = run_both(run_playbook, "ours", timeout=8)["ours"]
    assert ours.get("failed") and "did not finish in 8 s: Not All Devices Synced" in ours["msg"], ours
    assert "bigip-b.lab.invalid did not receive last sync successfully" in ours["msg"]
    assert not on_peer(pending_pool)
    assert group_status() == "Not All Devices Synced"

    # The vendor module waits through "Not All Devices Synced" (for up to 9 minutes): it ends when
    # the group does, here when the fault is gone and a sync done by hand reaches the peer.
    wait_for(lambda: not emulator("f5", "GET", "/sync-status")["syncing"], 30, "no sync under way")
    seq = last_request()
    vendor_run = run_playbook.start(tasks("vendor"))
    wait_for(lambda: requests_since(seq, "POST", "/mgmt/tm/cm"), 60, "the vendor module's sync")
    wait_for(lambda: len(requests_since(seq, "GET", "/mgmt/tm/cm/sync-status")) >= 4, 60, "it waiting")
    assert group_status() == "Not All Devices Synced" and vendor_run.poll() is None
    emulator("f5", "DELETE", "/sync-fault")
    emulator("f5", "POST", "/devices/bigip-a/sync")
    vendor = run_playbook.finish(vendor_run).task("vendor")
    assert not vendor.get("failed") and vendor["changed"], vendor
    assert on_peer(pending_pool)
    assert group_status("bigip-b") == "In Sync"


def test_another_device_groups_pending_changes_are_not_ours(run_playbook, lab):
    # After a device rejoins, datasync-global-dg may read Changes Pending (a verified capture):
    # the overall status is Changes Pending while the failover group is in sync.
    emulator("f5", "POST", "/devices/bigip-a/sync")  # whatever a test before left unsynced
    emulator("f5", "POST", "/sync-fault", {"fault": "pending", "device": "bigip-b"})
    try:
        seq = last_request()
        assert emulator("f5", "GET", "/sync-status")["status"] == "Changes Pending"
        results = run_both(run_playbook, timeout=10)
        ours, vendor = results["ours"], results["vendor"]
        assert not ours.get("failed") and ours["changed"] is False and ours["status"] == "In Sync", ours
        # The vendor module reads the overall status, syncs the failover group, and fails on the
        # other group's recommended action.
        assert vendor.get("failed"), vendor
        assert "Recommended action: Synchronize bigip-b.lab.invalid to group datasync-global-dg" in vendor["msg"]
        posts = requests_since(seq, "POST", "/mgmt/tm/cm")
        assert len(posts) == 1, posts  # the vendor module's; ours asked nothing
        assert emulator("f5", "GET", "/sync-status")["status"] == "Changes Pending"
    finally:
        emulator("f5", "DELETE", "/sync-fault")
    assert emulator("f5", "GET", "/sync-status")["status"] == "In Sync"


def test_a_disconnected_peer_fails_both_at_once(run_playbook, pending_pool):
    emulator("f5", "POST", "/devices/bigip-b/reachable", {"reachable": False})
    try:
        results = run_both(run_playbook)
        ours, vendor = results["ours"], results["vendor"]
    finally:
        emulator("f5", "POST", "/devices/bigip-b/reachable", {"reachable": True})
    assert ours.get("failed") and "the group is Disconnected" in ours["msg"], ours
    assert vendor.get("failed") and "disconnected" in vendor["msg"].lower(), vendor
    assert not on_peer(pending_pool)
