"""The lab is isolated, complete, and refuses a second start."""

import json
import socket
import subprocess

from conftest import LAB
from labclient import F5_A, F5_B, f5, wait_for
from labctl.procs import proc_start_time


def test_the_lab_namespace_has_only_loopback(lab):
    assert [name for _i, name in socket.if_nameindex()] == ["lo"]
    addresses = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
    assert "198.18.0.10/32" in addresses
    assert "198.18.0.40/32" in addresses


def test_every_component_runs_under_the_recorded_pid(lab):
    names = [part["name"] for part in lab.info["components"]]
    assert names == ["vcsim", "node_exporter", "alertmanager", "prometheus", "f5", "jenkins", "guests"]
    for part in lab.info["components"]:
        assert proc_start_time(part["pid"]) is not None, part


def test_status_reports_what_runs_where(lab):
    status = subprocess.run([str(LAB), "status"], capture_output=True, text=True, check=False)
    assert status.returncode == 0
    for part in ("vcsim", "prometheus", "alertmanager", "node_exporter", "https://198.18.0.10:443/sdk"):
        assert part in status.stdout


def test_a_second_up_is_refused_and_changes_nothing(lab):
    before = json.loads((lab.state / "lab.json").read_text())
    again = subprocess.run([str(LAB), "up"], capture_output=True, text=True, check=False)
    assert again.returncode != 0
    assert "already running" in again.stdout + again.stderr
    after = json.loads((lab.state / "lab.json").read_text())
    assert after["components"] == before["components"]
    for part in after["components"]:
        assert proc_start_time(part["pid"]) is not None


def test_a_lab_address_nobody_serves_is_silent(lab):
    ping = subprocess.run(["ping", "-c1", "-W1", "198.18.1.200"], capture_output=True, text=True, check=False)
    assert ping.returncode == 1, ping.stdout + ping.stderr  # no reply; 2 would be a routing error


def test_each_service_has_its_operator_pool_on_both_devices_with_members_up(lab):
    for device in (F5_A, F5_B):
        for service, pool, members in [
            ("acme-web", "acme-web-pool", ["198.18.1.11:80", "198.18.1.12:80"]),
            ("globex-api", "globex-api-pool", ["198.18.2.11:8080", "198.18.2.12:8080"]),
        ]:
            found = f5("GET", f"/mgmt/tm/ltm/pool/~Common~{pool}", device=device).json()
            assert found["monitor"] == f"/Common/{service}-health", found
            monitor = f5("GET", f"/mgmt/tm/ltm/monitor/http/~Common~{service}-health", device=device).json()
            assert monitor["recv"] == "200 OK" and monitor["send"].startswith("GET /health")
            listed = f5("GET", f"/mgmt/tm/ltm/pool/~Common~{pool}/members", device=device).json()["items"]
            assert sorted(m["name"] for m in listed) == members

            def up(pool=pool, device=device):
                stats = f5("GET", f"/mgmt/tm/ltm/pool/~Common~{pool}/members/stats", device=device).json()
                states = [e["nestedStats"]["entries"]["status.availabilityState"]["description"]
                          for e in stats["entries"].values()]  # fmt: skip
                return states == ["available", "available"]

            wait_for(up, 20, f"{pool}'s members to be up on {device} (health monitor)")
