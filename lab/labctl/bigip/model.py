"""The LTM configuration and runtime state of one emulated BIG-IP, with BIG-IP's semantics.

Faithful to ../shared/reference/emulator-spec.md part 1: member identity ``/<partition>/<node>:<port>``,
implicit node creation on member create, node address uniqueness (0107003a), nodes still in use
(01070110), the write-only ``user-up``/``user-down`` and ``user-enabled``/``user-disabled`` values
and the read values they turn into (with or without a health monitor), and the real error
bodies. Everything here runs under the device's lock; nothing here does I/O except ``save``.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import time
from pathlib import Path

BUILTIN_MONITORS = {
    "/Common/http": {"type": "http", "send": "GET /\\r\\n", "recv": "", "interval": 5, "timeout": 16},
    "/Common/https": {"type": "https", "send": "GET /\\r\\n", "recv": "", "interval": 5, "timeout": 16},
    "/Common/tcp": {"type": "tcp", "send": "", "recv": "", "interval": 5, "timeout": 16},
    "/Common/gateway_icmp": {"type": "gateway-icmp", "interval": 5, "timeout": 16},
    "/Common/icmp": {"type": "icmp", "interval": 5, "timeout": 16},
}
MONITOR_TYPES = ("http", "https", "tcp", "gateway-icmp", "icmp")
ADDRESS_MONITORS = ("icmp", "gateway-icmp")  # they need no port: usable on a node as they are
NO_MONITOR = "/Common/none"  # what bigip_node sends for "no monitor, not even the default"

POOL_DEFAULTS = {
    "allowNat": "yes",
    "allowSnat": "yes",
    "ignorePersistedWeight": "disabled",
    "ipTosToClient": "pass-through",
    "ipTosToServer": "pass-through",
    "linkQosToClient": "pass-through",
    "linkQosToServer": "pass-through",
    "loadBalancingMode": "round-robin",
    "minActiveMembers": 0,
    "minUpMembers": 0,
    "minUpMembersAction": "failover",
    "minUpMembersChecking": "disabled",
    "queueDepthLimit": 0,
    "queueOnConnectionLimit": "disabled",
    "queueTimeLimit": 0,
    "reselectTries": 0,
    "serviceDownAction": "none",
    "slowRampTime": 10,
}
POOL_WRITABLE = set(POOL_DEFAULTS) | {"description", "monitor", "metadata"}

MEMBER_DEFAULTS = {
    "connectionLimit": 0,
    "dynamicRatio": 1,
    "ephemeral": "false",
    "fqdn": {"autopopulate": "disabled"},
    "inheritProfile": "enabled",
    "logging": "disabled",
    "monitor": "default",
    "priorityGroup": 0,
    "rateLimit": "disabled",
    "ratio": 1,
}
MEMBER_WRITABLE = set(MEMBER_DEFAULTS) | {"address", "description", "session", "state", "profiles", "metadata"}

NODE_DEFAULTS = {
    "connectionLimit": 0,
    "dynamicRatio": 1,
    "ephemeral": "false",
    "fqdn": {"addressFamily": "ipv4", "autopopulate": "disabled", "downInterval": 5, "interval": "3600"},
    "logging": "disabled",
    "monitor": "default",
    "rateLimit": "disabled",
    "ratio": 1,
}
NODE_WRITABLE = set(NODE_DEFAULTS) | {"address", "description", "session", "state", "metadata"}

MONITOR_WRITABLE = {
    "defaultsFrom",
    "description",
    "destination",
    "interval",
    "timeout",
    "timeUntilUp",
    "upInterval",
    "send",
    "recv",
    "recvDisable",
    "reverse",
    "username",
    "password",
    "transparent",
    "manualResume",
    "ipDscp",
    "adaptive",
}

# What a client may send back from an object it read; BIG-IP ignores these on write.
READ_ONLY = {"kind", "selfLink", "generation", "fullPath", "membersReference", "name", "partition"}

UNCHECKED_POOL = (
    "The children pool member(s) either don't have service checking enabled, "
    "or service check results are not available yet"
)
SESSION_WRITE = {"user-enabled", "user-disabled"}
STATE_WRITE = {"user-up", "user-down"}

# Values a real box validates (the choices and ranges of f5networks.f5_modules' bigip_pool,
# bigip_pool_member and bigip_node, which follow tmsh): an enum outside its choices, a number that
# is not one or out of range is refused with 400; a number sent as a numeric string is stored
# and read back as a number, as mcpd does.
U32 = (0, 4294967295)
LB_MODES = (
    "dynamic-ratio-member", "dynamic-ratio-node", "fastest-app-response", "fastest-node",
    "least-connections-member", "least-connections-node", "least-sessions", "observed-member",
    "observed-node", "predictive-member", "predictive-node", "ratio-least-connections-member",
    "ratio-least-connections-node", "ratio-member", "ratio-node", "ratio-session", "round-robin",
    "weighted-least-connections-member", "weighted-least-connections-node",
)  # fmt: skip
ENABLED = ("enabled", "disabled")
POOL_VALUES = {
    "loadBalancingMode": LB_MODES,
    "allowNat": ("yes", "no"),
    "allowSnat": ("yes", "no"),
    "ignorePersistedWeight": ENABLED,
    "minUpMembersAction": ("failover", "reboot", "restart-all"),
    "minUpMembersChecking": ENABLED,
    "queueOnConnectionLimit": ENABLED,
    "serviceDownAction": ("none", "reset", "drop", "reselect"),
    "minActiveMembers": (0, 65535),
    "minUpMembers": (0, 65535),
    "queueDepthLimit": U32,
    "queueTimeLimit": U32,
    "reselectTries": (0, 65535),
    "slowRampTime": U32,
}
MEMBER_VALUES = {
    "connectionLimit": U32,
    "dynamicRatio": (1, 65535),
    "priorityGroup": (0, 65535),
    "ratio": (1, 100),
    "logging": ENABLED,
    "inheritProfile": ENABLED,
    "rateLimit": U32,  # or "disabled"
}
NODE_VALUES = {key: MEMBER_VALUES[key] for key in ("connectionLimit", "dynamicRatio", "ratio", "logging", "rateLimit")}


def check_values(attrs: dict, rules: dict) -> dict:
    """``attrs`` with numbers normalised; F5Error 400 ("invalid property value") for a bad one."""
    checked = dict(attrs)
    for key, rule in rules.items():
        if key not in attrs:
            continue
        value = attrs[key]
        bad = F5Error(400, f'invalid property value "{key}":"{value}"', api_error=1)
        if key == "rateLimit" and value == "disabled":
            continue
        if isinstance(rule[0], str):
            if value not in rule:
                raise bad
            continue
        if isinstance(value, bool):
            raise bad
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
            value = int(value.strip())
        if not isinstance(value, int) or not rule[0] <= value <= rule[1]:
            raise bad
        checked[key] = value
    return checked


class F5Error(Exception):
    """An error BIG-IP would answer: HTTP status plus its JSON body."""

    def __init__(self, status: int, message: str, api_error: int = 3) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"code": status, "message": message, "errorStack": [], "apiError": api_error}


class Unemulated(Exception):
    """A request the emulator does not model; answered with an error and recorded."""


def full_path(segment: str, default_partition: str = "Common") -> str:
    """``~Common~web`` -> ``/Common/web``; a bare ``web`` is in the default partition."""
    if segment.startswith("~"):
        return segment.replace("~", "/")
    if segment.startswith("/"):
        return segment
    return f"/{default_partition}/{segment}"


def url_segment(path: str) -> str:
    return path.replace("/", "~").replace("%", "%25")


def split_member_name(name: str) -> tuple[str, int]:
    """``app1:80`` -> (``app1``, 80); IPv6 members use ``.``: ``2001:db8::1.80``."""
    if name.count(":") > 1:
        node, _sep, port = name.rpartition(".")
    else:
        node, _sep, port = name.rpartition(":")
    if not node or not port.isdigit():
        raise F5Error(400, f'01070587:3: The requested pool member name "{name}" is invalid.')
    return node, int(port)


def parse_monitor_rule(rule: str | None) -> tuple[list[str], int | None]:
    """A pool's monitor rule -> (monitor full paths, quorum); quorum None means "all of them"."""
    text = (rule or "").strip()
    if not text or text == "none":
        return [], None
    match = re.fullmatch(r"min\s+(\d+)\s+of\s+\{?\s*(.*?)\s*\}?", text)
    if match:
        return [full_path(n) for n in match.group(2).split()], int(match.group(1))
    return [full_path(n.strip()) for n in text.split(" and ") if n.strip()], None


def normalise_monitor_rule(rule: str) -> str:
    names, quorum = parse_monitor_rule(rule)
    if quorum is not None:
        return f"min {quorum} of {{ {' '.join(names)} }}"
    return " and ".join(names)


def stats_rule(names: list[str], quorum: int | None) -> str:
    """A monitor rule as statistics write it (``monitorRule``): no braces, "none" without one."""
    if not names:
        return "none"
    return f"min {quorum} of {' '.join(names)}" if quorum is not None else " and ".join(names)


def _objects(config: dict):
    """(section, {path: object}) for every object table of a configuration (members per pool)."""
    for section in ("pools", "nodes", "monitors"):
        yield section, config.get(section, {})
    for pool_path, members in config.get("members", {}).items():
        yield f"members {pool_path}", members


def _without_generation(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k != "generation"}


def _self_link(path: str, version: str) -> str:
    return f"https://localhost/mgmt/tm/{path}?ver={version}"


class Device:
    """One BIG-IP: its LTM configuration (what config sync copies) and its runtime state."""

    def __init__(self, name: str, version: str, save_path: Path | None = None) -> None:
        self.name = name
        self.version = version
        self.save_path = save_path
        self.config: dict = {"pools": {}, "members": {}, "nodes": {}, "monitors": {}}
        self.generation = 1
        self.last_change = 0.0  # when the configuration last changed here (config-sync commit)
        # Runtime, not part of the configuration and not synced:
        self.health: dict[tuple[str, str], dict] = {}  # (pool, member) -> monitor status
        self.node_health: dict[str, dict] = {}  # node -> its node monitor's status
        self.connections: dict[str, int] = {}  # "address:port" -> current server-side connections
        self.on_change = None  # called after each configuration change (the health monitor looks at once)
        self.load()

    # --- persistence -------------------------------------------------------------------

    def load(self) -> None:
        if self.save_path and self.save_path.exists():
            saved = json.loads(self.save_path.read_text())
            self.config = saved["config"]
            self.generation = saved["generation"]
            self.last_change = saved["last_change"]

    def save(self) -> None:
        if self.save_path is None:
            return
        data = {"config": self.config, "generation": self.generation, "last_change": self.last_change}
        tmp = self.save_path.with_name(self.save_path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(self.save_path)

    def changed(self, *objects: dict) -> int:
        """A configuration change: the device's generation goes up and each changed object takes
        it as its own ``generation`` (BIG-IP's per-object generation: the device's configuration
        generation at the object's last change)."""
        self.generation += 1
        for obj in objects:
            obj["generation"] = self.generation
        self.last_change = time.time()
        self.save()
        if self.on_change is not None:
            self.on_change()
        return self.generation

    def replace_config(self, config: dict, last_change: float) -> None:
        """Config sync: take over a peer's configuration. Objects the sync changed or created
        take this device's new generation; unchanged ones keep theirs."""
        old = dict(_objects(self.config))
        self.config = copy.deepcopy(config)
        self.generation += 1
        for section, objects in _objects(self.config):
            before = old.get(section, {})
            for path, obj in objects.items():
                previous = before.get(path)
                if previous is not None and _without_generation(previous) == _without_generation(obj):
                    obj["generation"] = previous.get("generation", self.generation)
                else:
                    obj["generation"] = self.generation
        self.last_change = last_change
        self.health = {k: v for k, v in self.health.items() if k[1] in self.config["members"].get(k[0], {})}
        self.node_health = {k: v for k, v in self.node_health.items() if k in self.config["nodes"]}
        self.save()
        if self.on_change is not None:
            self.on_change()

    # --- monitors ----------------------------------------------------------------------

    def monitor(self, path: str) -> dict | None:
        if path in BUILTIN_MONITORS:
            return {"name": path.rsplit("/", 1)[1], "partition": "Common", **BUILTIN_MONITORS[path]}
        return self.config["monitors"].get(path)

    def monitor_settings(self, path: str) -> dict:
        """A monitor's effective settings, with what it inherits from its parent."""
        monitor = self.monitor(path)
        if monitor is None:
            return {}
        parent = monitor.get("defaultsFrom")
        inherited = self.monitor_settings(parent) if parent and parent != path else {}
        return {**inherited, **{k: v for k, v in monitor.items() if v not in (None, "")}}

    def _check_monitor_rule(self, rule: str) -> str:
        names = parse_monitor_rule(rule)[0]
        for name in names:
            if self.monitor(name) is None:
                raise F5Error(400, f"01020036:3: The requested monitor ({name}) was not found.")
        return normalise_monitor_rule(rule)

    def create_monitor(self, mtype: str, body: dict) -> dict:
        path = self._new_path(body)
        if self.monitor(path) is not None:
            raise F5Error(
                409, f"01020066:3: The requested Monitor ({path}) already exists in partition {path.split('/')[1]}."
            )
        attrs = self._writable(body, MONITOR_WRITABLE, "monitor")
        parent = attrs.get("defaultsFrom") or f"/Common/{mtype}"
        if self.monitor(parent) is None:
            raise F5Error(400, f"01020036:3: The requested monitor ({parent}) was not found.")
        monitor = {
            "name": path.rsplit("/", 1)[1],
            "partition": path.split("/")[1],
            "type": mtype,
            "defaultsFrom": parent,
            "destination": "*:*",
            **{k: v for k, v in self.monitor_settings(parent).items() if k in ("interval", "timeout", "send", "recv")},
            **attrs,
        }
        self.config["monitors"][path] = monitor
        self.changed(monitor)
        return self.monitor_view(path)

    def update_monitor(self, path: str, body: dict) -> dict:
        monitor = self._get_monitor(path)
        monitor.update(self._writable(body, MONITOR_WRITABLE, "monitor"))
        self.changed(monitor)
        return self.monitor_view(path)

    def delete_monitor(self, path: str) -> None:
        if path in BUILTIN_MONITORS:
            raise F5Error(400, f"01070293:3: The monitor ({path}) is a default monitor and cannot be deleted.")
        self._get_monitor(path)
        for pool_path, pool in self.config["pools"].items():
            if path in parse_monitor_rule(pool.get("monitor"))[0]:
                raise F5Error(400, f"01070083:3: Monitor {path} is in use by pool {pool_path}.")
        for node_path, node in self.config["nodes"].items():
            if path in self.node_rule(node)[0]:
                raise F5Error(400, f"01070083:3: Monitor {path} is in use by node {node_path}.")
        del self.config["monitors"][path]
        self.changed()

    def _get_monitor(self, path: str) -> dict:
        monitor = self.config["monitors"].get(path)
        if monitor is None:
            if path in BUILTIN_MONITORS:
                raise F5Error(400, f"01070293:3: The monitor ({path}) is a default monitor and cannot be modified.")
            raise F5Error(404, f"01020036:3: The requested Monitor ({path}) was not found.")
        return monitor

    def monitor_view(self, path: str) -> dict:
        monitor = dict(self.monitor(path) or {})
        mtype = monitor.pop("type", "http")
        return {
            "kind": f"tm:ltm:monitor:{mtype}:{mtype}state",
            "fullPath": path,
            "generation": 0,  # a built-in monitor's; a made one carries its own
            "selfLink": _self_link(f"ltm/monitor/{mtype}/{url_segment(path)}", self.version),
            **monitor,
        }

    def monitors_of_type(self, mtype: str) -> list[str]:
        builtin = [p for p, m in BUILTIN_MONITORS.items() if m["type"] == mtype]
        return builtin + sorted(p for p, m in self.config["monitors"].items() if m["type"] == mtype)

    # --- pools ---------------------------------------------------------------------------

    def _new_path(self, body) -> str:
        if not isinstance(body, dict) or not body.get("name"):
            raise F5Error(400, "one or more configuration identifiers must be provided")
        return full_path(body["name"], body.get("partition") or "Common")

    @staticmethod
    def _writable(body: dict, allowed: set[str], what: str) -> dict:
        unknown = sorted(set(body) - allowed - READ_ONLY)
        if unknown:
            raise Unemulated(f"{what} properties the emulator does not model: {', '.join(unknown)}")
        return {k: v for k, v in body.items() if k in allowed}

    def get_pool(self, path: str) -> dict:
        pool = self.config["pools"].get(path)
        if pool is None:
            raise F5Error(404, f"01020036:3: The requested Pool ({path}) was not found.")
        return pool

    def create_pool(self, body: dict) -> dict:
        path = self._new_path(body)
        if path in self.config["pools"]:
            raise F5Error(
                409, f"01020066:3: The requested Pool ({path}) already exists in partition {path.split('/')[1]}."
            )
        attrs = check_values(self._writable(body, POOL_WRITABLE, "pool"), POOL_VALUES)
        if attrs.get("monitor"):
            attrs["monitor"] = self._check_monitor_rule(attrs["monitor"])
        pool = {"name": path.rsplit("/", 1)[1], "partition": path.split("/")[1], **POOL_DEFAULTS, **attrs}
        self.config["pools"][path] = pool
        self.config["members"][path] = {}
        self.changed(pool)
        return self.pool_view(path)

    def update_pool(self, path: str, body: dict) -> dict:
        pool = self.get_pool(path)
        attrs = check_values(self._writable(body, POOL_WRITABLE, "pool"), POOL_VALUES)
        if "monitor" in attrs:
            if attrs["monitor"]:
                attrs["monitor"] = self._check_monitor_rule(attrs["monitor"])
            else:
                attrs.pop("monitor")
                pool.pop("monitor", None)
        pool.update(attrs)
        for key in [k for k in self.health if k[0] == path]:
            self.health[key] = {"status": "checking", "since": time.time(), "last_ok": None}
        self.changed(pool)
        return self.pool_view(path)

    def delete_pool(self, path: str) -> None:
        self.get_pool(path)
        del self.config["pools"][path]
        self.config["members"].pop(path, None)  # its members go, their nodes stay (real behaviour)
        self.health = {k: v for k, v in self.health.items() if k[0] != path}
        self.changed()

    def pool_view(self, path: str, expand: bool = False) -> dict:
        pool = self.get_pool(path)
        link = f"ltm/pool/{url_segment(path)}"
        view = {
            "kind": "tm:ltm:pool:poolstate",
            "fullPath": path,
            "generation": self.generation,  # unless the pool carries its own (below)
            "selfLink": _self_link(link, self.version),
            **pool,
            "membersReference": {"link": _self_link(f"{link}/members", self.version), "isSubcollection": True},
        }
        if expand:
            view["membersReference"]["items"] = [self.member_view(path, m) for m in self.config["members"][path]]
        return view

    # --- nodes ---------------------------------------------------------------------------

    def get_node(self, path: str) -> dict:
        node = self.config["nodes"].get(path)
        if node is None:
            raise F5Error(404, f"01020036:3: The requested Node ({path}) was not found.")
        return node

    def _node_with_address(self, address: str) -> str | None:
        return next((p for p, n in self.config["nodes"].items() if n.get("address") == address), None)

    def _new_node(self, path: str, address: str, attrs: dict) -> dict:
        if address != "any6":
            try:
                ipaddress.ip_address(address.split("%", 1)[0])
            except ValueError as exc:
                raise F5Error(400, f'0107003b:3: The requested node address "{address}" is invalid.') from exc
        if "monitor" in attrs:
            attrs["monitor"] = self._node_monitor(attrs["monitor"], path)
        node = self._enabled_object(path, NODE_DEFAULTS, attrs, address=address)
        self.config["nodes"][path] = node
        self.node_health.pop(path, None)
        return node

    def _node_monitor(self, rule, node_path: str) -> str:
        """A node's monitor rule as BIG-IP stores it: ``default`` (the default node monitor,
        none in the lab), /Common/none, or a rule of existing monitors that need no port (icmp,
        gateway_icmp) or have one in their destination; a wildcard-port monitor is refused."""
        text = str(rule or "").strip()
        if text in ("", "default"):
            return "default"
        if text in ("none", NO_MONITOR):
            return NO_MONITOR
        normalised = self._check_monitor_rule(text)
        for name in parse_monitor_rule(normalised)[0]:
            settings = self.monitor_settings(name)
            port = (settings.get("destination") or "*:*").rpartition(":")[2]
            if settings.get("type") not in ADDRESS_MONITORS and port in ("*", "", "0"):
                raise F5Error(
                    400,
                    f"01070621:3: The monitor {name} has a wildcard destination service and cannot be "
                    f"used to monitor node {node_path}.",
                )
        return normalised

    def node_rule(self, node: dict) -> tuple[list[str], int | None]:
        rule = node.get("monitor", "default")
        if rule in ("default", NO_MONITOR, "", None):
            return [], None  # the lab's default node monitor is none, as on a new BIG-IP
        return parse_monitor_rule(rule)

    def node_status(self, path: str) -> tuple[str, str]:
        """The (state, session) BIG-IP reports for a node: with a monitor, its result and
        monitor-enabled; without one, unchecked and the written session."""
        node = self.config["nodes"][path]
        if node["state"] == "user-down":
            return "user-down", node["session"]
        if node.get("fqdn", {}).get("autopopulate") == "enabled" or node["address"] == "any6":
            return "fqdn-up-no-addr", node["session"]
        if not self.node_rule(node)[0]:
            return "unchecked", node["session"]
        status = self.node_health.get(path, {}).get("status", "checking")
        return status, "monitor-enabled" if node["session"] == "user-enabled" else "user-disabled"

    def create_node(self, body: dict) -> dict:
        path = self._new_path(body)
        if path in self.config["nodes"]:
            raise F5Error(
                409, f"01020066:3: The requested Node ({path}) already exists in partition {path.split('/')[1]}."
            )
        attrs = check_values(self._writable(body, NODE_WRITABLE, "node"), NODE_VALUES)
        address = attrs.pop("address", None)
        if address is None:
            raise F5Error(400, "01070734:3: Configuration error: A node must have an address or an FQDN.")
        other = self._node_with_address(address)
        if other and address != "any6":
            raise F5Error(
                409,
                f"01020066:3: The requested Node ({path.rsplit('/', 1)[0]}/{address}) already "
                f"exists in partition {path.split('/')[1]}.",
            )
        node = self._new_node(path, address, attrs)
        self.changed(node)
        return self.node_view(path)

    def update_node(self, path: str, body: dict) -> dict:
        node = self.get_node(path)
        attrs = check_values(self._writable(body, NODE_WRITABLE, "node"), NODE_VALUES)
        if "address" in attrs and attrs["address"] != node["address"]:
            raise F5Error(400, f"01070734:3: Configuration error: Cannot modify the address of node {path}.")
        if "monitor" in attrs:
            attrs["monitor"] = self._node_monitor(attrs["monitor"], path)
        self._check_write_values({**node, **attrs})  # nothing is stored when a value is refused
        if attrs.get("monitor", node.get("monitor")) != node.get("monitor"):
            self.node_health.pop(path, None)  # a new rule starts checking again
        node.update(attrs)
        self.changed(node)
        return self.node_view(path)

    def delete_node(self, path: str) -> None:
        self.get_node(path)
        for pool_path, members in self.config["members"].items():
            for member in members.values():
                if member["node"] == path:
                    raise F5Error(
                        400, f"01070110:3: Node address '{path}' is referenced by a member of pool '{pool_path}'."
                    )
        del self.config["nodes"][path]
        self.node_health.pop(path, None)
        self.changed()

    def node_view(self, path: str) -> dict:
        node = self.get_node(path)
        state, session = self.node_status(path)
        return {
            "kind": "tm:ltm:node:nodestate",
            "fullPath": path,
            "generation": self.generation,
            "selfLink": _self_link(f"ltm/node/{url_segment(path)}", self.version),
            **node,
            "state": state,
            "session": session,
        }

    # --- members -------------------------------------------------------------------------

    def _enabled_object(self, path: str, defaults: dict, attrs: dict, **fixed) -> dict:
        """A new node or member: name and partition from its path, BIG-IP's defaults, the
        written attributes, enabled and up unless written otherwise (write values checked)."""
        obj = {
            "name": path.rsplit("/", 1)[1],
            "partition": path.split("/")[1],
            **copy.deepcopy(defaults),
            **attrs,
            **fixed,
        }
        obj.setdefault("session", "user-enabled")
        obj.setdefault("state", "user-up")
        self._check_write_values(obj)
        return obj

    @staticmethod
    def _check_write_values(obj: dict) -> None:
        if obj.get("session") not in SESSION_WRITE:
            raise F5Error(400, f'invalid property value "session":"{obj.get("session")}"', api_error=1)
        if obj.get("state") not in STATE_WRITE:
            raise F5Error(400, f'invalid property value "state":"{obj.get("state")}"', api_error=1)

    def _member_text(self, pool_path: str, member_path: str) -> str:
        partition, name = member_path.rsplit("/", 1)
        node, port = split_member_name(name)
        return f"Pool Member ({pool_path} {partition}/{node} {port})"

    def get_member(self, pool_path: str, member_path: str) -> dict:
        self.get_pool(pool_path)
        member = self.config["members"][pool_path].get(member_path)
        if member is None:
            raise F5Error(404, f"01020036:3: The requested {self._member_text(pool_path, member_path)} was not found.")
        return member

    def create_member(self, pool_path: str, body: dict) -> dict:
        self.get_pool(pool_path)
        if not isinstance(body, dict) or not body.get("name"):
            raise F5Error(400, "one or more configuration identifiers must be provided")
        partition = body.get("partition") or "Common"
        member_path = full_path(body["name"], partition)
        node_name, _port = split_member_name(member_path.rsplit("/", 1)[1])
        node_path = f"{member_path.rsplit('/', 1)[0]}/{node_name}"
        if member_path in self.config["members"][pool_path]:
            raise F5Error(
                409,
                f"01020066:3: The requested {self._member_text(pool_path, member_path)} already "
                f"exists in partition {member_path.split('/')[1]}.",
            )
        attrs = check_values(self._writable(body, MEMBER_WRITABLE, "pool member"), MEMBER_VALUES)
        address = attrs.pop("address", None)
        member = self._enabled_object(member_path, MEMBER_DEFAULTS, attrs, node=node_path)
        node = None  # the node this create makes, if it makes one
        if node_path not in self.config["nodes"]:
            address = address or node_name
            other = self._node_with_address(address)
            if other:
                raise F5Error(
                    400,
                    f"0107003a:3: Pool member node ({node_path}) and existing node ({other}) "
                    f"cannot use the same IP Address ({address}).",
                )
            node = self._new_node(node_path, address, {})
        self.config["members"][pool_path][member_path] = member
        self.health[(pool_path, member_path)] = {"status": "checking", "since": time.time(), "last_ok": None}
        self.changed(member, *([node] if node is not None else []))
        return self.member_view(pool_path, member_path)

    def update_member(self, pool_path: str, member_path: str, body: dict) -> dict:
        member = self.get_member(pool_path, member_path)
        attrs = check_values(self._writable(body, MEMBER_WRITABLE, "pool member"), MEMBER_VALUES)
        attrs.pop("address", None)  # the node's; BIG-IP ignores a matching one
        candidate = {**member, **attrs}
        self._check_write_values(candidate)
        member.update(attrs)
        self.changed(member)
        return self.member_view(pool_path, member_path)

    def delete_member(self, pool_path: str, member_path: str) -> None:
        self.get_member(pool_path, member_path)
        del self.config["members"][pool_path][member_path]
        self.health.pop((pool_path, member_path), None)
        self.changed()

    def member_address(self, member: dict) -> str:
        return self.config["nodes"].get(member["node"], {}).get("address", "")

    def member_rule(self, pool_path: str, member: dict) -> tuple[list[str], int | None]:
        rule = member.get("monitor", "default")
        if rule in ("default", "", None):
            rule = self.config["pools"][pool_path].get("monitor")
        return parse_monitor_rule(rule)

    def parent(self, member: dict) -> str:
        """What the member's node does to it: "up" (nothing), "down" (its monitor marked it down),
        "offline" (forced offline) or "disabled" (no new connections)."""
        path = member["node"]
        if path not in self.config["nodes"]:
            return "up"
        state, session = self.node_status(path)
        if state == "user-down":
            return "offline"
        if state == "down":
            return "down"
        return "disabled" if session == "user-disabled" else "up"

    def member_status(self, pool_path: str, member_path: str) -> tuple[str, str]:
        """The (state, session) BIG-IP reports for a member (spec 1.7.1); a member whose node's
        monitor marked the node down reads down, monitored through its parent."""
        member = self.config["members"][pool_path][member_path]
        monitored = bool(self.member_rule(pool_path, member)[0])
        if member["state"] == "user-down":
            return "user-down", member["session"]
        if self.parent(member) == "down":
            return "down", "monitor-enabled" if member["session"] == "user-enabled" else "user-disabled"
        if not monitored:
            return "unchecked", member["session"]
        status = self.health.get((pool_path, member_path), {}).get("status", "checking")
        return status, "monitor-enabled" if member["session"] == "user-enabled" else "user-disabled"

    def member_view(self, pool_path: str, member_path: str) -> dict:
        member = dict(self.get_member(pool_path, member_path))
        node_path = member.pop("node")
        state, session = self.member_status(pool_path, member_path)
        return {
            "kind": "tm:ltm:pool:members:membersstate",
            "fullPath": member_path,
            "generation": self.generation,
            "selfLink": _self_link(
                f"ltm/pool/{url_segment(pool_path)}/members/{url_segment(member_path)}", self.version
            ),
            **member,
            "address": self.config["nodes"].get(node_path, {}).get("address", ""),
            "state": state,
            "session": session,
        }

    # --- availability and statistics -----------------------------------------------------

    def member_summary(self, pool_path: str, member_path: str) -> dict:
        member = self.config["members"][pool_path][member_path]
        state, session = self.member_status(pool_path, member_path)
        address = self.member_address(member)
        port = split_member_name(member["name"])[1]
        parent = self.parent(member)
        available = state in ("up", "unchecked") and parent != "offline"
        enabled = member["session"] == "user-enabled" and member["state"] == "user-up" and parent == "up"
        return {
            "pool": pool_path,
            "member": member_path,
            "address": address,
            "port": port,
            "state": state,
            "session": session,
            "enabled": enabled,
            "available": available,
            "monitored": bool(self.member_rule(pool_path, member)[0]) or parent == "down",
            "parent": parent,
            "current_connections": self.connections.get(f"{address}:{port}", 0),
        }

    def member_monitor_rule(self, pool_path: str, member: dict) -> str:
        """monitorRule as member stats show it: the pool's rule followed by "(pool monitor)"
        when the member inherits it, its own rule otherwise, "none" without one."""
        text = stats_rule(*self.member_rule(pool_path, member))
        inherited = member.get("monitor", "default") in ("default", "", None)
        return f"{text} (pool monitor)" if inherited and text != "none" else text

    def _member_stats_entries(self, pool_path: str, member_path: str) -> dict:
        summary = self.member_summary(pool_path, member_path)
        member = self.config["members"][pool_path][member_path]
        state, parent = summary["state"], summary["parent"]
        if parent in ("down", "offline") and state != "user-down":
            availability, reason = "offline", "Parent down"
        elif summary["monitored"]:
            availability = {"up": "available", "down": "offline", "user-down": "offline"}.get(state, "unknown")
            reason = {
                "available": "Pool member is available",
                "offline": "Pool member has been marked down by a monitor",
            }.get(availability, "Pool member is being checked")
        else:
            availability, reason = "unknown", "Pool member does not have service checking enabled"
        if state == "user-down":
            reason = "Forced down"
        if member["session"] != "user-enabled":
            enabled, session_status = "disabled", "user-disabled"
            if state != "user-down":
                reason += ", user disabled"
        elif parent != "up":
            enabled, session_status = "disabled-by-parent", "enabled"
        else:
            enabled, session_status = "enabled", "enabled"
        conns = summary["current_connections"]
        entries = {
            "addr": {"description": summary["address"]},
            "curSessions": {"value": 0},
            "monitorRule": {"description": self.member_monitor_rule(pool_path, member)},
            "monitorStatus": {"description": state},
            "nodeName": {"description": member["node"]},
            "poolName": {"description": pool_path},
            "port": {"value": summary["port"]},
            "sessionStatus": {"description": session_status},
            "totRequests": {"value": 0},
            "status.availabilityState": {"description": availability},
            "status.enabledState": {"description": enabled},
            "status.statusReason": {"description": reason},
        }
        for key in ("ageEdm", "ageEma", "ageHead", "ageMax", "depth", "serviced"):
            entries[f"connq.{key}"] = {"value": 0}
        for key in ("bitsIn", "bitsOut", "maxConns", "pktsIn", "pktsOut", "totConns"):
            entries[f"serverside.{key}"] = {"value": 0}
        entries["serverside.curConns"] = {"value": conns}
        entries["serverside.maxConns"] = {"value": conns}
        return entries

    def member_stats(self, pool_path: str, member_path: str) -> dict:
        self.get_member(pool_path, member_path)
        link = f"https://localhost/mgmt/tm/ltm/pool/{url_segment(pool_path)}/members/{url_segment(member_path)}/stats"
        return {
            "kind": "tm:ltm:pool:members:membersstats",
            "selfLink": f"{link}?ver={self.version}",
            "entries": {
                link: {
                    "nestedStats": {
                        "kind": "tm:ltm:pool:members:membersstats",
                        "entries": self._member_stats_entries(pool_path, member_path),
                    }
                }
            },
        }

    def members_stats(self, pool_path: str) -> dict:
        self.get_pool(pool_path)
        base = f"https://localhost/mgmt/tm/ltm/pool/{url_segment(pool_path)}/members"
        entries = {}
        for member_path in self.config["members"][pool_path]:
            link = f"{base}/{url_segment(member_path)}/stats"
            entries[link] = {
                "nestedStats": {
                    "kind": "tm:ltm:pool:members:membersstats",
                    "selfLink": f"{link}?ver={self.version}",
                    "entries": self._member_stats_entries(pool_path, member_path),
                }
            }
        return {
            "kind": "tm:ltm:pool:members:memberscollectionstats",
            "selfLink": f"{base}/stats?ver={self.version}",
            "entries": entries,
        }

    # --- node statistics -------------------------------------------------------------------

    def _node_stats_entries(self, path: str) -> dict:
        node = self.config["nodes"][path]
        state, _session = self.node_status(path)
        names, quorum = self.node_rule(node)
        if state == "user-down":
            availability, reason = "offline", "Forced down"
        elif not names:
            availability, reason = "unknown", "Node address does not have service checking enabled"
        elif state == "up":
            availability, reason = "available", "Node address is available"
        elif state == "down":
            availability, reason = "offline", "Node address has been marked down by a monitor"
        else:
            availability, reason = "unknown", "Node address is being checked"
        disabled = node["session"] != "user-enabled"
        if disabled and state != "user-down":
            reason += ", user disabled"
        rule = stats_rule(names, quorum)
        address = node["address"]
        conns = sum(n for key, n in self.connections.items() if key.rpartition(":")[0] == address)
        entries = {
            "addr": {"description": address},
            "curSessions": {"value": 0},
            "monitorRule": {"description": rule},
            "monitorStatus": {"description": state},
            "tmName": {"description": path},
            "sessionStatus": {"description": "user-disabled" if disabled else "enabled"},
            "status.availabilityState": {"description": availability},
            "status.enabledState": {"description": "disabled" if disabled else "enabled"},
            "status.statusReason": {"description": reason},
            "totRequests": {"value": 0},
        }
        for key in ("bitsIn", "bitsOut", "pktsIn", "pktsOut", "totConns"):
            entries[f"serverside.{key}"] = {"value": 0}
        entries["serverside.curConns"] = {"value": conns}
        entries["serverside.maxConns"] = {"value": conns}
        return entries

    def node_stats(self, path: str) -> dict:
        self.get_node(path)
        link = f"https://localhost/mgmt/tm/ltm/node/{url_segment(path)}/stats"
        nested = {"kind": "tm:ltm:node:nodestats", "selfLink": f"{link}?ver={self.version}"}
        return {**nested, "entries": {link: {"nestedStats": {**nested, "entries": self._node_stats_entries(path)}}}}

    def nodes_stats(self) -> dict:
        base = "https://localhost/mgmt/tm/ltm/node"
        entries = {}
        for path in self.config["nodes"]:
            link = f"{base}/{url_segment(path)}/stats"
            entries[link] = {
                "nestedStats": {
                    "kind": "tm:ltm:node:nodestats",
                    "selfLink": f"{link}?ver={self.version}",
                    "entries": self._node_stats_entries(path),
                }
            }
        return {
            "kind": "tm:ltm:node:nodecollectionstats",
            "selfLink": f"{base}/stats?ver={self.version}",
            "entries": entries,
        }

    def pool_stats(self, pool_path: str) -> dict:
        pool = self.get_pool(pool_path)
        summaries = [self.member_summary(pool_path, m) for m in self.config["members"][pool_path]]
        active = [s for s in summaries if s["enabled"] and s["available"]]
        available = [s for s in summaries if s["available"]]
        monitored = bool(parse_monitor_rule(pool.get("monitor"))[0]) or any(s["monitored"] for s in summaries)
        if not summaries:
            availability, reason = "unknown", UNCHECKED_POOL
        elif monitored and not available and any(s["state"] == "checking" for s in summaries):
            availability, reason = "unknown", UNCHECKED_POOL
        elif monitored and not available:
            availability, reason = "offline", "The children pool member(s) are down"
        elif monitored:
            availability, reason = "available", "The pool is available"
        else:
            availability, reason = "unknown", UNCHECKED_POOL
        link = f"https://localhost/mgmt/tm/ltm/pool/{url_segment(pool_path)}/stats"
        conns = sum(s["current_connections"] for s in summaries)
        entries = {
            "activeMemberCnt": {"value": len(active)},
            "availableMemberCnt": {"value": len(available)},
            "curSessions": {"value": 0},
            "memberCnt": {"value": len(summaries)},
            "minActiveMembers": {"value": pool.get("minActiveMembers", 0)},
            "tmName": {"description": pool_path},
            "totRequests": {"value": 0},
            "status.availabilityState": {"description": availability},
            "status.enabledState": {"description": "enabled"},
            "status.statusReason": {"description": reason},
        }
        for key in ("bitsIn", "bitsOut", "maxConns", "pktsIn", "pktsOut", "totConns"):
            entries[f"serverside.{key}"] = {"value": 0}
        entries["serverside.curConns"] = {"value": conns}
        entries["serverside.maxConns"] = {"value": conns}
        return {
            "kind": "tm:ltm:pool:poolstats",
            "selfLink": f"{link}?ver={self.version}",
            "entries": {
                link: {
                    "nestedStats": {
                        "kind": "tm:ltm:pool:poolstats",
                        "selfLink": f"{link}?ver={self.version}",
                        "entries": entries,
                    }
                }
            },
        }
