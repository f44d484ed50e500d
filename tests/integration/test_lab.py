"""The lab is isolated, complete, and refuses a second start."""

import json
import socket
import subprocess

from conftest import LAB
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
