"""Benchmark of ip_pool_allocate against the drafts' "first address that does not answer ping".

Prints figures, asserts nothing (machines are noisy). Runs in its own lab network namespace:

    lab/lab netns -- .venv/bin/python bench/ip_pool_allocate.py [--repeat N]

A /24 pool (198.18.20.10-198.18.20.250, 241 addresses) with 0, 100 and 200 addresses leased;
every leased address is a live host (it answers ping, being on ``lo``), every free one is
silent (routed, never answered), as on a real LAN. For each case:

- ours: the module as its own process (as Ansible runs it on the state host) with its default
  probe (2 pings, 1 s timeout), allocating for a new owner and then releasing, N times;
- the drafts': ``ping -c1 -W2`` of each address from the start of the range, sequentially,
  until one does not answer.

Then 50 allocations started at once, by both methods: latency, wall time, and how many
distinct addresses the 50 callers got.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))
from labctl import netns  # noqa: E402

MODULE = "ansible_collections.danacloud.vm_autoscale.plugins.modules.ip_pool_allocate"
SUBNET = "198.18.20.0/24"
FIRST, LAST = 10, 250
POOL = {"subnet": SUBNET, "gateway": "198.18.20.1", "start": f"198.18.20.{FIRST}", "end": f"198.18.20.{LAST}"}


def address(index: int) -> str:
    return f"198.18.20.{FIRST + index}"


def set_live(addresses: list[str], live: bool) -> None:
    verb = "add" if live else "del"
    for ip in addresses:
        subprocess.run(["ip", "addr", verb, f"{ip}/32", "dev", "lo"], check=False, capture_output=True)


def seed_leases(lease_dir: Path, count: int) -> None:
    """A lease file with ``count`` leases in use, on the first addresses of the range."""
    stamp = "2026-11-22T00:00:00Z"
    leases = {
        address(n): {
            "ip": address(n),
            "owner": f"vm-{n:03d}",
            "service": "bench",
            "state": "in_use",
            "created_at": stamp,
            "updated_at": stamp,
            "requested_by": "bench",
        }
        for n in range(count)
    }
    document = {
        "schema": "danacloud.vm_autoscale.ipam",
        "version": 1,
        "pool": "bench",
        "updated_at": stamp,
        "definition": None,
        "leases": leases,
        "conflicts": {},
        "probing": {},
    }
    lease_dir.mkdir(parents=True, exist_ok=True)
    (lease_dir / "bench.json").write_text(json.dumps(document))


def module(lease_dir: Path, **args) -> dict:
    payload = {"ANSIBLE_MODULE_ARGS": {**POOL, "service": "bench", "lease_dir": str(lease_dir), **args}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(payload, handle)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", MODULE, handle.name],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO / ".collections")},
            check=False,
        )
    finally:
        os.unlink(handle.name)
    result = json.loads(proc.stdout)
    if result.get("failed"):
        raise SystemExit(f"module failed: {result['msg']}")
    return result


def ours_once(lease_dir: Path, owner: str) -> tuple[float, int, str]:
    started = time.monotonic()
    result = module(lease_dir, owner=owner)
    elapsed = time.monotonic() - started
    return elapsed, len(result["probes"]), result["ip"]


def drafts_once() -> tuple[float, int, str | None]:
    """The drafts' method: ping each address from the start, 2 s timeout, first silent one wins."""
    started = time.monotonic()
    probes = 0
    for n in range(LAST - FIRST + 1):
        probes += 1
        answered = subprocess.run(["ping", "-c1", "-W2", address(n)], capture_output=True, check=False).returncode == 0
        if not answered:
            return time.monotonic() - started, probes, address(n)
    return time.monotonic() - started, probes, None


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def row(label: str, latencies: list[float], probes: list[int]) -> str:
    return (
        f"  {label:<8} median {statistics.median(latencies):6.2f} s   p95 {p95(latencies):6.2f} s   "
        f"probes/allocation {statistics.mean(probes):6.1f}"
    )


def sequential(scratch: Path, leased: int, repeat: int, drafts_repeat: int) -> None:
    lease_dir = scratch / f"leased-{leased}"
    seed_leases(lease_dir, leased)
    live = [address(n) for n in range(leased)]
    set_live(live, True)
    try:
        ours = []
        for n in range(repeat):
            owner = f"new-{n}"
            ours.append(ours_once(lease_dir, owner))
            module(lease_dir, owner=owner, state="absent")  # back to `leased` leases for the next run
        drafts = [drafts_once() for _run in range(drafts_repeat)]
    finally:
        set_live(live, False)
    print(f"/24 pool, {leased} of {LAST - FIRST + 1} addresses leased (and answering):")
    print(row("ours", [r[0] for r in ours], [r[1] for r in ours]) + f"   (n={repeat}, got {ours[0][2]})")
    drafts_row = row("drafts'", [r[0] for r in drafts], [r[1] for r in drafts])
    print(drafts_row + f"   (n={drafts_repeat}, got {drafts[0][2]})")


def concurrent(scratch: Path, callers: int) -> None:
    lease_dir = scratch / "concurrent"
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=callers) as pool:
        ours = list(pool.map(lambda n: ours_once(lease_dir, f"c-{n:02d}"), range(callers)))
    ours_wall = time.monotonic() - started
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=callers) as pool:
        drafts = list(pool.map(lambda n: drafts_once(), range(callers)))
    drafts_wall = time.monotonic() - started
    print(f"{callers} allocations started at once (empty pool), each its own process:")
    print(
        row("ours", [r[0] for r in ours], [r[1] for r in ours])
        + f"   wall {ours_wall:5.2f} s   distinct addresses {len({r[2] for r in ours})}/{callers}"
    )
    print(
        row("drafts'", [r[0] for r in drafts], [r[1] for r in drafts])
        + f"   wall {drafts_wall:5.2f} s   distinct addresses {len({r[2] for r in drafts})}/{callers}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--repeat", type=int, default=10, help="allocations per case for ours (default 10)")
    parser.add_argument("--drafts-repeat", type=int, default=3, help="runs per case for the drafts' method")
    parser.add_argument("--callers", type=int, default=50, help="concurrent allocations (default 50)")
    options = parser.parse_args()

    netns.configure_loopback([])  # refuses outside an isolated namespace; routes 198.18.0.0/15 to lo
    scratch = Path(tempfile.mkdtemp(prefix="bench-ipam-"))
    try:
        print(f"ip_pool_allocate benchmark ({os.cpu_count()} CPUs; probes: ours 2 pings/1 s, drafts' 1 ping/2 s)")
        for leased in (0, 100, 200):
            sequential(scratch, leased, options.repeat, options.drafts_repeat)
        concurrent(scratch, options.callers)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
