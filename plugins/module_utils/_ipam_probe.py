# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probes of candidate addresses before they are handed out (ping, TCP connects), run in
parallel within a budget. Part of the autoscaler's IP address management (``_ipam``)."""

from __future__ import annotations

import errno
import os
import select
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._ipam_errors import ProbeError


@dataclass
class ProbeSettings:
    ping: bool = True
    ping_count: int = 2
    ping_timeout: float = 1.0
    tcp_ports: tuple = ()
    tcp_timeout: float = 1.0
    concurrency: int = 8
    conflict_hold: int = 3600

    @property
    def enabled(self) -> bool:
        return self.ping or bool(self.tcp_ports)

    @property
    def budget(self) -> float:
        """The longest one candidate's probes can take."""
        ping = (self.ping_count - 1) * PING_INTERVAL + self.ping_timeout + 1 if self.ping else 0
        return max(ping, self.tcp_timeout if self.tcp_ports else 0)


PING_INTERVAL = 0.2  # the shortest interval iputils' ping allows an unprivileged user


@dataclass
class ProbeOutcome:
    clean: str | None
    results: list = field(default_factory=list)  # one dict per probed address, in probe order

    @property
    def conflicts(self) -> list:
        return [result for result in self.results if result["result"] == "conflict"]


class _Check:
    """One running probe of one address: a ping process or a non-blocking TCP connect."""

    def __init__(self, kind: str, ip: str, deadline: float) -> None:
        self.kind = kind
        self.ip = ip
        self.deadline = deadline
        self.process: Any = None
        self.sock: Any = None
        self.result: str | None = None  # "answered" or "silent" once known

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Prober:
    """Ping and TCP-connect candidates concurrently; the first clean one in order wins.

    An address *answers* when a ping gets a reply or a TCP port accepts or refuses the
    connection (a refusal comes from a live host). It is *clean* when every probe ended without
    an answer. A probe that cannot run at all (no route to the subnet, ping missing) raises
    ProbeError: handing out addresses nobody could check would be the drafts' mistake again.
    """

    def __init__(self, settings: ProbeSettings, ping_path: str | None = None) -> None:
        self.settings = settings
        self.ping_path = ping_path

    def first_clean(self, candidates: list) -> ProbeOutcome:
        if not self.settings.enabled:
            return ProbeOutcome(clean=candidates[0] if candidates else None)
        status: dict = {ip: None for ip in candidates}  # None while undecided
        by: dict = {}
        running: dict = {}
        try:
            for ip in candidates:
                running[ip] = []
                self._start(ip, running[ip])
            while True:
                self._poll(running, status, by)
                winner, decided = _winner(candidates, status)
                if decided:
                    return ProbeOutcome(clean=winner, results=_results(candidates, status, by))
                self._wait(running)
        finally:
            for checks in running.values():
                for check in checks:
                    check.close()

    def _start(self, ip: str, checks: list) -> None:
        """Start every probe of ``ip``, appending each to ``checks`` as soon as it exists."""
        now = time.monotonic()
        if self.settings.ping:
            check = _Check("icmp", ip, now + self.settings.budget + 5)
            argv = [
                self.ping_path or "ping", "-n", "-q",
                "-c", str(self.settings.ping_count),
                "-i", f"{PING_INTERVAL:g}",
                "-W", f"{self.settings.ping_timeout:g}",
                ip,
            ]  # fmt: skip
            try:
                check.process = subprocess.Popen(
                    argv,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    env={**os.environ, "LC_ALL": "C"},
                )
            except OSError as exc:
                raise ProbeError(f"cannot run {argv[0]}: {exc.strerror}") from None
            checks.append(check)
        for port in self.settings.tcp_ports:
            check = _Check(f"tcp/{port}", ip, now + self.settings.tcp_timeout)
            check.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            checks.append(check)
            check.sock.setblocking(False)
            code = check.sock.connect_ex((ip, int(port)))
            if code not in (0, errno.EINPROGRESS, errno.EAGAIN):
                check.close()
                check.result = _tcp_result(ip, port, code)

    def _poll(self, running: dict, status: dict, by: dict) -> None:
        now = time.monotonic()
        for ip, checks in running.items():
            if status[ip] is not None:
                continue
            pending = False
            for check in checks:
                result = check.result
                if result is None:
                    result = self._check_result(check, now)
                    check.result = result
                if result == "answered":
                    status[ip] = "conflict"
                    by[ip] = check.kind
                    break
                if result is None:
                    pending = True
            if status[ip] is None and not pending:
                status[ip] = "clean"
            if status[ip] is not None:
                for check in checks:
                    check.close()

    def _check_result(self, check: _Check, now: float) -> str | None:
        if check.process is not None:
            code = check.process.poll()
            if code is None:
                return None
            if code == 0:
                return "answered"
            if code == 1:
                return "silent"
            message = check.process.stderr.read().decode("utf-8", "replace").strip() if check.process.stderr else ""
            raise ProbeError(f"ping {check.ip} failed (exit {code}): {message or 'no message'}")
        if check.sock is not None:
            readable, writable, failed = select.select([], [check.sock], [check.sock], 0)
            del readable, failed
            if writable:
                code = check.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                return _tcp_result(check.ip, check.kind.split("/")[1], code)
            return "silent" if now >= check.deadline else None
        return "silent"

    def _wait(self, running: dict) -> None:
        sockets = [check.sock for checks in running.values() for check in checks if check.sock is not None]
        if sockets:
            select.select([], sockets, sockets, 0.01)
        else:
            time.sleep(0.01)


def _tcp_result(ip: str, port: Any, code: int) -> str:
    if code in (0, errno.ECONNREFUSED):
        return "answered"  # accepted, or refused by a live host: either way somebody is there
    if code in (errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.EHOSTDOWN):
        return "silent"
    raise ProbeError(f"TCP connect to {ip}:{port} failed: {os.strerror(code)}")


def _winner(candidates: list, status: dict) -> tuple:
    """(clean address, decided): the first clean address once every one before it answered."""
    for ip in candidates:
        if status[ip] is None:
            return None, False
        if status[ip] == "clean":
            return ip, True
    return None, True


def _results(candidates: list, status: dict, by: dict) -> list:
    results = []
    for ip in candidates:
        if status[ip] == "conflict":
            results.append({"ip": ip, "result": "conflict", "seen_by": by[ip]})
        else:
            results.append({"ip": ip, "result": status[ip] or "cancelled"})
    return results
