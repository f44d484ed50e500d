"""The real f5networks.f5_modules against the lab's BIG-IP pair, read back from the emulator.

Every module runs with validate_certs on and telemetry off; a proxy sink proves that nothing
tries to leave the machine. Results are read back through iControl REST or the emulator's
control socket, never taken from the module's own answer.
"""

from __future__ import annotations

import http.server
import json
import socket
import socketserver
import threading

import pytest
import requests
import yaml
from labclient import F5_A, F5_B, emulator, f5, wait_for

PROVIDER = (
    "{server: 198.18.0.21, server_port: 443, user: '{{ f5_username }}', password: '{{ f5_password }}', "
    "validate_certs: true, no_f5_teem: true}"
)


@pytest.fixture
def proxy_sink():
    """A proxy that records any connection: TEEM would CONNECT through it."""
    seen = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _peer = server.accept()
            except OSError:
                continue
            seen.append(conn.recv(1024))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    yield {"https_proxy": f"http://127.0.0.1:{port}", "no_proxy": "198.18.0.21,198.18.0.22"}, seen
    stop.set()
    thread.join()
    server.close()


def run_twice(run_playbook, module: str, args: dict, env=None) -> list[dict]:
    """Run the same task twice in one play; return both results."""
    task = {module: {**args, "provider": "__PROVIDER__"}}
    play = [{"hosts": "plg-lab", "gather_facts": False, "tasks": [
        {"name": "first", **task, "ignore_errors": True},
        {"name": "second", **task, "ignore_errors": True},
    ]}]  # fmt: skip
    text = yaml.safe_dump(play, sort_keys=False).replace("__PROVIDER__", PROVIDER)
    run = run_playbook(text + "\n", env=env)
    assert run.result is not None, run.stderr
    return [run.task("first"), run.task("second")]


def member(pool: str, name: str, device=F5_A) -> dict:
    response = f5("GET", f"/mgmt/tm/ltm/pool/~Common~{pool}/members/~Common~{name}", device=device)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def pool(run_playbook):
    name = "test-pool"
    f5("DELETE", f"/mgmt/tm/ltm/pool/~Common~{name}")
    results = run_twice(run_playbook, "f5networks.f5_modules.bigip_pool", {"name": name, "lb_method": "round-robin"})
    assert [r["changed"] for r in results] == [True, False]
    assert f5("GET", f"/mgmt/tm/ltm/pool/~Common~{name}").json()["loadBalancingMode"] == "round-robin"
    yield name
    f5("DELETE", f"/mgmt/tm/ltm/pool/~Common~{name}")
    for node in ("app1", "app2"):
        f5("DELETE", f"/mgmt/tm/ltm/node/~Common~{node}")


# (module state, state/session read back from the device, changed on first and second run)
LIFECYCLE = [
    ("present", ("unchecked", "user-enabled"), [True, False]),
    ("disabled", ("unchecked", "user-disabled"), [True, False]),
    ("forced_offline", ("user-down", "user-disabled"), [True, False]),
    ("enabled", ("unchecked", "user-enabled"), [True, False]),
]


def test_pool_member_lifecycle_is_idempotent_and_reads_back(run_playbook, pool, proxy_sink):
    env, sink = proxy_sink
    args = {"pool": pool, "name": "app1", "address": "198.18.1.201", "port": 80}
    for state, (read_state, read_session), changed in LIFECYCLE:
        results = run_twice(run_playbook, "f5networks.f5_modules.bigip_pool_member", {**args, "state": state}, env)
        assert [r.get("failed", False) for r in results] == [False, False], results
        assert [r["changed"] for r in results] == changed, state
        current = member(pool, "app1:80")
        assert (current["state"], current["session"]) == (read_state, read_session), state
        assert current["address"] == "198.18.1.201"
    # The member POST created the node implicitly; absent removes both.
    assert f5("GET", "/mgmt/tm/ltm/node/~Common~app1").json()["address"] == "198.18.1.201"
    results = run_twice(run_playbook, "f5networks.f5_modules.bigip_pool_member", {**args, "state": "absent"}, env)
    assert [r["changed"] for r in results] == [True, False]
    assert f5("GET", f"/mgmt/tm/ltm/pool/~Common~{pool}/members/~Common~app1:80").status_code == 404
    assert f5("GET", "/mgmt/tm/ltm/node/~Common~app1").status_code == 404
    assert sink == [], "something tried to reach the internet through the proxy (TEEM?)"


def test_forced_offline_create_comes_up_disabled_as_on_a_real_box(run_playbook, pool):
    """Upstream bug F5Networks/f5-ansible#2537, reproduced rather than fixed."""
    args = {"pool": pool, "name": "app1", "address": "198.18.1.201", "port": 80, "state": "forced_offline"}
    results = run_twice(run_playbook, "f5networks.f5_modules.bigip_pool_member", args)
    assert [r["changed"] for r in results] == [True, True]
    assert (member(pool, "app1:80")["state"], member(pool, "app1:80")["session"]) == ("user-down", "user-disabled")


def test_real_errors_for_duplicates_address_conflicts_and_nodes_in_use(run_playbook, pool):
    body = {"name": "app1:80", "address": "198.18.1.201", "partition": "Common"}
    assert f5("POST", f"/mgmt/tm/ltm/pool/~Common~{pool}/members", json=body).status_code == 200
    duplicate = f5("POST", f"/mgmt/tm/ltm/pool/~Common~{pool}/members", json=body)
    assert duplicate.status_code == 409
    assert duplicate.json()["message"].startswith("01020066:3: The requested Pool Member")

    # Same address under another node name: 0107003a, and nothing is created.
    args = {"pool": pool, "name": "app2", "address": "198.18.1.201", "port": 81, "state": "present"}
    result = run_twice(run_playbook, "f5networks.f5_modules.bigip_pool_member", args)[0]
    assert result["failed"] and "0107003a" in result["msg"]
    assert f5("GET", "/mgmt/tm/ltm/node/~Common~app2").status_code == 404

    # A node still used by another pool: the member goes, the node stays, the module fails.
    f5("POST", "/mgmt/tm/ltm/pool", json={"name": "other-pool"})
    try:
        f5("POST", "/mgmt/tm/ltm/pool/~Common~other-pool/members", json={"name": "app1:80", "partition": "Common"})
        args = {"pool": pool, "name": "app1", "address": "198.18.1.201", "port": 80, "state": "absent"}
        result = run_twice(run_playbook, "f5networks.f5_modules.bigip_pool_member", args)[0]
        assert result["failed"] and "01070110" in result["msg"]
        assert f5("GET", f"/mgmt/tm/ltm/pool/~Common~{pool}/members/~Common~app1:80").status_code == 404
        assert f5("GET", "/mgmt/tm/ltm/node/~Common~app1").status_code == 200
    finally:
        f5("DELETE", "/mgmt/tm/ltm/pool/~Common~other-pool")


def test_node_module_and_device_info_paging(run_playbook):
    results = run_twice(run_playbook, "f5networks.f5_modules.bigip_node", {"name": "n1", "address": "198.18.1.250"})
    assert [r["changed"] for r in results] == [True, False]
    assert f5("GET", "/mgmt/tm/ltm/node/~Common~n1").json()["address"] == "198.18.1.250"
    names = [f"page-{i:02d}" for i in range(23)]  # more than two pages of 10
    try:
        for name in names:
            assert f5("POST", "/mgmt/tm/ltm/pool", json={"name": name}).status_code == 200
        f5("POST", "/mgmt/tm/ltm/pool/~Common~page-07/members", json={"name": "n1:443", "partition": "Common"})
        play = f"""
        - hosts: plg-lab
          gather_facts: false
          tasks:
            - name: info
              f5networks.f5_modules.bigip_device_info:
                gather_subset: [ltm-pools]
                provider: {PROVIDER}
        """
        info = run_playbook(play).task("info")
        pools = {p["name"]: p for p in info["ltm_pools"]}
        assert set(names) <= set(pools)
        [only] = pools["page-07"]["members"]
        assert (only["address"], only["real_state"], only["state"]) == ("198.18.1.250", "unchecked", "present")
    finally:
        for name in names:
            f5("DELETE", f"/mgmt/tm/ltm/pool/~Common~{name}")
        f5("DELETE", "/mgmt/tm/ltm/node/~Common~n1")


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_health_monitor_probes_members_for_real_and_stats_show_connections(lab):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Health)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monitor = {"name": "probe", "send": "GET /health HTTP/1.0\\r\\n\\r\\n", "recv": "200", "interval": 1, "timeout": 3}
    assert f5("POST", "/mgmt/tm/ltm/monitor/http", json=monitor).status_code == 200
    assert f5("POST", "/mgmt/tm/ltm/pool", json={"name": "mon-pool", "monitor": "/Common/probe"}).status_code == 200
    try:
        body = {"name": f"127.0.0.1:{port}", "partition": "Common"}
        assert f5("POST", "/mgmt/tm/ltm/pool/~Common~mon-pool/members", json=body).status_code == 200
        up = wait_for(lambda: member("mon-pool", f"127.0.0.1:{port}")["state"] == "up", 15, "member up")
        assert up
        assert member("mon-pool", f"127.0.0.1:{port}")["session"] == "monitor-enabled"
        emulator("f5", "PUT", "/devices/bigip-a/connections", {f"127.0.0.1:{port}": 7})
        stats = f5("GET", f"/mgmt/tm/ltm/pool/~Common~mon-pool/members/~Common~127.0.0.1:{port}/stats").json()
        [entry] = stats["entries"].values()
        assert entry["nestedStats"]["entries"]["serverside.curConns"]["value"] == 7
        server.shutdown()
        server.server_close()
        wait_for(lambda: member("mon-pool", f"127.0.0.1:{port}")["state"] == "down", 15, "member down")
        pool_stats = f5("GET", "/mgmt/tm/ltm/pool/~Common~mon-pool/stats").json()
        [entry] = pool_stats["entries"].values()
        assert entry["nestedStats"]["entries"]["status.availabilityState"]["description"] == "offline"
    finally:
        emulator("f5", "PUT", "/devices/bigip-a/connections", {f"127.0.0.1:{port}": None})
        f5("DELETE", "/mgmt/tm/ltm/pool/~Common~mon-pool")
        f5("DELETE", "/mgmt/tm/ltm/node/~Common~127.0.0.1")
        f5("DELETE", "/mgmt/tm/ltm/monitor/http/~Common~probe")


def test_config_sync_between_the_pair(run_playbook):
    assert f5("POST", "/mgmt/tm/ltm/pool", json={"name": "sync-pool"}).status_code == 200
    try:
        assert emulator("f5", "GET", "/sync-status")["status"] == "Changes Pending"
        assert f5("GET", "/mgmt/tm/ltm/pool/~Common~sync-pool", device=F5_B).status_code == 404
        args = {"device_group": "dg-lab-failover", "sync_device_to_group": True}
        results = run_twice(run_playbook, "f5networks.f5_modules.bigip_configsync_action", args)
        assert [r["changed"] for r in results] == [True, False]
        assert f5("GET", "/mgmt/tm/ltm/pool/~Common~sync-pool", device=F5_B).status_code == 200
        assert emulator("f5", "GET", "/sync-status")["status"] == "In Sync"
    finally:
        f5("DELETE", "/mgmt/tm/ltm/pool/~Common~sync-pool")
        f5("DELETE", "/mgmt/tm/ltm/pool/~Common~sync-pool", device=F5_B)


def test_injected_faults_and_an_unreachable_device(run_playbook):
    emulator("f5", "POST", "/faults", {"device": "bigip-a", "path": "/mgmt/tm/ltm/pool", "status": 500, "count": 1})
    results = run_twice(run_playbook, "f5networks.f5_modules.bigip_pool", {"name": "fault-pool"})
    try:
        assert results[0]["failed"] and "mcpd" in results[0]["msg"]
        assert results[1]["changed"] and not results[1].get("failed")
        emulator("f5", "POST", "/devices/bigip-a/reachable", {"reachable": False})
        with pytest.raises(requests.exceptions.ConnectionError, match=r"Connection refused|Max retries"):
            f5("GET", "/mgmt/tm/sys")
        assert emulator("f5", "GET", "/sync-status")["status"] == "Disconnected"
    finally:
        emulator("f5", "POST", "/devices/bigip-a/reachable", {"reachable": True})
        f5("DELETE", "/mgmt/tm/ltm/pool/~Common~fault-pool")
    assert f5("GET", "/mgmt/tm/sys").status_code == 200


def test_auth_tokens_and_the_basic_auth_challenge(lab):
    from labclient import ca, secret

    anonymous = requests.get(f"{F5_A}/mgmt/tm/sys", verify=ca(), timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="Enterprise Manager"'
    login = requests.post(
        f"{F5_A}/mgmt/shared/authn/login",
        verify=ca(),
        timeout=10,
        json={"username": "admin", "password": secret("f5_password"), "loginProviderName": "tmos"},
    )
    token = login.json()["token"]["token"]
    assert len(token) == 26 and token.isupper()
    headers = {"X-F5-Auth-Token": token}
    sys_info = requests.get(f"{F5_A}/mgmt/tm/sys/", headers=headers, verify=ca(), timeout=10).json()
    assert sys_info["selfLink"].endswith("?ver=17.1.2")
    too_long = requests.patch(
        f"{F5_A}/mgmt/shared/authz/tokens/{token}", json={"timeout": 36001}, headers=headers, verify=ca(), timeout=10
    )
    assert too_long.status_code == 406
    requests.delete(f"{F5_A}/mgmt/shared/authz/tokens/{token}", headers=headers, verify=ca(), timeout=10)
    gone = requests.get(f"{F5_A}/mgmt/tm/sys", headers=headers, verify=ca(), timeout=10)
    assert gone.status_code == 401 and gone.json()["message"] == "X-F5-Auth-Token does not exist."
    wrong = requests.post(
        f"{F5_A}/mgmt/shared/authn/login", verify=ca(), timeout=10, json={"username": "admin", "password": "wrong"}
    )
    assert wrong.status_code == 401 and wrong.json()["message"] == "Authentication failed."


@pytest.mark.allow_unemulated
def test_an_unknown_path_answers_like_a_real_box_and_is_recorded(lab):
    before = len(emulator("f5", "GET", "/unemulated"))
    response = f5("GET", "/mgmt/tm/ltm/virtual")
    assert response.status_code == 404
    assert response.json()["message"] == "Public URI path not registered: /tm/ltm/virtual"
    recorded = emulator("f5", "GET", "/unemulated")
    assert len(recorded) == before + 1 and recorded[-1]["path"] == "/mgmt/tm/ltm/virtual"


def test_json_everywhere_even_for_bad_bodies(lab):
    response = f5("POST", "/mgmt/tm/ltm/pool", data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert json.loads(response.text)["message"] == "Found invalid JSON body in the request."
    bad_state = f5("POST", "/mgmt/tm/ltm/pool", json={"name": "p-state"})
    assert bad_state.status_code == 200
    try:
        response = f5(
            "POST",
            "/mgmt/tm/ltm/pool/~Common~p-state/members",
            json={"name": "198.18.1.9:80", "partition": "Common", "state": "up"},
        )
        assert response.status_code == 400 and 'invalid property value "state":"up"' in response.json()["message"]
    finally:
        f5("DELETE", "/mgmt/tm/ltm/pool/~Common~p-state")
