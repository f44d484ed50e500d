"""Give the lab's BIG-IP pair what the operator made by hand before autoscaling: per service an
HTTP health monitor on its health path and an LTM pool holding its static members.

Made through iControl REST on the active device, then pushed to its peer with a config-sync to
the device group, as an operator would; the autoscaler only adds and removes members later.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

from .plan import Plan, Service


class F5SeedError(Exception):
    pass


class _Device:
    """iControl REST calls to one device, basic auth, validated against the lab CA."""

    def __init__(self, device: dict, username: str, password: str, ca: Path) -> None:
        self.device = device
        self.auth = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.context = ssl.create_default_context(cafile=str(ca))

    def post(self, path: str, body: dict) -> dict:
        return self._call("POST", path, body)

    def get(self, path: str) -> dict:
        return self._call("GET", path, None)

    def _call(self, method: str, path: str, body: dict | None) -> dict:
        request = urllib.request.Request(
            f"https://{self.device['address']}:{self.device['port']}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json", "Authorization": f"Basic {self.auth}"},
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=10) as response:  # noqa: S310 - lab
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise F5SeedError(f"{self.device['name']}: {method} {path}: {exc.code} {exc.read()[:300]!r}") from None

    def sync_status(self) -> str:
        """The status cm/sync-status reports (the lab's pair has no other group out of sync when seeded)."""
        for entry in self.get("/mgmt/tm/cm/sync-status")["entries"].values():
            return entry["nestedStats"]["entries"]["status"]["description"]
        raise F5SeedError(f"{self.device['name']}: cm/sync-status has no entries")


def monitor_name(service: Service) -> str:
    return f"{service.name}-health"


def _service_objects(service: Service) -> list[tuple[str, dict]]:
    send = f"GET {service.health_path} HTTP/1.1\\r\\nHost: {service.name}\\r\\nConnection: Close\\r\\n\\r\\n"
    calls = [
        (
            "/mgmt/tm/ltm/monitor/http",
            {"name": monitor_name(service), "partition": "Common", "defaultsFrom": "/Common/http",
             "send": send, "recv": "200 OK", "interval": 2, "timeout": 5},
        ),
        (
            "/mgmt/tm/ltm/pool",
            {"name": service.pool_name, "partition": "Common", "monitor": f"/Common/{monitor_name(service)}",
             "loadBalancingMode": "round-robin",
             "description": f"{service.name} (customer {service.customer}); members added by hand and by vm_autoscale"},
        ),
    ]  # fmt: skip
    for member in service.static_members:
        calls.append(
            (
                f"/mgmt/tm/ltm/pool/~Common~{service.pool_name}/members",
                {"name": f"{member.ip}:{service.member_port}", "partition": "Common", "address": member.ip,
                 "description": f"static member {member.name}"},
            )
        )  # fmt: skip
    return calls


def seed(plan: Plan, ca: Path, password_file: Path) -> dict:
    """Create every service's monitor and pool on the active device and sync the pair."""
    f5 = plan.f5
    active = _Device(f5["devices"][0], f5["username"], password_file.read_text().strip(), ca)
    pools = {}
    for service in plan.services:
        for path, body in _service_objects(service):
            active.post(path, body)
        pools[service.name] = {
            "pool": f"/Common/{service.pool_name}",
            "monitor": f"/Common/{monitor_name(service)}",
            "members": [f"{m.ip}:{service.member_port}" for m in service.static_members],
        }
    active.post("/mgmt/tm/cm", {"command": "run", "utilCmdArgs": f"config-sync to-group {f5['device_group']}"})
    deadline = time.monotonic() + 60  # the sync is asynchronous, as on a real pair
    while (status := active.sync_status()) != "In Sync":
        if time.monotonic() > deadline:
            raise F5SeedError(f"{f5['device_group']} is still {status} 60 s after its config-sync")
        time.sleep(0.2)
    return pools
