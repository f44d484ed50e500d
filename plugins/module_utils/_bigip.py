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
import re
import time
from urllib.error import HTTPError, URLError
from urllib.parse import quote

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.urls import open_url

# The login options of the collection's F5 modules (doc fragment danacloud.vm_autoscale.f5), with
# the environment variables f5networks.f5_modules' provider falls back to (F5_USER, F5_PASSWORD,
# F5_VALIDATE_CERTS and the network modules' ANSIBLE_NET_USERNAME / ANSIBLE_NET_PASSWORD).
AUTH_SPEC = {
    "username": {"type": "str", "required": True, "fallback": (env_fallback, ["F5_USER", "ANSIBLE_NET_USERNAME"])},
    "password": {
        "type": "str",
        "required": True,
        "no_log": True,
        "fallback": (env_fallback, ["F5_PASSWORD", "ANSIBLE_NET_PASSWORD"]),
    },
    "validate_certs": {"type": "bool", "default": True, "fallback": (env_fallback, ["F5_VALIDATE_CERTS"])},
    "ca_path": {"type": "path"},
}


class BigipError(Exception):
    """A device could not be read; the message names it and says why (``status``: the HTTP status, if any)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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
                f"{self.name}: {method} {path} answered {exc.code} ({plain.get(exc.code, 'error')}): {message}"[:600],
                exc.code,
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


def sync_status(device: Device, group: str | None = None) -> dict:
    """cm/sync-status on ``device``: its overall status, summary and details, and ``group``'s own status.

    The overall status aggregates every device group of the trust domain (a pair also has
    device_trust_group, datasync-global-dg, ...), so a group of no concern to us may hold it at
    "Changes Pending". ``group_status`` is read from the group's own line in the details
    ("<group> (<status>): ..."); without such a line it is the overall status.
    """
    answer = device.get("/mgmt/tm/cm/sync-status")
    for entry in (answer.get("entries") or {}).values():
        stats = entry["nestedStats"]["entries"]
        details = []
        for key, value in stats.items():
            if key.endswith("/details"):
                lines = sorted(value["nestedStats"]["entries"].items(), key=lambda kv: _detail_index(kv[0]))
                details.extend(line["nestedStats"]["entries"]["details"]["description"] for _key, line in lines)
        status = stats["status"]["description"]
        state = {
            "status": status,
            "summary": stats.get("summary", {}).get("description", ""),
            "details": details,
            "group_status": status,
            "recommended": "",
        }
        if group and status != "Disconnected":
            state.update(_group_lines(details, group.rsplit("/", 1)[-1]))
        return state
    raise BigipError(f"{device.name}: cm/sync-status has no entries")


def _detail_index(key: str) -> int:
    tail = key.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _group_lines(details: list, name: str) -> dict:
    """The group's status and recommended action from its lines of the details (empty if it has none)."""
    found: dict = {}
    for index, line in enumerate(details):
        match = re.match(rf"{re.escape(name)} \(([^)]+)\)", line)
        if match:
            found["group_status"] = match.group(1)
            following = details[index + 1] if index + 1 < len(details) else ""
            if "Recommended action" in following:
                found["recommended"] = following.strip(" -")
    return found


# Statuses on the way to In Sync (BIG-IP's own words): the module waits through them.
SYNCING = ("Syncing", "Not All Devices Synced", "Awaiting Initial Sync", "Changes Pending")
# A group still in one of these this long after the module asked for a sync is asked again: the
# first ask may have been refused because another run's sync of the group was under way, or the
# sync it started may have ended before another run's change reached the device.
ASK_AGAIN = ("Not All Devices Synced", "Awaiting Initial Sync", "Changes Pending")
ASK_AGAIN_AFTER = 3.0


def ask_sync(device: Device, group: str) -> bool:
    """``run cm config-sync to-group``; False when the device refuses it because a sync of the group is under way."""
    try:
        device.request("POST", "/mgmt/tm/cm", {"command": "run", "utilCmdArgs": f"config-sync to-group {group}"})
    except BigipError as exc:
        if exc.status == 400 and "in progress" in str(exc):
            return False
        raise
    return True


def config_sync(device: Device, group: str, *, timeout: float, interval: float) -> tuple[bool, str, str, float]:
    """Sync ``device``'s configuration to ``group`` unless the group is in sync already.

    Waits until the group itself reports In Sync (another group's pending changes are not ours
    to push). A sync refused because one of the group is under way (another service's run), or
    a group still not in sync ASK_AGAIN_AFTER seconds after the last ask (a change that reached
    the device while that sync ran), is asked again. Returns (synced, status, summary, seconds);
    raises BigipError when the group is disconnected, in a state no sync passes through, or not
    in sync within ``timeout``.
    """
    started = time.monotonic()
    state = sync_status(device, group)
    if state["group_status"] == "In Sync":
        return False, "In Sync", state["summary"], 0.0
    asked_at = None
    while True:
        status = state["group_status"]
        waited = time.monotonic() - started
        if status == "In Sync":
            return True, status, state["summary"], round(waited, 1)
        if status not in SYNCING:
            raise BigipError(f"the group is {status} ({state['summary']})")
        if status in ASK_AGAIN and (asked_at is None or time.monotonic() - asked_at >= ASK_AGAIN_AFTER):
            ask_sync(device, group)
            asked_at = time.monotonic()
        if waited + interval > timeout:
            advice = f"; {state['recommended']}" if state["recommended"] else ""
            raise BigipError(f"it did not finish in {timeout:g} s: {status} ({state['summary']}){advice}")
        time.sleep(interval)
        state = sync_status(device, group)
