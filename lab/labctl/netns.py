"""Network-namespace isolation of the lab.

The lab must never send a packet outside the machine: it runs only in a network namespace
that has no interface but ``lo`` and that is not the host's. Its addresses (198.18.0.0/15)
are put on that ``lo`` one /32 at a time (a whole prefix on ``lo`` would make every address in
it answer ping), and the rest of the prefix is routed to ``lo`` without being local: a packet to
an address nobody serves is dropped, so a ping gets no answer and a TCP connect hangs until its
timeout - a silent host on a real LAN, which is what the IP allocator's probes must tell apart
from a host that answers.
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess

LAB_NETWORK = "198.18.0.0/15"


class IsolationError(RuntimeError):
    """Raised when the lab is asked to run somewhere packets could leave the machine."""


def _netns_inode(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def isolation_problem() -> str | None:
    """Return why the current network namespace is unfit for the lab, or None if it is fit."""
    interfaces = sorted(name for _index, name in socket.if_nameindex() if name != "lo")
    if interfaces:
        return (
            "this network namespace has interfaces other than lo "
            f"({', '.join(interfaces)}): traffic could leave the machine"
        )
    mine, init = _netns_inode("self"), _netns_inode("1")
    if mine is not None and init is not None and mine == init:
        return "this is the host's network namespace (the same as PID 1's)"
    return None


def require_isolation() -> None:
    problem = isolation_problem()
    if problem:
        raise IsolationError(
            f"refusing to run the lab: {problem}. Start it with 'lab/lab up' or run a "
            "command under 'lab/lab netns -- COMMAND', which create an isolated namespace."
        )


def configure_loopback(addresses: list[str]) -> None:
    """Bring ``lo`` up, route the lab network to it and make each lab address local (idempotent)."""
    require_isolation()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "route", "replace", LAB_NETWORK, "dev", "lo"], check=True)
    present = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "dev", "lo"], check=True, capture_output=True, text=True
    ).stdout
    for address in addresses:
        if f" {address}/32 " not in present:
            subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], check=True)


def unshare_argv() -> list[str]:
    """The command prefix that runs a program in a new, empty network namespace."""
    argv = ["unshare", "--net"]
    if os.geteuid() != 0:
        # Without root, a user namespace gives us the right to make the network namespace.
        argv.append("--map-root-user")
    return argv + ["--"]


def nsenter_argv(holder_pid: int) -> list[str]:
    """The command prefix that runs a program in the network namespace of ``holder_pid``."""
    argv = ["nsenter", f"--target={holder_pid}", "--net"]
    if os.geteuid() != 0:
        argv += ["--user", "--preserve-credentials"]
    return argv + ["--"]


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt our orphaned descendants, so that we reap them when they exit.

    The lab's daemons outlive the 'lab up' that started them. Without a subreaper they are
    re-parented to PID 1, and on machines whose PID 1 does not reap (some sandboxes and
    containers) every stopped daemon would stay behind as a zombie.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def wait_reaping(pid: int) -> int:
    """Wait for child ``pid`` while reaping any other child (adopted orphans); return its status."""
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        if done == pid:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as shells say
