"""ip_pool_allocate against a real network: the lab namespace, where 198.18.0.0/15 is routed.

Tests take the ``lab`` fixture: starting the lab is what routes the lab network to ``lo``.

An address put on ``lo`` answers ping and TCP like a live host; any other address of the lab
network is silent, like an empty slot on a LAN. Every result is read back independently: the
lease file is parsed here, and the addresses handed out are pinged again.
"""

import json
import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import REPO
from labclient import unreachable_route

MODULE = "ansible_collections.danacloud.vm_autoscale.plugins.modules.ip_pool_allocate"
POOL = {"subnet": "198.18.9.0/24", "gateway": "198.18.9.1", "start": "198.18.9.100", "end": "198.18.9.199"}
FAST_PROBE = {"ping_count": 1, "ping_timeout": 0.5}


@contextmanager
def answering(*addresses):
    """Make addresses answer (a live host) for the duration of the block."""
    added = []
    try:
        for address in addresses:
            subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], check=True)
            added.append(address)
        yield
    finally:
        for address in added:
            subprocess.run(["ip", "addr", "del", f"{address}/32", "dev", "lo"], check=False)


def ping(address):
    return subprocess.run(["ping", "-c1", "-W1", address], capture_output=True, check=False).returncode


def start_module(tmp_path, name, args):
    """Start the module as its own process, the way Ansible runs it on the state host."""
    path = tmp_path / f"{name}.args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    return subprocess.Popen(
        [sys.executable, "-m", MODULE, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / ".collections")},
    )


def finish(process):
    stdout, stderr = process.communicate(timeout=120)
    try:
        return json.loads(stdout)
    except ValueError:
        pytest.fail(f"module printed no JSON (exit {process.returncode}): {stdout}{stderr}")


def lease_document(lease_dir, pool="acme-lab"):
    with open(os.path.join(lease_dir, f"{pool}.json")) as handle:
        return json.load(handle)


def test_answering_addresses_are_skipped_and_recorded_then_release_and_reallocate(run_playbook, tmp_path):
    lease_dir = str(tmp_path / "ipam")
    pool = {**POOL, "pool_name": "acme-lab", "lease_dir": lease_dir}
    playbook = f"""
        - name: Lease, release and lease again on the state host
          hosts: state_host
          gather_facts: false
          vars:
            pool: {json.dumps(pool)}
          tasks:
            - name: Lease for web-1
              danacloud.vm_autoscale.ip_pool_allocate:
                service: acme-lab
                owner: web-1
                subnet: "{{{{ pool.subnet }}}}"
                gateway: "{{{{ pool.gateway }}}}"
                start: "{{{{ pool.start }}}}"
                end: "{{{{ pool.end }}}}"
                pool_name: "{{{{ pool.pool_name }}}}"
                lease_dir: "{{{{ pool.lease_dir }}}}"
                requested_by: integration test
            - name: Lease for web-1 again
              danacloud.vm_autoscale.ip_pool_allocate:
                service: acme-lab
                owner: web-1
                subnet: "{{{{ pool.subnet }}}}"
                start: "{{{{ pool.start }}}}"
                end: "{{{{ pool.end }}}}"
                lease_dir: "{{{{ pool.lease_dir }}}}"
            - name: Release web-1
              danacloud.vm_autoscale.ip_pool_allocate:
                state: absent
                service: acme-lab
                owner: web-1
                lease_dir: "{{{{ pool.lease_dir }}}}"
            - name: Lease for web-2
              danacloud.vm_autoscale.ip_pool_allocate:
                service: acme-lab
                owner: web-2
                subnet: "{{{{ pool.subnet }}}}"
                start: "{{{{ pool.start }}}}"
                end: "{{{{ pool.end }}}}"
                lease_dir: "{{{{ pool.lease_dir }}}}"
    """
    with answering("198.18.9.100", "198.18.9.101"):
        run = run_playbook(playbook)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]

        first = run.task("Lease for web-1")
        assert first["changed"] is True
        assert first["ip"] == "198.18.9.102"
        assert (first["prefix"], first["netmask"], first["gateway"]) == (24, "255.255.255.0", "198.18.9.1")
        assert [(p["ip"], p["result"]) for p in first["probes"][:2]] == [
            ("198.18.9.100", "conflict"),
            ("198.18.9.101", "conflict"),
        ]
        assert run.task("Lease for web-1 again")["changed"] is False
        assert run.task("Release web-1")["changed"] is True
        second = run.task("Lease for web-2")
        assert second["ip"] == "198.18.9.102"  # released, free again; the conflicts are still held
        assert all(p["ip"] not in ("198.18.9.100", "198.18.9.101") for p in second["probes"])

        # read back: the file, and the network
        document = lease_document(lease_dir)
        assert {ip: lease["owner"] for ip, lease in document["leases"].items()} == {"198.18.9.102": "web-2"}
        assert document["conflicts"]["198.18.9.100"]["seen_by"] == "icmp"
        assert set(document["conflicts"]) == {"198.18.9.100", "198.18.9.101"}
        assert document["probing"] == {}
        assert ping("198.18.9.100") == 0
        assert ping("198.18.9.102") == 1  # what was handed out is silent


def test_tcp_probe_catches_a_host_that_drops_icmp(lab, tmp_path):
    lease_dir = str(tmp_path / "ipam")
    with answering("198.18.9.150"):
        listener = socket.socket()
        listener.bind(("198.18.9.150", 8081))
        listener.listen()
        try:
            args = {
                **POOL,
                "start": "198.18.9.150",
                "service": "acme-lab",
                "owner": "web-1",
                "lease_dir": lease_dir,
                # no ping at all: only the TCP port can tell that 198.18.9.150 is taken
                "probe": {"ping": False, "tcp_ports": [8081], "tcp_timeout": 0.5},
            }
            result = finish(start_module(tmp_path, "tcp", args))
        finally:
            listener.close()
    assert result.get("failed") is not True, result
    assert result["ip"] == "198.18.9.151"
    assert result["probes"][0] == {"ip": "198.18.9.150", "result": "conflict", "seen_by": "tcp/8081"}
    assert lease_document(lease_dir, "acme-lab")["conflicts"]["198.18.9.150"]["seen_by"] == "tcp/8081"


def test_fifty_concurrent_allocations_get_fifty_distinct_addresses_and_keep_them(lab, tmp_path):
    lease_dir = str(tmp_path / "ipam")
    base = {**POOL, "pool_name": "acme-lab", "service": "acme-lab", "lease_dir": lease_dir, "probe": FAST_PROBE}
    owners = [f"web-{n:02d}" for n in range(50)]
    with answering("198.18.9.103", "198.18.9.120"):
        processes = {owner: start_module(tmp_path, owner, {**base, "owner": owner}) for owner in owners}
        results = {owner: finish(process) for owner, process in processes.items()}
        failures = {owner: r["msg"] for owner, r in results.items() if r.get("failed")}
        assert failures == {}
        ips = {owner: r["ip"] for owner, r in results.items()}
        assert len(set(ips.values())) == 50
        assert not {"198.18.9.103", "198.18.9.120"} & set(ips.values())
        assert all(r["changed"] for r in results.values())

        # read back: exactly these fifty leases, no hold left behind
        document = lease_document(lease_dir)
        assert {lease["owner"]: ip for ip, lease in document["leases"].items()} == ips
        assert document["probing"] == {}

        # the same fifty again, at once: each owner keeps its address, nothing changes
        processes = {owner: start_module(tmp_path, f"{owner}-again", {**base, "owner": owner}) for owner in owners}
        again = {owner: finish(process) for owner, process in processes.items()}
    assert {owner: r.get("ip") for owner, r in again.items()} == ips
    assert not any(r["changed"] for r in again.values())
    assert lease_document(lease_dir)["leases"] == document["leases"]


def test_a_subnet_the_state_host_cannot_reach_fails_instead_of_handing_out(lab, tmp_path):
    lease_dir = str(tmp_path / "ipam")
    args = {
        "subnet": "198.18.10.0/24",
        "start": "198.18.10.100",
        "end": "198.18.10.110",
        "service": "acme-lab",
        "owner": "web-1",
        "lease_dir": lease_dir,
    }
    with unreachable_route("198.18.10.0/24"):
        result = finish(start_module(tmp_path, "unreachable", args))
    assert result["failed"] is True
    assert (
        "Failed to allocate an address for web-1 in pool acme-lab: ping 198.18.10.100 failed (exit 2)" in result["msg"]
    )
    document = lease_document(lease_dir)
    assert document["leases"] == {}
    assert document["probing"] == {}


def test_query_reads_without_writing(lab, tmp_path):
    lease_dir = str(tmp_path / "ipam")
    base = {**POOL, "pool_name": "acme-lab", "service": "acme-lab", "lease_dir": lease_dir, "probe": FAST_PROBE}
    finish(start_module(tmp_path, "one", {**base, "owner": "web-1", "confirm": True}))
    path = Path(lease_dir) / "acme-lab.json"
    before = (path.stat().st_mtime_ns, path.read_text())
    result = finish(start_module(tmp_path, "query", {**base, "state": "query", "owner": "web-1"}))
    assert result["changed"] is False
    assert result["ip"] == "198.18.9.100"
    assert result["counts"]["in_use"] == 1
    assert result["counts"]["free"] == 99
    assert (path.stat().st_mtime_ns, path.read_text()) == before
