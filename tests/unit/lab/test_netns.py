"""The lab refuses to run where a packet could leave the machine."""

import os
import subprocess
import sys

import pytest
from labctl import netns


def test_refuses_a_namespace_with_a_real_interface(monkeypatch):
    monkeypatch.setattr(netns.socket, "if_nameindex", lambda: [(1, "lo"), (2, "eth0")])
    assert "eth0" in netns.isolation_problem()
    with pytest.raises(netns.IsolationError, match="refusing to run the lab"):
        netns.require_isolation()


def test_refuses_the_hosts_namespace_even_with_only_lo(monkeypatch):
    monkeypatch.setattr(netns.socket, "if_nameindex", lambda: [(1, "lo")])
    monkeypatch.setattr(netns, "_netns_inode", lambda pid: 4026531840)
    assert "host's network namespace" in netns.isolation_problem()


def in_fresh_namespace(script: str) -> subprocess.CompletedProcess:
    """Run a Python script in a new network namespace made with unshare_argv(), for real."""
    return subprocess.run(
        netns.unshare_argv() + [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "../../../lab")},
        check=False,
    )


def test_accepts_a_fresh_namespace():
    code = "import sys; from labctl import netns; p = netns.isolation_problem(); print(p); sys.exit(p is not None)"
    result = in_fresh_namespace(code)
    assert result.returncode == 0, result.stdout + result.stderr


def test_configure_loopback_adds_each_address_once():
    """Only /32s: a neighbour address that nobody serves stays silent (routed, never answered)."""
    script = (
        "import subprocess; from labctl import netns\n"
        "netns.configure_loopback(['198.18.0.10', '198.18.0.40'])\n"
        "netns.configure_loopback(['198.18.0.10'])\n"
        "print(subprocess.run(['ip', '-o', '-4', 'addr', 'show', 'dev', 'lo'], capture_output=True, text=True).stdout)\n"
        "print('ping', subprocess.run(['ping', '-c1', '-W1', '198.18.0.11'], capture_output=True).returncode)\n"
        "print(subprocess.run(['ip', 'route', 'get', '198.18.0.11'], capture_output=True, text=True).stdout)\n"
    )
    result = in_fresh_namespace(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("198.18.0.10/32") == 1
    assert "198.18.0.40/32" in result.stdout
    # 198.18.0.11 is nobody's: routed (ping exit 1, "no reply"), not "Network is unreachable" (2)
    assert "ping 1" in result.stdout
    assert "198.18.0.11 dev lo" in result.stdout


def test_wait_reaping_returns_the_childs_status_and_reaps_others():
    orphan = subprocess.Popen([sys.executable, "-c", "pass"])
    main = subprocess.Popen([sys.executable, "-c", "import time, sys; time.sleep(0.3); sys.exit(5)"])
    assert netns.wait_reaping(main.pid) == 5
    with pytest.raises(ChildProcessError):
        os.waitpid(orphan.pid, os.WNOHANG)
