# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A BIG-IP pair over iControl REST: reads of a pool on every device, and the config sync.
Private to the collection.

Pool members are changed with f5networks.f5_modules; what the collection needs beyond them is
reading the same pool on every device at once (members, member stats, failover state) in one
module call, waiting on a member's state, and a config sync that polls its status at once
(bigip_configsync_action sleeps 3 s before it looks). Basic auth, as the vendor modules' provider.
"""

from __future__ import annotations

import base64
import json
import time
from urllib.error import HTTPError, URLError
from urllib.parse import quote

from ansible.module_utils.urls import open_url

# The login options of the collection's F5 modules (doc fragment danacloud.vm_autoscale.f5).
AUTH_SPEC = {
    "username": {"type": "str", "required": True},
    "password": {"type": "str", "required": True, "no_log": True},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
}


class BigipError(Exception):
    """A device could not be read; the message names it and says why."""


class Device:
    def __init__(self, device: dict, auth: dict) -> None:
        self.name = device["name"]
        self.base = f"https://{device['server']}:{int(device.get('server_port') or 443)}"
        self.auth = auth

    def get(self, path: str) -> dict:
        return self.request("GET", path)

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        url = self.base + path
        token = base64.b64encode(f"{self.auth['username']}:{self.auth['password']}".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = open_url(
                url,
                method=method,
                data=None if body is None else json.dumps(body),
                headers=headers,
                validate_certs=self.auth["validate_certs"],
                ca_path=self.auth.get("ca_path"),
                timeout=self.auth["timeout"],
            )
            return json.loads(response.read() or b"{}")
        except HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")
            try:
                message = json.loads(body).get("message", body)
            except ValueError:
                message = body
            plain = {401: "the user name or password is wrong", 403: "the user may not read it", 404: "not found"}
            raise BigipError(
                f"{self.name}: {method} {path} answered {exc.code} ({plain.get(exc.code, 'error')}): {message}"[:600]
            ) from None
        except (URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BigipError(f"{self.name} ({self.base}) cannot be reached: {reason}") from None


def pool_path(partition: str, pool: str) -> str:
    return f"/mgmt/tm/ltm/pool/{quote(f'~{partition}~{pool}')}"


def failover(device: Device) -> str:
    """ACTIVE, STANDBY, ... as cm/failover-status reports it."""
    answer = device.get("/mgmt/tm/cm/failover-status")
    for entry in (answer.get("entries") or {}).values():
        return entry["nestedStats"]["entries"]["status"]["description"]
    raise BigipError(f"{device.name}: cm/failover-status has no entries")


def members(device: Device, partition: str, pool: str) -> list:
    items = device.get(f"{pool_path(partition, pool)}/members").get("items") or []
    keys = ("name", "address", "session", "state", "description")
    return [{key: item.get(key) for key in keys} for item in items]


def member_stats(device: Device, partition: str, pool: str, member: str) -> dict | None:
    """{availability, enabled, connections} of one member, or None when it is not in the pool."""
    path = f"{pool_path(partition, pool)}/members/{quote(f'~{partition}~{member}')}/stats"
    try:
        answer = device.get(path)
    except BigipError as exc:
        if " answered 404 " in str(exc):
            return None
        raise
    for entry in (answer.get("entries") or {}).values():
        stats = entry["nestedStats"]["entries"]
        return {
            "availability": stats["status.availabilityState"]["description"],
            "enabled": stats["status.enabledState"]["description"],
            "connections": int(stats["serverside.curConns"]["value"]),
        }
    return None


MET = {
    "available": lambda stats: stats is not None and stats["availability"] == "available",
    "drained": lambda stats: stats is None or stats["connections"] == 0,
}


def wait_member(devices: list, partition: str, pool: str, member: str, *, until: str, timeout: float, interval: float):
    """Poll every device until ``until`` holds for ``member``; ({device: stats}, met, seconds)."""
    started = time.monotonic()
    while True:
        stats = {device.name: member_stats(device, partition, pool, member) for device in devices}
        met = all(MET[until](value) for value in stats.values())
        waited = time.monotonic() - started
        if met or waited + interval > timeout:
            return stats, met, round(waited, 1)
        time.sleep(interval)


def sync_status(device: Device) -> tuple[str, str]:
    """(status, summary) of the device group, as cm/sync-status reports it on ``device``."""
    answer = device.get("/mgmt/tm/cm/sync-status")
    for entry in (answer.get("entries") or {}).values():
        stats = entry["nestedStats"]["entries"]
        return stats["status"]["description"], stats.get("summary", {}).get("description", "")
    raise BigipError(f"{device.name}: cm/sync-status has no entries")


# Statuses a sync passes through on its way to In Sync (BIG-IP's own words).
SYNCING = ("Syncing", "Not All Devices Synced", "Awaiting Initial Sync", "Changes Pending")


def config_sync(device: Device, group: str, *, timeout: float, interval: float) -> tuple[bool, str, str, float]:
    """Sync ``device``'s configuration to ``group`` unless the group is in sync already.

    Returns (synced, status, summary, seconds); raises BigipError when the group is
    disconnected or does not reach In Sync within ``timeout``.
    """
    started = time.monotonic()
    status, summary = sync_status(device)
    if status == "In Sync":
        return False, status, summary, 0.0
    device.request("POST", "/mgmt/tm/cm", {"command": "run", "utilCmdArgs": f"config-sync to-group {group}"})
    while True:
        status, summary = sync_status(device)
        waited = time.monotonic() - started
        if status == "In Sync":
            return True, status, summary, round(waited, 1)
        if status not in SYNCING:
            raise BigipError(f"config-sync of {group} from {device.name}: the group is {status} ({summary})")
        if waited + interval > timeout:
            raise BigipError(
                f"config-sync of {group} from {device.name} did not finish in {timeout:g} s: {status} ({summary})"
            )
        time.sleep(interval)
