"""_bigip's config sync against scripted cm/sync-status answers in BIG-IP's own shape: the group's
own line decides, refused syncs and changes that arrive during another run's sync are asked again,
and every failure names the status, the summary and the recommended action."""

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _bigip

GROUP = "dg-lab-failover"
BASE = "https://localhost/mgmt/tm/cm/syncStatus/0/details"


def answer(status, *details, summary="", color="yellow"):
    """cm/sync-status as BIG-IP 17.1 answers it (f5-ansible issue #2378, PR #1788)."""
    lines = {
        f"{BASE}/{i}": {"nestedStats": {"entries": {"details": {"description": text}}}}
        for i, text in enumerate(details)
    }
    entries = {
        "color": {"description": color},
        BASE: {"nestedStats": {"entries": lines}},
        "mode": {"description": "high-availability"},
        "status": {"description": status},
        "summary": {"description": summary},
    }
    return {"entries": {"https://localhost/mgmt/tm/cm/sync-status/0": {"nestedStats": {"entries": entries}}}}


def group(status, text="", name=GROUP):
    return f"{name} ({status}): {text}"


IN_SYNC = answer(
    "In Sync", "bigip-b: connected", group("In Sync"), summary="All devices in the device group are in sync"
)
PENDING = answer(
    "Changes Pending",
    "bigip-b: connected",
    group("Changes Pending", "There is a possible change conflict between bigip-a and bigip-b."),
    " - Recommended action: Synchronize bigip-a to group dg-lab-failover",
    summary="There is a possible change conflict between bigip-a and bigip-b.",
)
SYNCING = answer("Not All Devices Synced", "bigip-b: connected", group("Not All Devices Synced", "bigip-b did not..."))
OTHER_PENDING = answer(
    "Changes Pending",
    "bigip-b: connected",
    group("In Sync"),
    group("Changes Pending", "There is a possible change conflict between bigip-a and bigip-b.", "datasync-global-dg"),
    " - Recommended action: Synchronize bigip-b to group datasync-global-dg",
    summary="There is a possible change conflict between bigip-a and bigip-b.",
    color="red",
)


class FakeDevice:
    """A device whose sync-status answers follow a script; each POST is recorded (and may be refused)."""

    def __init__(self, script, refuse=0):
        self.name = "bigip-a"
        self.script = list(script)
        self.posts = []
        self.refuse = refuse

    def get(self, path):
        assert path == "/mgmt/tm/cm/sync-status"
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def request(self, method, path, body=None):
        assert (method, path) == ("POST", "/mgmt/tm/cm")
        self.posts.append(body["utilCmdArgs"])
        if self.refuse:
            self.refuse -= 1
            raise _bigip.BigipError(
                f"bigip-a: POST /mgmt/tm/cm answered 400 (error): A config sync of device group /Common/{GROUP} "
                "is already in progress.",
                400,
            )
        return {}


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(_bigip.time, "sleep", lambda seconds: None)


def test_the_status_is_the_groups_own_line_not_the_aggregate():
    state = _bigip.sync_status(FakeDevice([OTHER_PENDING]), f"/Common/{GROUP}")
    assert (state["status"], state["group_status"]) == ("Changes Pending", "In Sync")
    other = _bigip.sync_status(FakeDevice([OTHER_PENDING]), "datasync-global-dg")
    assert other["group_status"] == "Changes Pending"
    assert other["recommended"] == "Recommended action: Synchronize bigip-b to group datasync-global-dg"
    unlisted = _bigip.sync_status(FakeDevice([answer("Changes Pending", "bigip-b: connected")]), GROUP)
    assert unlisted["group_status"] == "Changes Pending"  # no line of its own: the overall status


def test_another_groups_pending_changes_neither_sync_nor_wait():
    device = FakeDevice([OTHER_PENDING])
    synced, status, summary, waited = _bigip.config_sync(device, GROUP, timeout=10, interval=1)
    assert (synced, status, waited) == (False, "In Sync", 0.0)
    assert "change conflict" in summary  # BIG-IP's overall summary, about the other group
    assert device.posts == []


def test_a_sync_passes_through_pending_and_not_all_devices_synced():
    device = FakeDevice([PENDING, PENDING, SYNCING, SYNCING, IN_SYNC])
    synced, status, _summary, _waited = _bigip.config_sync(device, GROUP, timeout=60, interval=1)
    assert (synced, status) == (True, "In Sync")
    assert device.posts == [f"config-sync to-group {GROUP}"]


def test_a_refused_sync_and_a_change_left_pending_by_another_sync_are_asked_again(monkeypatch):
    clock = iter(range(0, 1000, 2))  # every look 2 s later: the ask is repeated at the second look
    monkeypatch.setattr(_bigip.time, "monotonic", lambda: float(next(clock)))
    device = FakeDevice([PENDING, PENDING, PENDING, SYNCING, PENDING, PENDING, IN_SYNC], refuse=1)
    synced, status, _summary, _waited = _bigip.config_sync(device, GROUP, timeout=600, interval=1)
    assert (synced, status) == (True, "In Sync")
    assert len(device.posts) >= 3  # refused, accepted, and once more after the other run's sync
    assert set(device.posts) == {f"config-sync to-group {GROUP}"}


def test_a_sync_that_never_finishes_fails_naming_status_and_recommended_action(monkeypatch):
    clock = iter(range(0, 1000, 1))
    monkeypatch.setattr(_bigip.time, "monotonic", lambda: float(next(clock)))
    with pytest.raises(_bigip.BigipError) as error:
        _bigip.config_sync(FakeDevice([PENDING]), GROUP, timeout=20, interval=1)
    message = str(error.value)
    assert "it did not finish in 20 s: Changes Pending" in message
    assert "Recommended action: Synchronize bigip-a to group dg-lab-failover" in message


def test_a_disconnected_group_or_an_unknown_status_fails_at_once():
    disconnected = answer("Disconnected", "bigip-b: disconnected", group("In Sync"), summary="peer gone", color="red")
    device = FakeDevice([PENDING, disconnected])
    with pytest.raises(_bigip.BigipError, match="the group is Disconnected \\(peer gone\\)"):
        _bigip.config_sync(device, GROUP, timeout=60, interval=1)
    with pytest.raises(_bigip.BigipError, match="the group is Sync Failure"):
        _bigip.config_sync(FakeDevice([answer("Sync Failure", group("Sync Failure"))]), GROUP, timeout=60, interval=1)


def test_other_refusals_are_not_taken_for_a_sync_under_way():
    device = FakeDevice([PENDING])

    def refuse(*args, **kwargs):
        raise _bigip.BigipError("bigip-a: 401 wrong password", 401)

    device.request = refuse
    with pytest.raises(_bigip.BigipError, match="401"):
        _bigip.config_sync(device, GROUP, timeout=60, interval=1)
