"""python -m labctl.bigip CONFIG.json: serve the lab's BIG-IP pair until SIGTERM.

CONFIG names the devices (name, address, port), the TLS certificate, the admin password file,
the state folder (each device's configuration is persisted there, so a restarted emulator keeps
its pools) and the control socket.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from ..httpd import Listener, Request, Response, log, serve_control, stop_event
from .model import F5Error
from .monitor import HealthMonitor
from .rest import Cluster


def control_app(cluster: Cluster):
    def device_or_404(name: str):
        if name not in cluster.devices:
            raise F5Error(404, f"no device {name}")
        return cluster.devices[name]

    def handle(request: Request) -> Response:
        path, method = request.path, request.method
        body = request.json() if request.body else None
        try:
            with cluster.lock:
                if path == "/devices" and method == "GET":
                    return Response(
                        200,
                        [
                            {
                                "name": n,
                                "address": lst.address,
                                "port": lst.port,
                                "reachable": cluster.reachable[n],
                                "failover": "active" if cluster.active == n else "standby",
                            }
                            for n, lst in cluster.listeners.items()
                        ],
                    )
                if path == "/sync-status" and method == "GET":
                    state = cluster.sync_state(request.query.get("device"))
                    return Response(200, {**state, "syncing": cluster.sync.job is not None})
                if path == "/sync-fault":
                    if method in ("POST", "DELETE"):
                        cluster.sync.set_fault(body if method == "POST" else None)
                    return Response(200, {"fault": cluster.sync.fault})
                if path == "/sync-timing":
                    if method == "PUT":
                        return Response(200, cluster.sync.set_timing(body))
                    return Response(200, cluster.sync.timing())
                if path == "/failover" and method == "POST":
                    device_or_404(body["active"])
                    cluster.active = body["active"]
                    cluster.save_cluster()
                    return Response(200, {"active": cluster.active})
                if path == "/faults":
                    if method == "POST":
                        fault = {
                            "device": body.get("device"),
                            "method": body.get("method"),
                            "path": body["path"],
                            "status": int(body.get("status", 500)),
                            "remaining": int(body.get("count", 1)),
                            "message": body.get("message"),
                        }
                        cluster.faults.append(fault)
                        return Response(200, fault)
                    if method == "DELETE":
                        cluster.faults.clear()
                    return Response(200, cluster.faults)
                if path == "/unemulated" and method == "GET":
                    log_path = cluster.unemulated.path
                    lines = log_path.read_text().splitlines() if log_path.exists() else []
                    return Response(200, [json.loads(line) for line in lines])
                match = re.fullmatch(r"/devices/([^/]+)/(\w+)", path)
                if match:
                    device = device_or_404(match.group(1))
                    what = match.group(2)
                    if what == "config" and method == "GET":
                        return Response(
                            200,
                            {
                                "config": device.config,
                                "generation": device.generation,
                                "last_change": device.last_change,
                            },
                        )
                    if what == "members" and method == "GET":
                        return Response(
                            200, [device.member_summary(p, m) for p, ms in device.config["members"].items() for m in ms]
                        )
                    if what == "connections" and method == "PUT":
                        for key, value in body.items():
                            if value is None:
                                device.connections.pop(key, None)
                            else:
                                device.connections[key] = int(value)
                        return Response(200, device.connections)
                    if what == "requests" and method == "GET":
                        since = int(request.query.get("since", 0))
                        return Response(200, [r for r in cluster.requests[device.name] if r["seq"] > since])
                    if what == "reachable" and method == "POST":
                        listener = cluster.listeners[device.name]
                        cluster.reachable[device.name] = bool(body["reachable"])
                        (listener.start if body["reachable"] else listener.stop)()
                        log(f"{device.name} is now {'reachable' if body['reachable'] else 'unreachable'}")
                        return Response(200, {"reachable": cluster.reachable[device.name]})
                    if what == "sync" and method == "POST":
                        cluster.sync.now(device.name, body.get("direction", "to-group") if body else "to-group")
                        return Response(200, {"synced": True})
            return Response(404, {"message": f"no control endpoint {method} {path}"})
        except F5Error as exc:
            return Response(exc.status, exc.body)
        except (KeyError, TypeError, ValueError) as exc:
            return Response(400, {"message": f"bad control request: {exc!r}"})

    return handle


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    state_dir = Path(config["state_dir"])
    state_dir.mkdir(parents=True, exist_ok=True)
    config["password"] = Path(config["password_file"]).read_text().strip()
    cluster = Cluster(config, state_dir)
    for spec in config["devices"]:
        listener = Listener(
            spec["name"],
            spec["address"],
            spec["port"],
            cert=config["cert"],
            key=config["key"],
            app=cluster.app(spec["name"]),
            server_header="Jetty(9.2.22.v20170606)",
        )
        listener.start()
        cluster.listeners[spec["name"]] = listener
        log(f"{spec['name']} serving iControl REST on https://{spec['address']}:{spec['port']}/")
    monitor = HealthMonitor(cluster)
    monitor.start()
    control = serve_control(Path(config["control_socket"]), control_app(cluster))
    stop_event().wait()
    monitor.stop()
    control.shutdown()
    for listener in cluster.listeners.values():
        listener.stop()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
