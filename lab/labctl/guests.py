"""python -m labctl.guests CONFIG.json: the guest operating systems of the lab's VMs.

Every second it reads vcsim (through the vSphere API, as any client would) and, for each
powered-on VM carrying ``guestinfo.vm_autoscale.ip``, plays that VM's guest: after the boot delay
the IP appears on the namespace's ``lo`` and answers

* the application on the service's member port: ``/health`` (200, or 503 when the VM is
  switched unhealthy) and ``/`` - plain HTTP, as the F5 health monitor speaks to a real member;
* node_exporter's ``/metrics`` on 9100: ``node_cpu_seconds_total`` per CPU and mode, integrated
  over time, and ``node_memory_*``.

A service's *demand* (``lab/load``, in percent of one VM's CPU) is shared by the VMs that the
active F5 device has enabled and available in a pool; the others idle. Each serving member holds
connections in proportion to its load, reported to the F5 emulator (``Connections``): each one
ends after its own lifetime (``connection_seconds`` on average), and a member that is disabled or
down gets no new ones but keeps its open ones until they end, as a real BIG-IP member does; long
sessions (``lab/load --vm VM --hold N --seconds S``) stay open S seconds (or until ``lab/load --vm VM
--release`` ends them) whatever the member's
state. Powered off or deleted: the IP is removed and stops answering.
"""

from __future__ import annotations

import json
import random
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from .httpd import ControlError, Request, Response, control, log, serve_control, stop_event, write_json_atomic

MODES = ("idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user")
HEALTH_STATES = ("healthy", "unhealthy", "never_boot")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Connections:
    """A member's open connections, each with the time it ends.

    While the member serves, clients keep ``target`` connections open: one that ends is replaced
    by a new one, each lasting between 0.5 and 1.5 times ``lifetime`` (spread evenly, not at
    random, so that a run is reproducible). Disabled, down or not a member, it gets no new
    connection and its open ones end on their own time: the drain a real BIG-IP member goes
    through. Held connections (long sessions, downloads) end at their own time whatever the
    member's state.
    """

    GOLDEN = 0.6180339887

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.ends: list[float] = []
        self.held: list[float] = []
        self._opened = 0

    def step(self, now: float, target: float, serving: bool) -> int:
        self.ends = [end for end in self.ends if end > now]
        self.held = [end for end in self.held if end > now]
        if serving:
            while len(self.ends) < round(target):
                self._opened += 1
                spread = 0.5 + (self._opened * self.GOLDEN) % 1.0
                self.ends.append(now + self.lifetime * spread)
        return self.count

    def hold(self, now: float, count: int, seconds: float) -> None:
        self.held.extend([now + seconds] * count)

    def release(self) -> int:
        """End the held sessions now (as their clients hanging up); the number ended."""
        ended, self.held = len(self.held), []
        return ended

    def drop(self) -> None:
        self.ends, self.held = [], []

    @property
    def count(self) -> int:
        return len(self.ends) + len(self.held)


class Guest:
    """One VM's guest: its counters, and its listeners once booted."""

    def __init__(
        self, name: str, service: str, ip: str, *, cpus: int, memory_mb: int, seen: float, connection_seconds: float
    ) -> None:
        self.name = name
        self.service = service
        self.ip = ip
        self.cpus = max(1, cpus)
        self.memory_bytes = memory_mb * 1024 * 1024
        self.powered_on_at = seen
        self.booted = False
        self.servers: list[_Server] = []
        self.cpu_seconds = {(cpu, mode): 0.0 for cpu in range(self.cpus) for mode in MODES}
        self.cpu_percent = 0.0
        self.memory_percent = 0.0
        self.connections = Connections(connection_seconds)
        self.boot_time = time.time()

    def advance(self, dt: float, cpu_percent: float, memory_percent: float) -> None:
        busy = max(0.0, min(1.0, cpu_percent / 100.0))
        self.cpu_percent = busy * 100
        self.memory_percent = memory_percent
        for cpu in range(self.cpus):
            jitter = random.uniform(-0.01, 0.01) if 0.02 < busy < 0.98 else 0.0  # noqa: S311 - not crypto
            share = max(0.0, min(1.0, busy + jitter))
            self.cpu_seconds[(cpu, "user")] += 0.75 * share * dt
            self.cpu_seconds[(cpu, "system")] += 0.2 * share * dt
            self.cpu_seconds[(cpu, "softirq")] += 0.05 * share * dt
            self.cpu_seconds[(cpu, "idle")] += (1 - share) * dt

    def metrics(self) -> str:
        lines = [
            "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.",
            "# TYPE node_cpu_seconds_total counter",
        ]
        for (cpu, mode), value in sorted(self.cpu_seconds.items()):
            lines.append(f'node_cpu_seconds_total{{cpu="{cpu}",mode="{mode}"}} {value:.3f}')
        available = self.memory_bytes * (1 - self.memory_percent / 100)
        for name, value in (
            ("MemTotal", self.memory_bytes),
            ("MemAvailable", available),
            ("MemFree", available * 0.6),
            ("Buffers", available * 0.05),
            ("Cached", available * 0.35),
        ):
            lines += [f"# TYPE node_memory_{name}_bytes gauge", f"node_memory_{name}_bytes {value:.0f}"]
        lines += [
            "# TYPE node_boot_time_seconds gauge",
            f"node_boot_time_seconds {self.boot_time:.0f}",
            "# TYPE node_uname_info gauge",
            f'node_uname_info{{nodename="{self.name}",sysname="Linux",release="6.1.0-lab"}} 1',
        ]
        return "\n".join(lines) + "\n"


def _handler(simulator: GuestSimulator, guest: Guest, kind: str):
    class Handler(BaseHTTPRequestHandler):
        server_version = "lab-guest"

        def do_GET(self) -> None:
            if kind == "metrics":
                status, body, ctype = 200, guest.metrics(), "text/plain; version=0.0.4"
                if self.path.split("?")[0] != "/metrics":
                    status, body, ctype = 404, "404 page not found\n", "text/plain"
            else:
                healthy = simulator.health_of(guest.name) == "healthy"
                path = self.path.split("?")[0]
                if path in (simulator.service_health_path(guest.service), "/"):
                    status = 200 if healthy else 503
                    body = f"{guest.name} {'OK' if healthy else 'UNHEALTHY'}\n"
                else:
                    status, body = 404, "not found\n"
                ctype = "text/plain"
            data = body.encode()
            self.send_response(status)
            if self.request_version != "HTTP/0.9":
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    return Handler


class GuestSimulator:
    def __init__(self, config: dict) -> None:
        self.config = config
        self.settings = config["guests"]
        self.services = config["services"]
        self.state_path = Path(config["state_file"])
        self.lock = threading.RLock()
        state = json.loads(self.state_path.read_text()) if self.state_path.exists() else {}
        self.demand: dict[str, float] = state.get("demand", {name: 0.0 for name in self.services})
        self.health: dict[str, str] = state.get("health", {})
        self.guests: dict[str, Guest] = {}
        self._si = None
        self._query = None
        self._last_tick = time.monotonic()

    # --- state the operator sets ---------------------------------------------------------

    def save(self) -> None:
        write_json_atomic(self.state_path, {"demand": self.demand, "health": self.health})

    def health_of(self, vm: str) -> str:
        return self.health.get(vm, "healthy")

    def service_health_path(self, service: str) -> str:
        return self.services.get(service, {}).get("health_path", "/health")

    # --- vCenter -------------------------------------------------------------------------

    def _connect(self):
        vc = self.config["vcenter"]
        context = ssl.create_default_context(cafile=self.config["ca"])
        return SmartConnect(
            host=vc["address"],
            port=vc["port"],
            user=vc["username"],
            pwd=Path(vc["password_file"]).read_text().strip(),
            sslContext=context,
        )

    def read_vms(self) -> dict[str, dict] | None:
        """Powered-on VMs with a lab IP, by name; None when vCenter cannot be read (keep going).

        One call a tick: the session, its container view of the VMs (vCenter keeps a view up to
        date as VMs come and go) and the query are made once per connection.
        """
        try:
            if self._si is None:
                self._si = self._connect()
                content = self._si.RetrieveContent()
                view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
                self._query = (content.propertyCollector, vmodl.query.PropertyCollector.FilterSpec(
                    objectSet=[vmodl.query.PropertyCollector.ObjectSpec(
                        obj=view, skip=True,
                        selectSet=[vmodl.query.PropertyCollector.TraversalSpec(
                            name="view", path="view", skip=False, type=vim.view.ContainerView)])],
                    propSet=[vmodl.query.PropertyCollector.PropertySpec(
                        type=vim.VirtualMachine,
                        pathSet=["name", "runtime.powerState", "config.extraConfig", "config.hardware.numCPU",
                                 "config.hardware.memoryMB"])],
                ))  # fmt: skip
            collector, spec = self._query
            result = collector.RetrieveContents([spec])
        except Exception as exc:  # noqa: BLE001 - vCenter down: the guests keep running
            log(f"cannot read vCenter ({exc.__class__.__name__}: {exc}); guests keep their last state")
            self._si = None
            return None
        vms = {}
        for item in result:
            props = {p.name: p.val for p in item.propSet}
            extra = {o.key: o.value for o in props.get("config.extraConfig") or []}
            ip = extra.get("guestinfo.vm_autoscale.ip")
            if not ip or props.get("runtime.powerState") != "poweredOn":
                continue
            vms[props["name"]] = {
                "ip": ip,
                "service": extra.get("guestinfo.vm_autoscale.service", ""),
                "cpus": props.get("config.hardware.numCPU") or 1,
                "memory_mb": props.get("config.hardware.memoryMB") or 1024,
            }
        return vms

    # --- the F5's view -------------------------------------------------------------------

    def _f5_members(self) -> tuple[str | None, list[dict]]:
        socket_path = self.config["f5_control_socket"]
        try:
            devices = control(socket_path, "GET", "/devices", timeout=2)
            active = next((d["name"] for d in devices if d["failover"] == "active"), None)
            if active is None:
                return None, []
            return active, control(socket_path, "GET", f"/devices/{active}/members", timeout=2)
        except ControlError:
            return None, []

    # --- one tick ------------------------------------------------------------------------

    def _boot(self, guest: Guest) -> None:
        subprocess.run(["ip", "addr", "add", f"{guest.ip}/32", "dev", "lo"], capture_output=True, check=False)
        port = self.services.get(guest.service, {}).get("port", 80)
        for bind_port, kind in ((port, "app"), (self.settings["node_exporter_port"], "metrics")):
            try:
                server = _Server((guest.ip, bind_port), _handler(self, guest, kind))
            except OSError as exc:
                log(f"{guest.name}: cannot listen on {guest.ip}:{bind_port}: {exc}")
                continue
            threading.Thread(target=server.serve_forever, daemon=True, name=f"{guest.name}-{kind}").start()
            guest.servers.append(server)
        guest.booted = True
        metrics_port = self.settings["node_exporter_port"]
        log(f"{guest.name} ({guest.service}) booted: http://{guest.ip}:{port}/ and :{metrics_port}/metrics")

    def _shutdown(self, guest: Guest, why: str) -> None:
        for server in guest.servers:
            server.shutdown()
            server.server_close()
        guest.servers.clear()
        if guest.booted:
            subprocess.run(["ip", "addr", "del", f"{guest.ip}/32", "dev", "lo"], capture_output=True, check=False)
        guest.booted = False
        guest.connections.drop()
        log(f"{guest.name} ({guest.ip}) stopped answering: {why}")

    def tick(self) -> None:
        vms = self.read_vms()
        now = time.time()
        with self.lock:
            if vms is not None:
                for name in list(self.guests):
                    guest = self.guests[name]
                    current = vms.get(name)
                    if current is None or current["ip"] != guest.ip:
                        self._shutdown(guest, "powered off or deleted" if current is None else "IP changed")
                        del self.guests[name]
                for name, vm in vms.items():
                    if name not in self.guests:
                        self.guests[name] = Guest(
                            name, vm["service"], vm["ip"], cpus=vm["cpus"], memory_mb=vm["memory_mb"], seen=now,
                            connection_seconds=self.settings["connection_seconds"],
                        )  # fmt: skip
            for guest in self.guests.values():
                never = self.health_of(guest.name) == "never_boot"
                if not guest.booted and not never and now - guest.powered_on_at >= self.settings["boot_delay"]:
                    self._boot(guest)
                elif guest.booted and never:
                    self._shutdown(guest, "switched to never_boot")
        self._load_step()

    def _load_step(self) -> None:
        now = time.monotonic()
        dt = now - self._last_tick
        self._last_tick = now
        active, members = self._f5_members()
        serving: dict[str, set[str]] = {}
        known: dict[str, dict] = {}
        for member in members:
            key = f"{member['address']}:{member['port']}"
            known[key] = member
            if member["enabled"] and member["available"]:
                serving.setdefault(key, set()).add(member["pool"])
        settings = self.settings
        updates: dict[str, int | None] = {}
        with self.lock:
            by_service: dict[str, list[Guest]] = {}
            for guest in self.guests.values():
                if guest.booted:
                    by_service.setdefault(guest.service, []).append(guest)
            for service, guests in by_service.items():
                port = self.services.get(service, {}).get("port", 80)
                in_service = [g for g in guests if f"{g.ip}:{port}" in serving]
                demand = float(self.demand.get(service, 0.0))
                share = demand / len(in_service) if in_service else 0.0
                for guest in guests:
                    key = f"{guest.ip}:{port}"
                    load = share if guest in in_service else 0.0
                    cpu = min(100.0, settings["idle_cpu_percent"] + load)
                    memory = (
                        settings["memory_base_percent"]
                        + (settings["memory_max_percent"] - settings["memory_base_percent"]) * cpu / 100
                    )
                    guest.advance(dt, cpu, memory)
                    count = guest.connections.step(now, load * settings["connections_per_percent"], guest in in_service)
                    if key in known and known[key].get("current_connections") != count:
                        updates[key] = count  # only what changed: an idle lab sends nothing
        if active and updates:
            try:
                control(self.config["f5_control_socket"], "PUT", f"/devices/{active}/connections", updates, timeout=2)
            except ControlError as exc:
                log(f"cannot report connections to the F5 emulator: {exc}")

    def stop(self) -> None:
        with self.lock:
            for guest in self.guests.values():
                self._shutdown(guest, "the guest simulator stops")
            self.guests.clear()
        if self._si is not None:
            Disconnect(self._si)

    # --- control -------------------------------------------------------------------------

    def control_app(self):
        def handle(request: Request) -> Response:
            path, method = request.path, request.method
            body = request.json() if request.body else {}
            with self.lock:
                if path == "/demand" and method == "GET":
                    return Response(200, self.demand)
                if path.startswith("/demand/") and method == "PUT":
                    service = path.split("/", 2)[2]
                    if service not in self.services:
                        return Response(404, {"message": f"no service {service!r}; known: {sorted(self.services)}"})
                    demand = float(body["demand"])
                    if not 0 <= demand <= 100000:
                        return Response(400, {"message": "demand is a percentage of one VM's CPU, 0 or more"})
                    self.demand[service] = demand
                    self.save()
                    log(f"demand of {service} set to {demand:g}%")
                    return Response(200, {service: demand})
                if path == "/guests" and method == "GET":
                    return Response(200, [
                        {"name": g.name, "service": g.service, "ip": g.ip, "booted": g.booted,
                         "health": self.health_of(g.name), "cpu_percent": round(g.cpu_percent, 1),
                         "memory_percent": round(g.memory_percent, 1), "connections": g.connections.count}
                        for g in sorted(self.guests.values(), key=lambda g: g.name)
                    ])  # fmt: skip
                if path == "/settings/boot_delay" and method == "PUT":
                    # Benchmarks set 0 s to time the automation without a guest's boot in it.
                    seconds = body.get("seconds")
                    if not isinstance(seconds, (int, float)) or not 0 <= seconds <= 3600:
                        return Response(400, {"message": "seconds: a number of seconds, 0 to 3600"})
                    self.settings["boot_delay"] = seconds
                    log(f"boot delay set to {seconds:g} s")
                    return Response(200, {"boot_delay": seconds})
                if path.startswith("/guests/") and path.endswith("/hold") and method == "POST":
                    vm = path.split("/")[2]
                    guest = self.guests.get(vm)
                    if guest is None or not guest.booted:
                        return Response(404, {"message": f"no running guest {vm!r}"})
                    count, seconds = body.get("connections"), body.get("seconds")
                    if not isinstance(count, int) or not 0 < count <= 10000:
                        return Response(400, {"message": "connections: a count, 1 to 10000"})
                    if not isinstance(seconds, (int, float)) or not 0 < seconds <= 86400:
                        return Response(400, {"message": "seconds: how long they stay open, up to 86400"})
                    guest.connections.hold(time.monotonic(), count, seconds)
                    log(f"{vm} holds {count} connections for {seconds:g} s")
                    return Response(200, {"vm": vm, "connections": guest.connections.count})
                if path.startswith("/guests/") and path.endswith("/hold") and method == "DELETE":
                    vm = path.split("/")[2]
                    guest = self.guests.get(vm)
                    if guest is None:
                        return Response(404, {"message": f"no guest {vm!r}"})
                    ended = guest.connections.release()
                    log(f"{vm}: {ended} held connections ended")
                    return Response(200, {"vm": vm, "ended": ended, "connections": guest.connections.count})
                if path.startswith("/guests/") and method == "PUT":
                    vm = path.split("/", 2)[2]
                    health = body.get("health")
                    if health not in HEALTH_STATES:
                        return Response(400, {"message": f"health must be one of {HEALTH_STATES}"})
                    self.health[vm] = health
                    self.save()
                    return Response(200, {vm: health})
            return Response(404, {"message": f"no control endpoint {method} {path}"})

        return handle


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    simulator = GuestSimulator(config)
    control_server = serve_control(Path(config["control_socket"]), simulator.control_app())
    stop = stop_event()
    log("guest simulator running")
    while not stop.is_set():
        started = time.monotonic()
        simulator.tick()
        stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))
    control_server.shutdown()
    simulator.stop()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
