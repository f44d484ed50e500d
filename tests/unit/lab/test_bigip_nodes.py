"""Node monitors, what a node does to its members, member and node statistics texts, and the
per-object generation of the F5 emulator (docs/lab.md), without the network: the monitor's
probes are replaced by given answers and its clock is passed in, so nothing here waits."""

import threading
import time
import types

import pytest
from labctl.bigip import monitor as monitor_module
from labctl.bigip.model import Device, F5Error
from labctl.bigip.monitor import HealthMonitor

POOL, MEMBER, NODE = "/Common/web", "/Common/app1:80", "/Common/app1"


@pytest.fixture
def device(tmp_path):
    box = Device("bigip-a", "17.1.2", tmp_path / "bigip-a.json")
    box.create_pool({"name": "web", "partition": "Common"})
    box.create_member(POOL, {"name": "app1:80", "address": "198.18.1.5"})
    return box


def fold(device, answers: dict, monkeypatch, now: float) -> None:
    """One round of the health monitor: every due probe answered from ``answers`` (address ->
    bool), then the results folded as seen ``now`` seconds after the device's first round (the
    probes are stamped with the real clock, so the steps are more than a monitor interval apart)."""
    if id(device) not in fold.watchers:
        cluster = types.SimpleNamespace(devices={device.name: device}, lock=threading.RLock())
        fold.watchers[id(device)] = (HealthMonitor(cluster), time.time())
    watcher, start = fold.watchers[id(device)]
    monkeypatch.setattr(monitor_module, "probe", lambda settings, address, port: answers[address])
    for key, settings, address, port in watcher._due(start + now):
        watcher._run(key, settings, address, port)
    watcher._fold(start + now)


fold.watchers = {}


def stats(entries_answer: dict) -> dict:
    (entry,) = entries_answer["entries"].values()
    return {k: v.get("description", v.get("value")) for k, v in entry["nestedStats"]["entries"].items()}


def test_a_node_without_a_monitor_reads_unchecked_with_the_real_texts(device):
    view = device.node_view(NODE)
    assert (view["monitor"], view["state"], view["session"]) == ("default", "unchecked", "user-enabled")
    node = stats(device.node_stats(NODE))
    assert node["status.availabilityState"] == "unknown"
    assert node["status.statusReason"] == "Node address does not have service checking enabled"
    assert (node["monitorRule"], node["monitorStatus"], node["sessionStatus"]) == ("none", "unchecked", "enabled")


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        ("/Common/nosuch", "01020036:3: The requested monitor (/Common/nosuch) was not found."),
        ("/Common/http", "wildcard destination service"),  # a node has no port for it
        ("min 1 of { /Common/icmp /Common/tcp }", "wildcard destination service"),
    ],
)
def test_a_node_monitor_that_cannot_work_is_refused_and_nothing_changes(device, rule, error):
    before = dict(device.get_node(NODE))
    with pytest.raises(F5Error, match=error.replace("(", r"\(").replace(")", r"\)")) as refused:
        device.update_node(NODE, {"monitor": rule})
    assert refused.value.status == 400
    assert device.get_node(NODE) == before
    with pytest.raises(F5Error):
        device.create_node({"name": "other", "address": "198.18.1.6", "monitor": rule})
    assert "/Common/other" not in device.config["nodes"]


def test_a_node_monitor_with_a_port_in_its_destination_is_accepted(device):
    device.create_monitor("tcp", {"name": "tcp_22", "destination": "*:22"})
    assert device.update_node(NODE, {"monitor": "/Common/tcp_22"})["monitor"] == "/Common/tcp_22"
    with pytest.raises(F5Error, match="in use by node /Common/app1"):
        device.delete_monitor("/Common/tcp_22")


def test_a_monitored_node_goes_checking_up_down_and_takes_its_members_down(device, monkeypatch):
    device.update_node(NODE, {"monitor": "/Common/icmp"})
    assert (device.node_view(NODE)["state"], device.node_view(NODE)["session"]) == ("checking", "monitor-enabled")
    fold(device, {"198.18.1.5": True}, monkeypatch, now=0)
    assert device.node_view(NODE)["state"] == "up"
    node = stats(device.node_stats(NODE))
    assert (node["status.availabilityState"], node["monitorRule"]) == ("available", "/Common/icmp")
    member = device.member_view(POOL, MEMBER)
    assert (member["state"], member["session"]) == ("unchecked", "user-enabled")  # the pool has no monitor

    # The node stops answering: one failed probe is not enough, the monitor's timeout (16 s) is.
    fold(device, {"198.18.1.5": False}, monkeypatch, now=10)
    assert device.node_view(NODE)["state"] == "up"
    fold(device, {"198.18.1.5": False}, monkeypatch, now=30)
    assert device.node_view(NODE)["state"] == "down"
    member = device.member_view(POOL, MEMBER)
    assert (member["state"], member["session"]) == ("down", "monitor-enabled")
    member_stats = stats(device.member_stats(POOL, MEMBER))
    assert (member_stats["status.availabilityState"], member_stats["status.statusReason"]) == ("offline", "Parent down")
    pool = stats(device.pool_stats(POOL))
    assert (pool["status.availabilityState"], pool["availableMemberCnt"]) == ("offline", 0)
    assert device.member_summary(POOL, MEMBER)["available"] is False

    fold(device, {"198.18.1.5": True}, monkeypatch, now=45)
    assert device.member_view(POOL, MEMBER)["state"] == "unchecked"
    assert device.member_summary(POOL, MEMBER)["available"] is True


def test_a_disabled_or_offline_node_keeps_its_members_config_but_not_their_traffic(device):
    device.update_node(NODE, {"session": "user-disabled"})
    assert device.node_view(NODE)["session"] == "user-disabled"
    member = device.member_view(POOL, MEMBER)
    assert (member["state"], member["session"]) == ("unchecked", "user-enabled")  # the member's own values
    member_stats = stats(device.member_stats(POOL, MEMBER))
    assert member_stats["status.enabledState"] == "disabled-by-parent"
    summary = device.member_summary(POOL, MEMBER)
    assert (summary["enabled"], summary["available"]) == (False, True)  # no new connections, still up

    device.update_node(NODE, {"session": "user-disabled", "state": "user-down"})
    assert device.node_view(NODE)["state"] == "user-down"
    assert stats(device.node_stats(NODE))["status.statusReason"] == "Forced down"
    member_stats = stats(device.member_stats(POOL, MEMBER))
    assert (member_stats["status.availabilityState"], member_stats["status.statusReason"]) == ("offline", "Parent down")
    assert device.member_summary(POOL, MEMBER)["available"] is False


def test_member_statistics_texts_follow_a_real_box(device, monkeypatch):
    device.update_pool(POOL, {"monitor": "/Common/http"})
    fold(device, {"198.18.1.5": True}, monkeypatch, now=0)
    member_stats = stats(device.member_stats(POOL, MEMBER))
    assert member_stats["monitorRule"] == "/Common/http (pool monitor)"
    assert (member_stats["status.statusReason"], member_stats["sessionStatus"]) == (
        "Pool member is available",
        "enabled",
    )
    device.update_member(POOL, MEMBER, {"session": "user-disabled"})
    member_stats = stats(device.member_stats(POOL, MEMBER))
    assert member_stats["status.statusReason"] == "Pool member is available, user disabled"
    assert (member_stats["sessionStatus"], member_stats["status.enabledState"]) == ("user-disabled", "disabled")
    device.update_member(POOL, MEMBER, {"monitor": "/Common/tcp"})
    assert stats(device.member_stats(POOL, MEMBER))["monitorRule"] == "/Common/tcp"


def test_generation_is_per_object(device):
    pool_before = device.pool_view(POOL)["generation"]
    device.create_pool({"name": "other", "partition": "Common"})
    device.update_member(POOL, MEMBER, {"ratio": 2})
    assert device.pool_view(POOL)["generation"] == pool_before  # not touched since
    assert device.member_view(POOL, MEMBER)["generation"] == device.generation
    assert device.pool_view("/Common/other")["generation"] < device.generation

    peer = Device("bigip-b", "17.1.2", None)
    peer.replace_config(device.config, device.last_change)
    kept = peer.member_view(POOL, MEMBER)["generation"]
    changed = {**device.config, "pools": {**device.config["pools"]}}
    changed["pools"]["/Common/other"] = {**changed["pools"]["/Common/other"], "description": "x"}
    peer.replace_config(changed, device.last_change)
    assert peer.member_view(POOL, MEMBER)["generation"] == kept  # unchanged by the second sync
    assert peer.pool_view("/Common/other")["generation"] == peer.generation
