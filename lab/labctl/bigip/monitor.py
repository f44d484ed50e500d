"""Health monitors that really probe pool members and nodes, as BIG-IP's http/https/tcp/
gateway_icmp/icmp monitors do.

Each device monitors its own members. A probe runs every ``interval`` seconds of the monitor;
a member is ``up`` as soon as a probe succeeds, and ``down`` once no probe has succeeded for
``timeout`` seconds (BIG-IP's rule; before that a new member reads ``checking``). An HTTP
monitor sends its ``send`` string (``\\r\\n`` escapes as BIG-IP writes them) and, when ``recv``
is set, searches the answer for it; without ``recv`` any answer marks the member up - exactly
why production monitors should set one. A node's monitor (icmp, gateway_icmp, or one with a
port in its destination) probes the node's address the same way; a node it marks down takes every
member on that node down with it (model.Device.parent).
"""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from .model import split_member_name

READ_LIMIT = 5120  # BIG-IP matches recv against the first 5120 bytes


def _decode_send(send: str) -> bytes:
    return send.replace("\\r", "\r").replace("\\n", "\n").encode("latin-1", errors="replace")


def _target(settings: dict, address: str, port: int) -> tuple[str, int]:
    destination = settings.get("destination") or "*:*"
    host, _sep, dport = destination.rpartition(":")
    return (address if host in ("*", "") else host), (port if dport in ("*", "") else int(dport))


def probe(settings: dict, address: str, port: int) -> bool:
    """One probe of one monitor against one member; True when the member answers as expected."""
    mtype = settings.get("type", "http")
    host, port = _target(settings, address.split("%", 1)[0], port)
    wait = max(0.5, min(float(settings.get("timeout", 16)), 3.0))
    if mtype in ("gateway-icmp", "icmp"):
        return subprocess.run(["ping", "-c", "1", "-W", "1", host], capture_output=True, check=False).returncode == 0
    try:
        with socket.create_connection((host, port), timeout=wait) as raw:
            conn = raw
            if mtype == "https":
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE  # BIG-IP's https monitor does not validate the server
                conn = context.wrap_socket(raw, server_hostname=host)
            send = settings.get("send") or ("GET /\\r\\n" if mtype in ("http", "https") else "")
            recv = settings.get("recv") or ""
            if not send and not recv:
                return True  # a plain tcp monitor: the connection is the check
            if send:
                conn.sendall(_decode_send(send))
            answer = b""
            conn.settimeout(wait)
            while len(answer) < READ_LIMIT:
                chunk = conn.recv(READ_LIMIT - len(answer))
                if not chunk:
                    break
                answer += chunk
                if recv and re.search(recv, answer.decode("latin-1")):
                    return True
            if recv:
                return bool(re.search(recv, answer.decode("latin-1")))
            return bool(answer)
    except (OSError, ssl.SSLError):
        return False


class HealthMonitor:
    """Schedules probes for every monitored member of every device and folds their results."""

    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self._results: dict[tuple, dict] = {}  # (device, pool, member, monitor) -> last probe
        self._in_flight: set[tuple] = set()
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="monitor")
        self._stop = threading.Event()
        self._wake = threading.Event()  # a probe ended or the configuration changed: look at once

    def start(self) -> None:
        for device in self.cluster.devices.values():
            device.on_change = self._wake.set  # a new member or monitor is probed at once
        threading.Thread(target=self._loop, name="health-monitor", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        # A pass when a probe ends (its result counts at once, as on BIG-IP), when the configuration
        # changes (a new member is probed at once) and once a second (probes falling due, timeouts
        # running out): probe intervals are whole seconds.
        while True:
            self._wake.wait(1.0)
            self._wake.clear()
            if self._stop.is_set():
                return
            now = time.time()
            with self.cluster.lock:
                jobs = self._due(now)
                self._fold(now)
            for key, settings, address, port in jobs:
                self._in_flight.add(key)
                self._pool.submit(self._run, key, settings, address, port)

    @staticmethod
    def _subjects(device):
        """What ``device`` monitors: (subject, its health table, key there, monitor names, quorum,
        address, port) for every monitored member and every monitored node."""
        for pool_path, members in device.config["members"].items():
            for member_path, member in members.items():
                names, quorum = device.member_rule(pool_path, member)
                if names:
                    address, port = device.member_address(member), split_member_name(member["name"])[1]
                    key = (pool_path, member_path)
                    yield key, device.health, key, names, quorum, address, port
        for node_path, node in device.config["nodes"].items():
            names, quorum = device.node_rule(node)
            if names:
                yield ("node", node_path), device.node_health, node_path, names, quorum, node["address"], 0

    def _due(self, now: float) -> list:
        jobs = []
        live = set()
        for device in self.cluster.devices.values():
            for subject, _table, _key, names, _quorum, address, port in self._subjects(device):
                for name in names:
                    key = (device.name, *subject, name)
                    live.add(key)
                    settings = device.monitor_settings(name)
                    last = self._results.get(key, {})
                    interval = float(settings.get("interval", 5))
                    if key not in self._in_flight and now - last.get("probed", 0) >= interval:
                        jobs.append((key, settings, address, port))
        for key in set(self._results) - live:
            del self._results[key]
        return jobs

    def _run(self, key: tuple, settings: dict, address: str, port: int) -> None:
        try:
            ok = probe(settings, address, port)
        finally:
            self._in_flight.discard(key)
        with self.cluster.lock:
            result = self._results.setdefault(key, {"last_ok": None})
            result["probed"] = time.time()
            result["ok"] = ok
            if ok:
                result["last_ok"] = result["probed"]
        self._wake.set()

    def _monitor_state(self, device, key: tuple, since: float, now: float) -> str:
        result = self._results.get(key)
        if result is None or "ok" not in result:
            return "checking"
        if result["ok"]:
            return "up"
        timeout = float(device.monitor_settings(key[3]).get("timeout", 16))
        reference = result["last_ok"] or since
        return "down" if now - reference >= timeout else ("up" if result["last_ok"] else "checking")

    def _fold(self, now: float) -> None:
        for device in self.cluster.devices.values():
            for subject, table, key, names, quorum, _address, _port in self._subjects(device):
                health = table.setdefault(key, {"status": "checking", "since": now, "last_ok": None})
                states = [self._monitor_state(device, (device.name, *subject, n), health["since"], now) for n in names]
                need = len(names) if quorum is None else quorum
                ups = states.count("up")
                if ups >= need:
                    status = "up"
                elif ups + states.count("checking") < need:
                    status = "down"
                else:
                    status = "checking"
                health["status"] = status
