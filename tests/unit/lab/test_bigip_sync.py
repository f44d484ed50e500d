"""Config sync of the F5 emulator's pair (lab/labctl/bigip/sync.py): asynchronous, per device group,
with its faults - through the Cluster itself, without the network."""

import time

import pytest
from labctl.bigip.model import F5Error
from labctl.bigip.rest import Cluster

GROUP = "dg-lab-failover"
# Phases long enough that no test can miss one on a busy machine; a test moves the sync on by
# shortening them (set_timing wakes the sync's thread), so that nothing depends on speed.
LONG = 600.0


@pytest.fixture
def cluster(tmp_path):
    config = {
        "version": "17.1.2",
        "device_group": GROUP,
        "username": "admin",
        "password": "x",
        "sync": {"start_seconds": LONG, "seconds": LONG},
        "devices": [
            {"name": "bigip-a", "hostname": "bigip-a.lab.invalid"},
            {"name": "bigip-b", "hostname": "bigip-b.lab.invalid"},
        ],
    }
    pair = Cluster(config, tmp_path)
    yield pair
    with pair.lock:
        pair.sync.job = None  # ends the sync thread
        pair.sync._wake.notify_all()


def change(cluster, name="web"):
    with cluster.lock:
        cluster.devices["bigip-a"].create_pool({"name": name, "partition": "Common"})


def ask(cluster, device="bigip-a", group=GROUP):
    with cluster.lock:
        cluster.sync.ask(device, group, "to-group")


def state(cluster, viewer="bigip-a"):
    with cluster.lock:
        return cluster.sync.state(viewer)


def group_line(view, group=GROUP):
    [line] = [d for d in view["details"] if d.startswith(f"{group} (")]
    return line


def timing(cluster, **values):
    with cluster.lock:
        cluster.sync.set_timing(values)


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_pair_lists_every_device_group_and_is_in_sync_at_first(cluster):
    view = state(cluster)
    assert (view["status"], view["color"]) == ("In Sync", "green")
    assert view["details"][0] == "bigip-b.lab.invalid: connected"  # the peer, not the viewer
    assert [d.split(" (")[0] for d in view["details"][1:]] == [GROUP, "device_trust_group", "datasync-global-dg"]
    with cluster.lock:
        assert cluster.sync.group_view("/Common/datasync-global-dg", "17.1.2")["type"] == "sync-only"
        with pytest.raises(F5Error, match="01020036:3") as missing:
            cluster.sync.group_view("/Common/nope", "17.1.2")
    assert missing.value.status == 404


def test_a_change_is_pending_then_the_sync_runs_in_the_background(cluster):
    change(cluster)
    pending = state(cluster)
    assert (pending["status"], pending["color"]) == ("Changes Pending", "yellow")
    assert " - Recommended action: Synchronize bigip-a.lab.invalid to group dg-lab-failover" in pending["details"]
    ask(cluster)
    time.sleep(0.2)
    assert state(cluster)["status"] == "Changes Pending"  # answered at once; the sync has not started
    timing(cluster, start_seconds=0)
    wait_until(lambda: state(cluster)["status"] != "Changes Pending")
    source, peer = state(cluster), state(cluster, "bigip-b")
    assert (source["status"], source["color"]) == ("Not All Devices Synced", "yellow")
    assert "bigip-b.lab.invalid did not receive last sync successfully." in group_line(source)
    assert (peer["status"], peer["color"]) == ("Syncing", "blue")
    assert "/Common/web" not in cluster.devices["bigip-b"].config["pools"]
    timing(cluster, seconds=0)
    wait_until(lambda: state(cluster)["status"] == "In Sync")
    assert "/Common/web" in cluster.devices["bigip-b"].config["pools"]
    assert group_line(state(cluster, "bigip-b")) == f"{GROUP} (In Sync): All devices in the device group are in sync"


def test_a_second_sync_is_refused_while_one_runs_and_a_change_during_it_stays_pending(cluster):
    change(cluster)
    ask(cluster)
    with pytest.raises(F5Error, match="already in progress") as refused:
        ask(cluster, "bigip-a")
    assert refused.value.status == 400
    timing(cluster, start_seconds=0)
    wait_until(lambda: state(cluster)["status"] == "Not All Devices Synced")
    change(cluster, "late")  # reaches bigip-a after the sync took its configuration
    timing(cluster, seconds=0)
    wait_until(lambda: cluster.sync.job is None)
    after = state(cluster)
    assert after["status"] == "Changes Pending"
    assert "/Common/web" in cluster.devices["bigip-b"].config["pools"]
    assert "/Common/late" not in cluster.devices["bigip-b"].config["pools"]
    ask(cluster)
    wait_until(lambda: state(cluster)["status"] == "In Sync")
    assert "/Common/late" in cluster.devices["bigip-b"].config["pools"]


def test_a_stuck_sync_stays_pending_until_the_fault_is_cleared(cluster):
    with cluster.lock:
        cluster.sync.set_fault({"fault": "stuck"})
    timing(cluster, start_seconds=0, seconds=0)
    change(cluster)
    ask(cluster)
    time.sleep(0.5)
    assert state(cluster)["status"] == "Changes Pending" and cluster.sync.job["phase"] == "asked"
    with pytest.raises(F5Error, match="already in progress"):
        ask(cluster)
    with cluster.lock:
        cluster.sync.set_fault(None)
    wait_until(lambda: state(cluster)["status"] == "In Sync")


def test_a_peer_that_does_not_take_the_sync_leaves_not_all_devices_synced(cluster):
    with cluster.lock:
        cluster.sync.set_fault({"fault": "peer-fails", "device": "bigip-b"})
    timing(cluster, start_seconds=0, seconds=0)
    change(cluster)
    ask(cluster)
    wait_until(lambda: cluster.sync.job is None)
    view = state(cluster)
    assert view["status"] == "Not All Devices Synced"
    assert "bigip-b.lab.invalid did not receive last sync successfully." in group_line(view)
    assert "/Common/web" not in cluster.devices["bigip-b"].config["pools"]
    with cluster.lock:
        cluster.sync.set_fault(None)
    ask(cluster)
    wait_until(lambda: state(cluster)["status"] == "In Sync")
    assert "/Common/web" in cluster.devices["bigip-b"].config["pools"]


def test_another_group_pending_holds_the_overall_status_but_not_the_failover_group(cluster):
    with cluster.lock:
        cluster.sync.set_fault({"fault": "pending", "device": "bigip-b"})
    view = state(cluster)
    assert (view["status"], view["color"]) == ("Changes Pending", "red")
    assert group_line(view).startswith(f"{GROUP} (In Sync)")
    assert group_line(view, "datasync-global-dg").startswith("datasync-global-dg (Changes Pending)")
    assert " - Recommended action: Synchronize bigip-b.lab.invalid to group datasync-global-dg" in view["details"]
    ask(cluster, "bigip-b", "datasync-global-dg")  # what the recommended action says clears it
    assert state(cluster)["status"] == "In Sync"


def test_changes_on_both_devices_are_a_red_conflict_and_an_unreachable_peer_disconnects(cluster):
    change(cluster)
    with cluster.lock:
        cluster.devices["bigip-b"].create_pool({"name": "other", "partition": "Common"})
    view = state(cluster)
    assert (view["status"], view["color"]) == ("Changes Pending", "red")
    assert "possible change conflict between bigip-a.lab.invalid and bigip-b.lab.invalid" in view["summary"]
    cluster.reachable["bigip-b"] = False
    gone = state(cluster)
    assert (gone["status"], gone["color"]) == ("Disconnected", "red")
    assert "bigip-b.lab.invalid: disconnected" in gone["details"]


def test_unknown_groups_faults_and_timings_are_refused(cluster):
    with cluster.lock, pytest.raises(F5Error, match="device group \\(/Common/nope\\) was not found"):
        cluster.sync.ask("bigip-a", "nope", "to-group")
    with cluster.lock, pytest.raises(F5Error, match="unknown sync fault"):
        cluster.sync.set_fault({"fault": "slow"})
    with cluster.lock, pytest.raises(F5Error, match="needs the device"):
        cluster.sync.set_fault({"fault": "peer-fails"})
    with cluster.lock, pytest.raises(F5Error, match="0 or more"):
        cluster.sync.set_timing({"seconds": -1})
