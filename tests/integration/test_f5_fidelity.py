"""The vendor modules through the F5 emulator's real-device behaviours (docs/lab.md): pool members
on a monitored pool in every state, nodes with a monitor (up, down, disabled, offline, absent), a
down node taking its members offline, and the bigip_device_info subsets an operator gathers.

Monitors probe for real: a member answers from an HTTP server this test runs, a node answers
ping on a lab address or does not (an address nothing holds). Every result is read back through
iControl REST, never taken from the module's answer."""

from __future__ import annotations

import http.server
import socketserver
import threading

import pytest
import yaml
from labclient import F5_B, emulator, f5, wait_for

PROVIDER = (
    "{server: 198.18.0.21, server_port: 443, user: '{{ f5_username }}', password: '{{ f5_password }}', "
    "validate_certs: true, no_f5_teem: true}"
)
POOL = "fidelity-pool"
ANSWERS_PING = "198.18.0.22"  # bigip-b's own address: on the lab's loopback, so it answers
SILENT = "198.18.1.253"  # routed to the loopback but held by nothing: ping gets no answer


@pytest.fixture(autouse=True)
def pair_in_sync_after(lab):
    """Each case changes one device or both without a sync: leave the pair as the next test expects."""
    yield
    emulator("f5", "POST", "/devices/bigip-a/sync")  # at once: bigip-a's configuration on both
    assert emulator("f5", "GET", "/sync-status")["status"] == "In Sync"


def run_twice(run_playbook, module: str, args: dict) -> list[dict]:
    task = {module: {**args, "provider": "__PROVIDER__"}}
    play = [{"hosts": "plg-lab", "gather_facts": False, "tasks": [
        {"name": "first", **task, "ignore_errors": True},
        {"name": "second", **task, "ignore_errors": True},
    ]}]  # fmt: skip
    run = run_playbook(yaml.safe_dump(play, sort_keys=False).replace("__PROVIDER__", PROVIDER) + "\n")
    assert run.result is not None, run.stderr
    return [run.task("first"), run.task("second")]


def read(path: str, device=None) -> dict:
    answer = f5("GET", f"/mgmt/tm/{path}", **({"device": device} if device else {}))
    assert answer.status_code == 200, answer.text
    return answer.json()


def stats(path: str) -> dict:
    (entry,) = read(f"{path}/stats")["entries"].values()
    return {k: v.get("description", v.get("value")) for k, v in entry["nestedStats"]["entries"].items()}


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def monitored_pool(lab):
    """A pool with a fast http monitor, and an HTTP server on 127.0.0.1 for its member."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monitor = {
        "name": "fidelity-http",
        "send": "GET / HTTP/1.0\\r\\n\\r\\n",
        "recv": "200",
        "interval": 1,
        "timeout": 3,
    }
    assert f5("POST", "/mgmt/tm/ltm/monitor/http", json=monitor).status_code == 200
    assert f5("POST", "/mgmt/tm/ltm/pool", json={"name": POOL, "monitor": "/Common/fidelity-http"}).status_code == 200
    yield server
    server.shutdown()
    server.server_close()
    f5("DELETE", f"/mgmt/tm/ltm/pool/~Common~{POOL}")
    f5("DELETE", "/mgmt/tm/ltm/node/~Common~127.0.0.1")
    f5("DELETE", "/mgmt/tm/ltm/monitor/http/~Common~fidelity-http")


# module state -> (state, session) read back once the monitor has answered, and the stats texts
MONITORED = [
    ("present", ("up", "monitor-enabled"), ("available", "enabled", "Pool member is available")),
    ("disabled", ("up", "user-disabled"), ("available", "disabled", "Pool member is available, user disabled")),
    ("forced_offline", ("user-down", "user-disabled"), ("offline", "disabled", "Forced down")),
    ("enabled", ("up", "monitor-enabled"), ("available", "enabled", "Pool member is available")),
]


def test_pool_member_on_a_monitored_pool_in_every_state(run_playbook, monitored_pool):
    port = monitored_pool.server_address[1]
    name = f"127.0.0.1:{port}"
    path = f"ltm/pool/~Common~{POOL}/members/~Common~{name}"
    args = {"pool": POOL, "name": "127.0.0.1", "address": "127.0.0.1", "port": port}
    for state, (read_state, read_session), (availability, enabled, reason) in MONITORED:
        results = run_twice(run_playbook, "f5networks.f5_modules.bigip_pool_member", {**args, "state": state})
        assert [r.get("failed", False) for r in results] == [False, False], results
        assert [r["changed"] for r in results] == [True, False], state
        wait_for(
            lambda s=read_state: read(path)["state"] == s, 15, f"{state}: member reads {read_state} ({read(path)})"
        )
        assert read(path)["session"] == read_session, state
        member = stats(f"ltm/pool/~Common~{POOL}/members/~Common~{name}")
        assert (member["status.availabilityState"], member["status.enabledState"]) == (availability, enabled), state
        assert member["status.statusReason"] == reason, state
        assert member["monitorRule"] == "/Common/fidelity-http (pool monitor)"

    # The server stops: the monitor marks the member down; to the module it is still "present".
    monitored_pool.shutdown()
    monitored_pool.server_close()
    wait_for(lambda: read(path)["state"] == "down", 15, "member marked down")
    assert read(path)["session"] == "monitor-enabled"
    results = run_twice(run_playbook, "f5networks.f5_modules.bigip_pool_member", {**args, "state": "present"})
    assert [r["changed"] for r in results] == [False, False]
    member = stats(f"ltm/pool/~Common~{POOL}/members/~Common~{name}")
    assert member["status.statusReason"] == "Pool member has been marked down by a monitor"
    assert stats(f"ltm/pool/~Common~{POOL}")["status.availabilityState"] == "offline"

    results = run_twice(run_playbook, "f5networks.f5_modules.bigip_pool_member", {**args, "state": "absent"})
    assert [r["changed"] for r in results] == [True, False]
    assert f5("GET", f"/mgmt/tm/{path}").status_code == 404


# module state -> (state, session) read back from a node monitored by icmp that answers
NODE_STATES = [
    ("present", ("up", "monitor-enabled")),
    ("disabled", ("up", "user-disabled")),
    ("offline", ("user-down", "user-disabled")),
    ("enabled", ("up", "monitor-enabled")),
]


def test_node_with_a_monitor_disabled_offline_absent(run_playbook, lab):
    args = {"name": "fidelity-node", "address": ANSWERS_PING, "monitors": ["/Common/icmp"]}
    path = "ltm/node/~Common~fidelity-node"
    try:
        for state, (read_state, read_session) in NODE_STATES:
            results = run_twice(run_playbook, "f5networks.f5_modules.bigip_node", {**args, "state": state})
            assert [r.get("failed", False) for r in results] == [False, False], results
            assert [r["changed"] for r in results] == [True, False], state
            wait_for(lambda s=read_state: read(path)["state"] == s, 20, f"{state}: node reads {read_state}")
            assert (read(path)["session"], read(path)["monitor"]) == (read_session, "/Common/icmp"), state
        assert stats(path)["status.availabilityState"] == "available"
        assert stats(path)["monitorRule"] == "/Common/icmp"

        # A monitor a node cannot use is refused by the device, and the node keeps its own.
        results = run_twice(run_playbook, "f5networks.f5_modules.bigip_node", {**args, "monitors": ["/Common/http"]})
        assert results[0]["failed"] and "wildcard destination service" in results[0]["msg"]
        assert read(path)["monitor"] == "/Common/icmp"

        results = run_twice(run_playbook, "f5networks.f5_modules.bigip_node", {**args, "state": "absent"})
        assert [r["changed"] for r in results] == [True, False]
        assert f5("GET", f"/mgmt/tm/{path}").status_code == 404
    finally:
        f5("DELETE", f"/mgmt/tm/{path}")


def test_a_node_its_monitor_marks_down_takes_its_members_offline(run_playbook, lab):
    """No pool monitor at all: the node's icmp monitor alone takes the member down, on each device
    (each is changed on its own here; the fixture syncs them again)."""
    assert f5("POST", "/mgmt/tm/ltm/pool", json={"name": POOL}).status_code == 200
    try:
        for device in (None, F5_B):
            kwargs = {"device": device} if device else {}
            fast = {"name": "fidelity-icmp", "interval": 1, "timeout": 3}  # down 3 s after the last answer
            assert f5("POST", "/mgmt/tm/ltm/monitor/icmp", json=fast, **kwargs).status_code == 200
            body = {"name": "silent", "address": SILENT, "monitor": "/Common/fidelity-icmp"}
            assert f5("POST", "/mgmt/tm/ltm/node", json=body, **kwargs).status_code == 200
            if device:
                assert f5("POST", "/mgmt/tm/ltm/pool", json={"name": POOL}, **kwargs).status_code == 200
            member = {"name": "silent:80", "partition": "Common"}
            assert f5("POST", f"/mgmt/tm/ltm/pool/~Common~{POOL}/members", json=member, **kwargs).status_code == 200
        member_path = f"ltm/pool/~Common~{POOL}/members/~Common~silent:80"
        for device in (None, F5_B):
            wait_for(lambda d=device: read("ltm/node/~Common~silent", d)["state"] == "down", 40, "node marked down")
            view = read(member_path, device)
            assert (view["state"], view["session"]) == ("down", "monitor-enabled")
        member = stats(member_path)
        assert (member["status.availabilityState"], member["status.statusReason"]) == ("offline", "Parent down")
        node = stats("ltm/node/~Common~silent")
        assert node["status.statusReason"] == "Node address has been marked down by a monitor"
        pool = stats(f"ltm/pool/~Common~{POOL}")
        assert (pool["status.availabilityState"], pool["availableMemberCnt"]) == ("offline", 0)

        # The vendor module reads the member as present (monitor-enabled, down): nothing to change.
        args = {"pool": POOL, "name": "silent", "address": SILENT, "port": 80, "state": "present"}
        results = run_twice(run_playbook, "f5networks.f5_modules.bigip_pool_member", args)
        assert [r["changed"] for r in results] == [False, False]
    finally:
        for device in (None, F5_B):
            kwargs = {"device": device} if device else {}
            f5("DELETE", f"/mgmt/tm/ltm/pool/~Common~{POOL}", **kwargs)
            f5("DELETE", "/mgmt/tm/ltm/node/~Common~silent", **kwargs)
            f5("DELETE", "/mgmt/tm/ltm/monitor/icmp/~Common~fidelity-icmp", **kwargs)


def test_device_info_subsets_an_operator_gathers(run_playbook, lab):
    """Each subset reads only emulated paths (the lab fails a test that reaches an unemulated one);
    the answers match the pair as the control socket and REST describe it."""
    names = [f"fidelity-page-{i:02d}" for i in range(10)]  # exactly one page: the next one is empty
    try:
        for name in names:
            assert f5("POST", "/mgmt/tm/ltm/pool", json={"name": name}).status_code == 200
        body = {"name": "fidelity-icmp-node", "address": ANSWERS_PING, "monitor": "/Common/icmp"}
        assert f5("POST", "/mgmt/tm/ltm/node", json=body).status_code == 200
        wait_for(lambda: read("ltm/node/~Common~fidelity-icmp-node")["state"] == "up", 20, "node up")
        subsets = ["devices", "device-groups", "sync-status", "system-info", "nodes", "ltm-pools", "http-monitors"]
        play = [{"hosts": "plg-lab", "gather_facts": False, "tasks": [{
            "name": "info",
            "f5networks.f5_modules.bigip_device_info": {"gather_subset": subsets, "provider": "__PROVIDER__"},
        }]}]  # fmt: skip
        run = run_playbook(yaml.safe_dump(play, sort_keys=False).replace("__PROVIDER__", PROVIDER) + "\n")
        info = run.task("info")
        assert not info.get("failed"), info.get("msg")

        devices = {d["name"]: d for d in info["devices"]}
        assert set(devices) == {"bigip-a.lab.invalid", "bigip-b.lab.invalid"}
        assert (devices["bigip-a.lab.invalid"]["self"], devices["bigip-b.lab.invalid"]["self"]) == ("yes", "no")
        failover = {d["failover_state"] for d in devices.values()}
        assert failover == {"active", "standby"}
        assert {g["name"] for g in info["device_groups"]} >= {"dg-lab-failover", "device_trust_group"}
        assert info["sync_status"][0]["status"] == emulator("f5", "GET", "/sync-status")["status"]
        system = info["system_info"]
        assert (system["platform"], system["product_code"]) == ("Z100", "BIG-IP")
        assert system["product_version"] == read("sys/version")["entries"][
            "https://localhost/mgmt/tm/sys/version/0"]["nestedStats"]["entries"]["Version"]["description"]  # fmt: skip
        assert system["uptime"] >= 0

        nodes = {n["name"]: n for n in info["nodes"]}
        node = nodes["fidelity-icmp-node"]
        assert (node["availability_status"], node["monitor_status"]) == ("available", "up")
        assert set(names) <= {p["name"] for p in info["ltm_pools"]}
        listed = {m["name"] for m in read("ltm/monitor/http")["items"]}
        assert {m["name"] for m in info["http_monitors"]} == listed and "http" in listed
    finally:
        for name in names:
            f5("DELETE", f"/mgmt/tm/ltm/pool/~Common~{name}")
        f5("DELETE", "/mgmt/tm/ltm/node/~Common~fidelity-icmp-node")


def test_paging_past_the_end_answers_an_empty_page(lab):
    answer = read("ltm/monitor/http?$top=10&$skip=10")
    assert answer["items"] == [] and answer["totalItems"] == len(read("ltm/monitor/http")["items"])
