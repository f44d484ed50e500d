"""f5_pool_status and f5_config_sync driven through main() against scripted iControl REST answers
in BIG-IP's own shapes (open_url replaced; no network): what each reads, decides and reports, and
how each fails."""

import base64
import io
import json
from urllib.error import HTTPError, URLError

from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _bigip
from ansible_collections.danacloud.vm_autoscale.plugins.modules import f5_config_sync, f5_pool_status

AUTH = {"username": "admin", "password": "secret", "validate_certs": True}
DEVICES = [{"name": "bigip-a", "server": "bigip-a.example"}, {"name": "bigip-b", "server": "bigip-b.example"}]
MEMBERS = "/mgmt/tm/ltm/pool/~Common~web/members"


class Bigip:
    """Scripted devices: answers[(host, method, path)] is a dict, a list (one per call, the last
    repeated), an int (that HTTP status) or an exception to raise. Every call is recorded."""

    def __init__(self, monkeypatch, answers):
        self.answers = answers
        self.calls = []
        monkeypatch.setattr(_bigip, "open_url", self.open_url)
        monkeypatch.setattr(_bigip.time, "sleep", lambda seconds: None)

    def open_url(self, url, method="GET", data=None, headers=None, **kwargs):
        host, _sep, path = url.removeprefix("https://").partition("/")
        key = (host.split(":")[0], method, "/" + path)
        self.calls.append((key, json.loads(data) if data else None, headers))
        answer = self.answers.get(key, 404)
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, int):
            body = json.dumps({"code": answer, "message": f"01020036:3: The requested object ({path}) was not found."})
            raise HTTPError(url, answer, "error", {}, io.BytesIO(body.encode()))
        return io.BytesIO(json.dumps(answer).encode())


def member(name, address, state="up", session="monitor-enabled"):
    return {"name": name, "address": address, "state": state, "session": session, "ratio": 1}


def member_stats(availability, enabled="enabled", connections=0):
    entries = {
        "status.availabilityState": {"description": availability},
        "status.enabledState": {"description": enabled},
        "serverside.curConns": {"value": connections},
    }
    return {"entries": {"https://localhost/mgmt/tm/ltm/pool/...": {"nestedStats": {"entries": entries}}}}


def failover(status):
    entries = {"status": {"description": status}}
    return {"entries": {"https://localhost/mgmt/tm/cm/failover-status/0": {"nestedStats": {"entries": entries}}}}


def pool_args(**extra):
    return {"devices": DEVICES, **AUTH, "pool": "web", **extra}


def test_pool_status_reads_every_device_and_says_whether_they_agree(run_module, monkeypatch):
    one = member("web1:80", "198.18.1.11")
    bigip = Bigip(monkeypatch, {
        ("bigip-a.example", "GET", MEMBERS): {"items": [one, member("web2:80", "198.18.1.12")]},
        ("bigip-b.example", "GET", MEMBERS): {"items": [one]},
        ("bigip-a.example", "GET", "/mgmt/tm/cm/failover-status"): failover("STANDBY"),
        ("bigip-b.example", "GET", "/mgmt/tm/cm/failover-status"): failover("ACTIVE"),
    })  # fmt: skip
    result = run_module(f5_pool_status.main, pool_args(failover=True))
    assert not result.get("failed") and result["changed"] is False
    assert result["active"] == "bigip-b"
    assert result["agree"] is False and result["member_names"] == ["web1:80", "web2:80"]
    assert [d["members"][0]["address"] for d in result["devices"]] == ["198.18.1.11", "198.18.1.11"]
    assert "ratio" not in result["devices"][0]["members"][0]  # only the keys the roles use
    assert all(method == "GET" for (_host, method, _path), _body, _headers in bigip.calls)  # reads only


def test_pool_status_names_the_pool_and_the_device_that_failed(run_module, monkeypatch):
    Bigip(monkeypatch, {
        ("bigip-a.example", "GET", MEMBERS): {"items": []},
        ("bigip-b.example", "GET", MEMBERS): URLError("Connection refused"),
    })  # fmt: skip
    result = run_module(f5_pool_status.main, pool_args())
    assert result["failed"]
    assert (
        result["msg"]
        == "Failed to read pool web: bigip-b (https://bigip-b.example:443) cannot be reached: Connection refused"
    )
    Bigip(monkeypatch, {("bigip-a.example", "GET", MEMBERS): 401})
    result = run_module(f5_pool_status.main, pool_args())
    assert (
        "bigip-a: GET /mgmt/tm/ltm/pool/~Common~web/members answered 401 (the user name or password is wrong)"
        in (result["msg"])
    )
    assert "secret" not in json.dumps(result)


def test_pool_status_refuses_an_empty_device_list(run_module):
    result = run_module(f5_pool_status.main, {**pool_args(), "devices": []})
    assert (
        result["failed"]
        and result["msg"] == "Failed to read pool web: devices is empty: list the F5 devices (f5_devices)"
    )


STATS = "/mgmt/tm/ltm/pool/~Common~web/members/~Common~web3%3A80/stats"  # the member name URL-quoted


def test_pool_status_waits_until_a_member_is_available_on_every_device(run_module, monkeypatch):
    bigip = Bigip(monkeypatch, {
        ("bigip-a.example", "GET", STATS): member_stats("available"),
        ("bigip-b.example", "GET", STATS): [member_stats("unknown"), member_stats("unknown"), member_stats("available")],
    })  # fmt: skip
    wait = {"member": "web3:80", "until": "available", "timeout": 5, "interval": 0.01}
    result = run_module(f5_pool_status.main, pool_args(wait=wait))
    assert not result.get("failed") and result["met"] is True
    assert result["stats"]["bigip-b"] == {"availability": "available", "enabled": "enabled", "connections": 0}
    assert sum(1 for (host, _m, _p), _b, _h in bigip.calls if host == "bigip-b.example") == 3


def test_pool_status_drain_timeout_fails_with_each_devices_state_or_reports_it(run_module, monkeypatch):
    Bigip(monkeypatch, {
        ("bigip-a.example", "GET", STATS): member_stats("available", "disabled", connections=3),
        ("bigip-b.example", "GET", STATS): 404,  # not in the pool there: drained enough
    })  # fmt: skip
    wait = {"member": "web3:80", "until": "drained", "timeout": 0, "interval": 0.01}
    result = run_module(f5_pool_status.main, pool_args(wait=wait))
    assert result["failed"] and result["met"] is False
    assert result["msg"].startswith(
        "Failed to wait for member web3:80 of pool web: it is not drained on every device after "
    )
    assert "bigip-a: available, disabled, 3 connections; bigip-b: not in the pool" in result["msg"]
    result = run_module(f5_pool_status.main, pool_args(wait={**wait, "fail_on_timeout": False}))
    assert not result.get("failed") and result["met"] is False and result["stats"]["bigip-b"] is None


def sync_status(status, line):
    """cm/sync-status with one group line (the full shapes are in module_utils/test_bigip.py)."""
    base = "https://localhost/mgmt/tm/cm/syncStatus/0/details"
    details = {f"{base}/0": {"nestedStats": {"entries": {"details": {"description": line}}}}}
    entries = {
        "color": {"description": "green" if status == "In Sync" else "yellow"},
        base: {"nestedStats": {"entries": details}},
        "status": {"description": status},
        "summary": {"description": ""},
    }
    return {"entries": {"https://localhost/mgmt/tm/cm/sync-status/0": {"nestedStats": {"entries": entries}}}}


IN_SYNC = sync_status("In Sync", "dg-lab-failover (In Sync): All devices in the device group are in sync")
PENDING = sync_status("Changes Pending", "dg-lab-failover (Changes Pending): There is a possible change conflict")
SYNC_STATUS = "/mgmt/tm/cm/sync-status"
SYNC_ARGS = {"server": "bigip-a.example", "name": "bigip-a", **AUTH, "device_group": "dg-lab-failover",
             "timeout": 30, "interval": 0.01}  # fmt: skip


def test_config_sync_syncs_a_pending_group_and_waits_for_in_sync(run_module, monkeypatch):
    bigip = Bigip(monkeypatch, {
        ("bigip-a.example", "GET", SYNC_STATUS): [PENDING, PENDING, IN_SYNC],
        ("bigip-a.example", "POST", "/mgmt/tm/cm"): {"kind": "tm:cm:runstate"},
    })  # fmt: skip
    result = run_module(f5_config_sync.main, SYNC_ARGS)
    assert not result.get("failed") and result["changed"] is True and result["status"] == "In Sync"
    [post] = [body for (_h, method, _p), body, _headers in bigip.calls if method == "POST"]
    assert post == {"command": "run", "utilCmdArgs": "config-sync to-group dg-lab-failover"}


def test_config_sync_in_check_mode_only_reads(run_module, monkeypatch):
    bigip = Bigip(monkeypatch, {("bigip-a.example", "GET", SYNC_STATUS): PENDING})
    result = run_module(f5_config_sync.main, SYNC_ARGS, check_mode=True)
    assert result["changed"] is True and result["status"] == "Changes Pending" and result["waited"] == 0.0
    assert [method for (_h, method, _p), _b, _headers in bigip.calls] == ["GET"]


def test_config_sync_of_a_group_in_sync_changes_nothing(run_module, monkeypatch):
    bigip = Bigip(monkeypatch, {("bigip-a.example", "GET", SYNC_STATUS): IN_SYNC})
    result = run_module(f5_config_sync.main, SYNC_ARGS)
    assert result["changed"] is False and result["status"] == "In Sync"
    assert all(method == "GET" for (_h, method, _p), _b, _headers in bigip.calls)


def test_config_sync_fails_with_the_devices_own_words(run_module, monkeypatch):
    Bigip(monkeypatch, {("bigip-a.example", "GET", SYNC_STATUS): 401})
    result = run_module(f5_config_sync.main, SYNC_ARGS)
    assert result["failed"] and "bigip-a: GET /mgmt/tm/cm/sync-status answered 401" in result["msg"]
    assert "secret" not in json.dumps(result)


def test_the_login_comes_from_the_vendor_providers_environment_variables(run_module, monkeypatch):
    """F5_USER and F5_PASSWORD, as f5networks.f5_modules' provider reads them, when the task gives none."""
    bigip = Bigip(monkeypatch, {("bigip-a.example", "GET", MEMBERS): {"items": []}})
    monkeypatch.setenv("F5_USER", "from-env")
    monkeypatch.setenv("F5_PASSWORD", "env-secret")
    result = run_module(f5_pool_status.main, {"devices": DEVICES[:1], "pool": "web"})
    assert not result.get("failed"), result
    ((_key, _body, headers),) = bigip.calls
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"from-env:env-secret").decode()
    assert "env-secret" not in json.dumps(result)
    # a task's own value wins over the environment
    bigip.calls.clear()
    run_module(f5_pool_status.main, {"devices": DEVICES[:1], "pool": "web", "username": "task", "password": "p"})
    assert bigip.calls[0][2]["Authorization"] == "Basic " + base64.b64encode(b"task:p").decode()
    # neither: the module names what is missing
    monkeypatch.delenv("F5_USER")
    monkeypatch.delenv("F5_PASSWORD")
    missing = run_module(f5_config_sync.main, {"server": "bigip-a.example", "device_group": "dg"})
    assert missing["failed"] and "missing required arguments: password, username" in missing["msg"]
