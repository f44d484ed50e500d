"""iControl REST as f5networks.f5_modules uses it (emulator-spec.md part 1), for an HA pair.

``Cluster`` holds the devices of the pair, their device group and config-sync state, the auth
tokens, injected faults and the request log; ``Cluster.app(device)`` is the request handler of
one device's HTTPS listener.
"""

from __future__ import annotations

import base64
import collections
import copy
import itertools
import json
import re
import secrets
import string
import threading
import time
import uuid
from pathlib import Path

from ..httpd import Request, Response, UnemulatedLog, write_json_atomic
from .model import Device, F5Error, Unemulated, full_path, url_segment
from .sync import ConfigSync

TOKEN_TIMEOUT = 1200
TOKEN_MAX_TIMEOUT = 36000
TOKEN_ALPHABET = string.ascii_uppercase + string.digits
AUTH_HEADERS = {"WWW-Authenticate": 'Basic realm="Enterprise Manager"'}


def _error_401(message: str, request: Request, op: int) -> Response:
    body = {
        "code": 401,
        "message": message,
        "referer": request.client,
        "restOperationId": op,
        "kind": ":resterrorresponse",
    }
    return Response(401, body, headers=AUTH_HEADERS)


class Cluster:
    def __init__(self, config: dict, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.version = config["version"]
        self.device_group = config["device_group"]
        self.users = {config["username"]: config["password"]}
        self.lock = threading.RLock()
        self.devices: dict[str, Device] = {}
        for spec in config["devices"]:
            self.devices[spec["name"]] = Device(spec["name"], self.version, state_dir / f"{spec['name']}.json")
        self.hostnames = {d["name"]: d.get("hostname", d["name"]) for d in config["devices"]}
        self.addresses = {d["name"]: d.get("address", "127.0.0.1") for d in config["devices"]}
        self.started = time.time()  # the devices' boot, for /proc/uptime
        self._cluster_file = state_dir / "cluster.json"
        cluster = {"sync_point": 0.0, "active": config["devices"][0]["name"]}
        if self._cluster_file.exists():
            cluster.update(json.loads(self._cluster_file.read_text()))
        self.sync_point = cluster["sync_point"]
        self.active = cluster["active"]
        self.reachable: dict[str, bool] = {name: True for name in self.devices}
        self.listeners: dict = {}  # name -> Listener, set by __main__
        self.tokens: dict[str, dict] = {}
        self.faults: list[dict] = []
        self.transactions: dict[int, dict] = {}
        self.requests: dict[str, collections.deque] = {n: collections.deque(maxlen=5000) for n in self.devices}
        self._seq = itertools.count(1)
        self._ops = itertools.count(1000)
        self.unemulated = UnemulatedLog(state_dir / "unemulated.jsonl")
        self.sync = ConfigSync(self, config.get("sync"))

    def save_cluster(self) -> None:
        write_json_atomic(self._cluster_file, {"sync_point": self.sync_point, "active": self.active})

    # --- the request path --------------------------------------------------------------

    def app(self, device_name: str):
        def handle(request: Request) -> Response:
            response = self._handle(self.devices[device_name], request)
            self.requests[device_name].append(
                {
                    "seq": next(self._seq),
                    "time": time.time(),
                    "method": request.method,
                    "path": request.raw_path,
                    "status": response.status,
                }
            )
            return response

        return handle

    def _handle(self, device: Device, request: Request) -> Response:
        fault = self._take_fault(device.name, request)
        if fault is not None:
            return fault
        if request.path == "/mgmt/shared/authn/login" and request.method == "POST":
            return self._login(request)
        user = self._authenticate(request)
        if isinstance(user, Response):
            return user
        try:
            with self.lock:
                transaction = request.headers.get("X-F5-REST-Coordination-Id")
                if transaction and not request.path.startswith("/mgmt/tm/transaction"):
                    return self._queue_in_transaction(device, request, transaction)
                return self._dispatch(device, request)
        except F5Error as exc:
            return Response(exc.status, exc.body)
        except Unemulated as exc:
            self.unemulated.record(device.name, request.method, request.raw_path, str(exc))
            return Response(501, {"code": 501, "message": f"lab emulator: {exc}", "errorStack": []})

    def _take_fault(self, device: str, request: Request) -> Response | None:
        with self.lock:
            for fault in self.faults:
                if fault.get("device") not in (None, device):
                    continue
                if fault.get("method") not in (None, request.method):
                    continue
                if not request.path.startswith(fault["path"]):
                    continue
                fault["remaining"] -= 1
                if fault["remaining"] <= 0:
                    self.faults.remove(fault)
                status = fault["status"]
                message = fault.get("message") or (
                    "The connection to mcpd has been lost, try again." if status >= 500 else f"injected fault {status}"
                )
                return Response(
                    status,
                    {
                        "code": status,
                        "message": message,
                        "errorStack": [],
                        "apiError": 32768001 if status >= 500 else 3,
                    },
                )
        return None

    # --- authentication ------------------------------------------------------------------

    def _login(self, request: Request) -> Response:
        try:
            body = request.json() or {}
        except ValueError:
            body = {}
        username, password = body.get("username"), body.get("password")
        if not username or self.users.get(username) != password:
            return _error_401("Authentication failed.", request, next(self._ops))
        with self.lock:
            mine = [t for t, v in self.tokens.items() if v["user"] == username and v["expires"] > time.time()]
            if username != "admin" and len(mine) >= 100:
                return Response(
                    400,
                    {
                        "code": 400,
                        "message": f"user {username} has reached maximum active login tokens",
                        "errorStack": [],
                        "apiError": 1,
                    },
                )
            token = "".join(secrets.choice(TOKEN_ALPHABET) for _index in range(26))
            now = time.time()
            self.tokens[token] = {
                "user": username,
                "timeout": TOKEN_TIMEOUT,
                "start": now,
                "expires": now + TOKEN_TIMEOUT,
            }
        return Response(
            200,
            {
                "username": username,
                "loginReference": {
                    "link": "https://localhost/mgmt/cm/system/authn/providers/tmos/1f44a60e-11a7-3c51-"
                    "a49f-82983026b41b/login"
                },
                "loginProviderName": body.get("loginProviderName", "tmos"),
                "token": self._token_view(token),
                "generation": 0,
                "lastUpdateMicros": 0,
            },
        )

    def _token_view(self, token: str) -> dict:
        data = self.tokens[token]
        return {
            "token": token,
            "name": token,
            "userName": data["user"],
            "authProviderName": "tmos",
            "user": {"link": f"https://localhost/mgmt/shared/authz/users/{data['user']}"},
            "groupReferences": [],
            "timeout": data["timeout"],
            "startTime": time.strftime("%Y-%m-%dT%H:%M:%S.000%z", time.localtime(data["start"])),
            "address": "198.18.0.1",
            "partition": "[All]",
            "generation": 1,
            "lastUpdateMicros": int(data["start"] * 1e6),
            "expirationMicros": int(data["expires"] * 1e6),
            "kind": "shared:authz:tokens:authtokenitemstate",
            "selfLink": f"https://localhost/mgmt/shared/authz/tokens/{token}",
        }

    def _authenticate(self, request: Request) -> str | Response:
        token = request.headers.get("X-F5-Auth-Token")
        if token:
            with self.lock:
                data = self.tokens.get(token)
                if data is None or data["expires"] <= time.time():
                    self.tokens.pop(token, None)
                    return _error_401("X-F5-Auth-Token does not exist.", request, next(self._ops))
                return data["user"]
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _sep, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                user, password = "", None
            if user and self.users.get(user) == password:
                return user
            return _error_401("Authentication failed.", request, next(self._ops))
        return _error_401(
            f"Authorization failed: no user authentication header or token detected. Uri:http://localhost:8100"
            f"{request.path} Referrer:{request.client} Sender:{request.client}",
            request,
            next(self._ops),
        )

    def _token(self, request: Request, token: str) -> Response:
        data = self.tokens.get(token)
        if data is None:
            return Response(
                404, {"code": 404, "message": f"Token {token} does not exist.", "errorStack": [], "apiError": 1}
            )
        if request.method == "DELETE":
            view = self._token_view(token)
            del self.tokens[token]
            return Response(200, view)
        if request.method == "PATCH":
            body = self._body(request)
            timeout = int(body.get("timeout", data["timeout"]))
            if timeout > TOKEN_MAX_TIMEOUT:
                return Response(
                    406,
                    {
                        "code": 406,
                        "message": f"Auth-token absolute timeout ({TOKEN_MAX_TIMEOUT} seconds) exceeded",
                        "errorStack": [],
                        "apiError": 1,
                    },
                )
            data["timeout"] = timeout
            data["expires"] = time.time() + timeout
        return Response(200, self._token_view(token))

    # --- routing -------------------------------------------------------------------------

    @staticmethod
    def _body(request: Request) -> dict:
        try:
            body = request.json()
        except ValueError as exc:
            raise F5Error(400, "Found invalid JSON body in the request.", api_error=1) from exc
        return body if isinstance(body, dict) else {}

    def _not_registered(self, device: Device, request: Request, why: str | None = None) -> Response:
        rest_path = request.path[len("/mgmt") :] if request.path.startswith("/mgmt") else request.path
        self.unemulated.record(device.name, request.method, request.raw_path, why or "path not registered")
        return Response(
            404,
            {
                "code": 404,
                "message": f"Public URI path not registered: {rest_path}",
                "referer": request.client,
                "restOperationId": next(self._ops),
                "kind": ":resterrorresponse",
            },
        )

    def _dispatch(self, device: Device, request: Request) -> Response:
        path, method = request.path, request.method
        match = re.fullmatch(r"/mgmt/shared/authz/tokens/([A-Z0-9]+)", path)
        if match and method in ("GET", "PATCH", "DELETE"):
            return self._token(request, match.group(1))
        if not path.startswith("/mgmt/tm/"):
            return self._not_registered(device, request)
        route = path[len("/mgmt/tm/") :]
        for pattern, methods, handler in self._routes():
            match = re.fullmatch(pattern, route)
            if match:
                if method not in methods:
                    return self._not_registered(device, request, f"{method} is not emulated on this path")
                return handler(device, request, *match.groups())
        return self._not_registered(device, request)

    def _routes(self):
        return (
            (r"sys", ("GET",), self._sys),
            (r"sys/version", ("GET",), self._sys_version),
            (r"sys/provision", ("GET",), self._sys_provision),
            (r"sys/hardware", ("GET",), self._sys_hardware),
            (r"sys/clock", ("GET",), self._sys_clock),
            (r"util/bash", ("POST",), self._util_bash),
            (r"ltm/pool", ("GET", "POST"), self._pools),
            (r"ltm/pool/([^/]+)", ("GET", "PATCH", "DELETE"), self._pool),
            (r"ltm/pool/([^/]+)/stats", ("GET",), lambda d, r, p: Response(200, d.pool_stats(full_path(p)))),
            (r"ltm/pool/([^/]+)/members", ("GET", "POST"), self._members),
            (r"ltm/pool/([^/]+)/members/stats", ("GET",), lambda d, r, p: Response(200, d.members_stats(full_path(p)))),
            (r"ltm/pool/([^/]+)/members/([^/]+)", ("GET", "PATCH", "DELETE"), self._member),
            (
                r"ltm/pool/([^/]+)/members/([^/]+)/stats",
                ("GET",),
                lambda d, r, p, m: Response(200, d.member_stats(full_path(p), full_path(m))),
            ),
            (r"ltm/node", ("GET", "POST"), self._nodes),
            (r"ltm/node/stats", ("GET",), lambda d, r: Response(200, d.nodes_stats())),
            (r"ltm/node/([^/]+)", ("GET", "PATCH", "DELETE"), self._node),
            (r"ltm/node/([^/]+)/stats", ("GET",), lambda d, r, n: Response(200, d.node_stats(full_path(n)))),
            (r"ltm/monitor/(http|https|tcp|gateway-icmp|icmp)", ("GET", "POST"), self._monitors),
            (r"ltm/monitor/(http|https|tcp|gateway-icmp|icmp)/([^/]+)", ("GET", "PATCH", "DELETE"), self._monitor),
            (r"net/tunnels/(gre|ipip)", ("GET",), self._tunnels),
            (r"cm", ("POST",), self._cm_run),
            (r"cm/device", ("GET",), self._cm_devices),
            (r"cm/device/([^/]+)", ("GET",), self._cm_device),
            (r"cm/device-group", ("GET",), self._device_groups),
            (r"cm/device-group/([^/]+)", ("GET",), self._device_group),
            (r"cm/sync-status", ("GET",), self._sync_status),
            (r"cm/failover-status", ("GET",), self._failover_status),
            (r"transaction", ("POST",), self._transaction_start),
            (r"transaction/(\d+)", ("GET", "PATCH", "DELETE"), self._transaction),
        )

    # --- collections (paging, $filter, $select) ------------------------------------------

    def _collection(self, device: Device, request: Request, kind: str, link: str, items: list[dict]) -> Response:
        query = request.query
        unknown = sorted(set(query) - {"$top", "$skip", "$filter", "$select", "expandSubcollections", "ver"})
        if unknown:
            raise Unemulated(f"collection query parameters not emulated: {', '.join(unknown)}")
        if "$filter" in query:
            match = re.fullmatch(r"partition eq (\S+)", query["$filter"].strip())
            if not match:
                raise Unemulated(f"$filter not emulated: {query['$filter']}")
            items = [i for i in items if i.get("partition") == match.group(1)]
        body: dict = {"kind": kind, "selfLink": f"https://localhost/mgmt/tm/{link}?ver={self.version}"}
        total = len(items)
        if "$top" in query or "$skip" in query:
            top = int(query.get("$top") or total or 1)
            skip = int(query.get("$skip") or 0)
            items = items[skip : skip + top]
            body.update(
                {
                    "currentItemCount": len(items),
                    "itemsPerPage": top,
                    "pageIndex": skip // max(top, 1) + 1,
                    "startIndex": skip + 1,
                    "totalItems": total,
                    "totalPages": -(-total // max(top, 1)),
                }
            )
        if "$select" in query:
            fields = [f.strip() for f in query["$select"].split(",") if f.strip()]
            items = [{k: i[k] for k in fields if k in i} for i in items]
        if items or "$top" in query or "$skip" in query:
            body["items"] = items  # an empty collection leaves it out; an empty page has it empty
        return Response(200, body)

    # --- sys ----------------------------------------------------------------------------

    def _sys(self, device: Device, request: Request) -> Response:
        names = [
            "aom",
            "application",
            "crypto",
            "daemon-log-settings",
            "db",
            "dns",
            "failover",
            "folder",
            "global-settings",
            "httpd",
            "management-ip",
            "ntp",
            "provision",
            "software",
            "version",
        ]
        return Response(
            200,
            {
                "kind": "tm:sys:syscollectionstate",
                "selfLink": f"https://localhost/mgmt/tm/sys?ver={self.version}",
                "items": [
                    {"reference": {"link": f"https://localhost/mgmt/tm/sys/{n}?ver={self.version}"}} for n in names
                ],
            },
        )

    def _sys_version(self, device: Device, request: Request) -> Response:
        entries = {
            "Build": {"description": "0.0.6"},
            "Date": {"description": "Thu Oct 12 12:00:00 PDT 2023"},
            "Edition": {"description": "Final"},
            "Product": {"description": "BIG-IP"},
            "Title": {"description": "Main Package"},
            "Version": {"description": self.version},
        }
        return Response(
            200,
            {
                "kind": "tm:sys:version:versionstats",
                "selfLink": f"https://localhost/mgmt/tm/sys/version?ver={self.version}",
                "entries": {"https://localhost/mgmt/tm/sys/version/0": {"nestedStats": {"entries": entries}}},
            },
        )

    def _sys_provision(self, device: Device, request: Request) -> Response:
        items = [
            {
                "kind": "tm:sys:provision:provisionstate",
                "name": name,
                "fullPath": name,
                "generation": 1,
                "selfLink": f"https://localhost/mgmt/tm/sys/provision/{name}?ver={self.version}",
                "cpuRatio": 0,
                "diskRatio": 0,
                "level": "nominal" if name == "ltm" else "none",
                "memoryRatio": 0,
            }
            for name in (
                "afm",
                "am",
                "apm",
                "asm",
                "avr",
                "dos",
                "fps",
                "gtm",
                "ilx",
                "lc",
                "ltm",
                "pem",
                "swg",
                "urldb",
            )
        ]
        return self._collection(device, request, "tm:sys:provision:provisioncollectionstate", "sys/provision", items)

    def _stats(self, link: str, kind: str, groups: dict[str, dict]) -> Response:
        """A stats answer with one nested entry per group (``{link}/{name}`` -> entries)."""
        entries = {
            f"https://localhost/mgmt/tm/{link}/{name}": {"nestedStats": {"entries": values}}
            for name, values in groups.items()
        }
        return Response(
            200, {"kind": kind, "selfLink": f"https://localhost/mgmt/tm/{link}?ver={self.version}", "entries": entries}
        )

    def _identity(self, name: str) -> tuple[str, str]:
        """A device's chassis serial and base MAC (a VMware one), stable across lab starts."""
        serial = str(uuid.uuid5(uuid.NAMESPACE_DNS, self.hostnames[name]))
        return serial, "00:0c:29:" + ":".join(serial.replace("-", "")[i : i + 2] for i in (0, 2, 4))

    def _sys_hardware(self, device: Device, request: Request) -> Response:
        """sys/hardware of a BIG-IP Virtual Edition: its platform and system-info entries (shape of
        a 14.1.2.1 VE capture in CiscoTestAutomation/genieparser's bigip get_sys_hardware test)."""
        serial, mac = self._identity(device.name)

        def nested(name: str, entries: dict) -> dict:
            link = f"https://localhost/mgmt/tm/sys/hardware/{name}/0"
            return {link: {"nestedStats": {"entries": entries}}}

        blank = {"description": " "}
        groups = {
            "chassis-info": nested("chassis-info", {"maxMacCount": {"value": 1}, "regKey": {"description": "-"}}),
            "platform": nested(
                "platform",
                {
                    "baseMac": {"description": mac},
                    "biosRev": blank,
                    "cloudName": blank,
                    "hypervisorName": {"description": "VMware Virtual Platform"},
                    "marketingName": {"description": "BIG-IP Virtual Edition"},
                },
            ),
            "system-info": nested(
                "system-info",
                {
                    "bigipChassisSerialNum": {"description": serial},
                    "hostBoardPartRevNum": blank,
                    "hostBoardSerialNum": blank,
                    "platform": {"description": "Z100"},
                    "project_200LevelBomNum": blank,
                    "switchBoardPartRevNum": blank,
                    "switchBoardSerialNum": blank,
                },
            ),
        }
        return self._stats("sys/hardware", "tm:sys:hardware:hardwarestats", groups)

    def _sys_clock(self, device: Device, request: Request) -> Response:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return self._stats("sys/clock", "tm:sys:clock:clockstats", {"0": {"fullDate": {"description": now}}})

    def _util_bash(self, device: Device, request: Request) -> Response:
        """``run util bash -c "..."``: only the two read-only commands bigip_device_info's
        system-info subset sends (``cat /proc/uptime``, ``cat /VERSION``); anything else is
        recorded as not emulated (the lab runs no shell for a client)."""
        body = self._body(request)
        args = str(body.get("utilCmdArgs", ""))
        if body.get("command") != "run":
            raise Unemulated(f"util bash command not emulated: {body.get('command')}")
        if args == '-c "cat /proc/uptime"':
            up = time.time() - self.started
            result = f"{up:.2f} {up * 1.8:.2f}\n"
        elif args == '-c "cat /VERSION"':
            result = (
                f"Product: BIG-IP\nVersion: {self.version}\nBuild: 0.0.6\nSequence: {self.version}-0.0.6.0\n"
                "BaseBuild: 0.0.6\nEdition: Final\nDate: Thu Oct 12 12:00:00 PDT 2023\nBuilt: 231012120000\n"
                "Changelist: 3759893\nJobID: 1515146\n"
            )
        else:
            raise Unemulated(f"util bash not emulated: {args}")
        return Response(200, {"kind": "tm:util:bash:runstate", "command": "run", "utilCmdArgs": args,
                              "commandResult": result})  # fmt: skip

    # --- ltm -----------------------------------------------------------------------------

    def _pools(self, device: Device, request: Request) -> Response:
        if request.method == "POST":
            return Response(200, device.create_pool(self._body(request)))
        expand = request.query.get("expandSubcollections") == "true"
        items = [device.pool_view(p, expand=expand) for p in device.config["pools"]]
        return self._collection(device, request, "tm:ltm:pool:poolcollectionstate", "ltm/pool", items)

    def _pool(self, device: Device, request: Request, pool: str) -> Response:
        path = full_path(pool)
        if request.method == "GET":
            unknown = sorted(set(request.query) - {"expandSubcollections", "ver"})
            if unknown:
                raise Unemulated(f"pool query parameters not emulated: {', '.join(unknown)}")
            return Response(200, device.pool_view(path, expand=request.query.get("expandSubcollections") == "true"))
        if request.method == "PATCH":
            return Response(200, device.update_pool(path, self._body(request)))
        device.delete_pool(path)
        return Response(200, b"")

    def _members(self, device: Device, request: Request, pool: str) -> Response:
        path = full_path(pool)
        if request.method == "POST":
            return Response(200, device.create_member(path, self._body(request)))
        device.get_pool(path)
        items = [device.member_view(path, m) for m in device.config["members"][path]]
        return self._collection(
            device,
            request,
            "tm:ltm:pool:members:memberscollectionstate",
            f"ltm/pool/{url_segment(path)}/members",
            items,
        )

    def _member(self, device: Device, request: Request, pool: str, member: str) -> Response:
        pool_path, member_path = full_path(pool), full_path(member)
        if request.method == "GET":
            return Response(200, device.member_view(pool_path, member_path))
        if request.method == "PATCH":
            return Response(200, device.update_member(pool_path, member_path, self._body(request)))
        device.delete_member(pool_path, member_path)
        return Response(200, b"")

    def _nodes(self, device: Device, request: Request) -> Response:
        if request.method == "POST":
            return Response(200, device.create_node(self._body(request)))
        items = [device.node_view(p) for p in device.config["nodes"]]
        return self._collection(device, request, "tm:ltm:node:nodecollectionstate", "ltm/node", items)

    def _node(self, device: Device, request: Request, node: str) -> Response:
        path = full_path(node)
        if request.method == "GET":
            return Response(200, device.node_view(path))
        if request.method == "PATCH":
            return Response(200, device.update_node(path, self._body(request)))
        device.delete_node(path)
        return Response(200, b"")

    def _monitors(self, device: Device, request: Request, mtype: str) -> Response:
        if request.method == "POST":
            return Response(200, device.create_monitor(mtype, self._body(request)))
        items = [device.monitor_view(p) for p in device.monitors_of_type(mtype)]
        return self._collection(
            device, request, f"tm:ltm:monitor:{mtype}:{mtype}collectionstate", f"ltm/monitor/{mtype}", items
        )

    def _monitor(self, device: Device, request: Request, mtype: str, name: str) -> Response:
        path = full_path(name)
        monitor = device.monitor(path)
        if monitor is None or monitor["type"] != mtype:
            raise F5Error(404, f"01020036:3: The requested Monitor ({path}) was not found.")
        if request.method == "GET":
            return Response(200, device.monitor_view(path))
        if request.method == "PATCH":
            return Response(200, device.update_monitor(path, self._body(request)))
        device.delete_monitor(path)
        return Response(200, b"")

    def _tunnels(self, device: Device, request: Request, kind: str) -> Response:
        items = [
            {
                "kind": f"tm:net:tunnels:{kind}:{kind}state",
                "name": kind,
                "partition": "Common",
                "fullPath": f"/Common/{kind}",
                "generation": 1,
                "selfLink": f"https://localhost/mgmt/tm/net/tunnels/{kind}/~Common~{kind}?ver={self.version}",
            }
        ]
        return self._collection(
            device, request, f"tm:net:tunnels:{kind}:{kind}collectionstate", f"net/tunnels/{kind}", items
        )

    # --- device group, config sync, failover ---------------------------------------------

    def _device_state(self, viewer: Device, name: str) -> dict:
        """One cm/device item as ``viewer`` lists it (the f5-ansible fixture load_tm_cm_device.json)."""
        hostname, address = self.hostnames[name], self.addresses[name]
        link = f"https://localhost/mgmt/tm/cm/device/~Common~{hostname}?ver={self.version}"
        return {
            "kind": "tm:cm:device:devicestate",
            "name": hostname,
            "partition": "Common",
            "fullPath": f"/Common/{hostname}",
            "generation": 1,
            "selfLink": link,
            "activeModules": ["BIG-IP, VE, LAB|LTM|Routing Bundle, VE"],
            "baseMac": self._identity(name)[1],
            "build": "0.0.6",
            "cert": "/Common/dtdi.crt",
            "chassisId": self._identity(name)[0],
            "chassisType": "individual",
            "configsyncIp": address,
            "edition": "Final",
            "failoverState": "active" if self.active == name else "standby",
            "haCapacity": 0,
            "hostname": hostname,
            "key": "/Common/dtdi.key",
            "managementIp": address,
            "marketingName": "BIG-IP Virtual Edition",
            "mirrorIp": address,
            "mirrorSecondaryIp": "any6",
            "multicastIp": "any6",
            "multicastPort": 0,
            "optionalModules": [],
            "platformId": "Z100",
            "product": "BIG-IP",
            "selfDevice": "true" if viewer.name == name else "false",
            "timeZone": "UTC",
            "unicastAddress": [{"effectiveIp": address, "effectivePort": 1026, "ip": address, "port": 1026}],
            "version": self.version,
        }

    def _cm_devices(self, device: Device, request: Request) -> Response:
        items = [self._device_state(device, name) for name in self.devices]
        return self._collection(device, request, "tm:cm:device:devicecollectionstate", "cm/device", items)

    def _cm_device(self, device: Device, request: Request, name: str) -> Response:
        wanted = full_path(name)
        for candidate in self.devices:
            if f"/Common/{self.hostnames[candidate]}" == wanted:
                return Response(200, self._device_state(device, candidate))
        raise F5Error(404, f"01020036:3: The requested device ({wanted}) was not found.")

    def _device_groups(self, device: Device, request: Request) -> Response:
        items = [self.sync.group_view(group, self.version) for group, _kind, _auto in self.sync.groups()]
        kind = "tm:cm:device-group:device-groupcollectionstate"
        return self._collection(device, request, kind, "cm/device-group", items)

    def _device_group(self, device: Device, request: Request, name: str) -> Response:
        return Response(200, self.sync.group_view(full_path(name), self.version))

    def sync_state(self, viewer: str | None = None) -> dict:
        """``cm/sync-status`` as ``viewer`` (default: the active device) reports it."""
        return self.sync.state(viewer or self.active)

    def _sync_status(self, device: Device, request: Request) -> Response:
        state = self.sync.state(device.name)
        base = "https://localhost/mgmt/tm/cm/syncStatus/0/details"
        detail_entries = {
            f"{base}/{i}": {"nestedStats": {"entries": {"details": {"description": text}}}}
            for i, text in enumerate(state["details"])
        }
        entries = {
            "color": {"description": state["color"]},
            base: {"nestedStats": {"entries": detail_entries}},
            "mode": {"description": "high-availability"},
            "status": {"description": state["status"]},
            "summary": {"description": state["summary"]},
        }
        return Response(
            200,
            {
                "kind": "tm:cm:sync-status:sync-statusstats",
                "selfLink": f"https://localhost/mgmt/tm/cm/sync-status?ver={self.version}",
                "entries": {"https://localhost/mgmt/tm/cm/sync-status/0": {"nestedStats": {"entries": entries}}},
            },
        )

    def _failover_status(self, device: Device, request: Request) -> Response:
        active = self.active == device.name
        entries = {
            "color": {"description": "green" if active else "gray"},
            "status": {"description": "ACTIVE" if active else "STANDBY"},
            "summary": {"description": "1/1 active" if active else "1/1 standby"},
        }
        return Response(
            200,
            {
                "kind": "tm:cm:failover-status:failover-statusstats",
                "selfLink": f"https://localhost/mgmt/tm/cm/failover-status?ver={self.version}",
                "entries": {"https://localhost/mgmt/tm/cm/failover-status/0": {"nestedStats": {"entries": entries}}},
            },
        )

    def _cm_run(self, device: Device, request: Request) -> Response:
        body = self._body(request)
        args = str(body.get("utilCmdArgs", "")).split()
        if body.get("command") != "run" or len(args) < 3 or args[0] != "config-sync":
            raise Unemulated(f"cm command not emulated: {body}")
        direction, group = args[1], args[2]
        if direction not in ("to-group", "from-group"):
            raise Unemulated(f"config-sync direction not emulated: {direction}")
        if args[3:] not in ([], ["force-full-load-push"]):
            raise F5Error(400, f'Syntax Error: unexpected argument "{args[3]}"')
        self.sync.ask(device.name, group, direction)
        return Response(200, {"kind": "tm:cm:runstate", "command": "run", "utilCmdArgs": body["utilCmdArgs"]})

    # --- transactions --------------------------------------------------------------------

    def _transaction_start(self, device: Device, request: Request) -> Response:
        trans_id = int(time.time() * 1e6)
        self.transactions[trans_id] = {"device": device.name, "commands": [], "state": "STARTED"}
        return Response(200, self._transaction_view(trans_id))

    def _transaction_view(self, trans_id: int) -> dict:
        data = self.transactions[trans_id]
        return {
            "transId": trans_id,
            "state": data["state"],
            "timeoutSeconds": 120,
            "asyncExecution": False,
            "validateOnly": False,
            "executionTimeout": 300,
            "executionTime": 0,
            "failureReason": data.get("failure", ""),
            "kind": "tm:transactionstate",
            "selfLink": f"https://localhost/mgmt/tm/transaction/{trans_id}?ver={self.version}",
        }

    def _queue_in_transaction(self, device: Device, request: Request, trans_id: str) -> Response:
        data = self.transactions.get(int(trans_id)) if trans_id.isdigit() else None
        if data is None or data["state"] != "STARTED":
            raise F5Error(400, f"Transaction {trans_id} does not exist or is not in STARTED state.", api_error=1)
        body = self._body(request) if request.body.strip() else None
        data["commands"].append(
            {"method": request.method, "path": request.path, "query": request.query_list, "body": body}
        )
        command_id = len(data["commands"])
        return Response(
            200,
            {
                "method": request.method,
                "uri": f"https://localhost{request.path}",
                "body": body or {},
                "evalOrder": command_id,
                "commandId": command_id,
                "kind": "tm:transaction:commandsstate",
                "selfLink": f"https://localhost/mgmt/tm/transaction/{trans_id}/commands/{command_id}?ver={self.version}",
            },
        )

    def _transaction(self, device: Device, request: Request, trans_id: str) -> Response:
        key = int(trans_id)
        if key not in self.transactions:
            raise F5Error(404, f"Transaction {trans_id} does not exist.", api_error=1)
        if request.method == "GET":
            return Response(200, self._transaction_view(key))
        if request.method == "DELETE":
            del self.transactions[key]
            return Response(200, b"")
        body = self._body(request)
        if body.get("state") != "VALIDATING":
            raise Unemulated(f"transaction update not emulated: {body}")
        data = self.transactions[key]
        snapshot = copy.deepcopy(device.config)
        for command in data["commands"]:
            try:
                response = self._dispatch(device, _InnerRequest(command))
            except F5Error as exc:
                response = Response(exc.status, exc.body)
            if response.status >= 300:
                device.config = snapshot
                device.changed()
                data["state"] = "FAILED"
                data["failure"] = response.body.decode(errors="replace")
                return Response(
                    400,
                    {"code": 400, "message": f"transaction failed: {data['failure']}", "errorStack": [], "apiError": 1},
                )
        data["state"] = "COMPLETED"
        return Response(200, self._transaction_view(key))


class _InnerRequest:
    """A queued transaction command replayed through the router at commit time."""

    def __init__(self, command: dict) -> None:
        self.method = command["method"]
        self.path = command["path"]
        self.raw_path = command["path"]
        self.query_list = command["query"]
        self.query = dict(command["query"])
        self.body = b"" if command["body"] is None else json.dumps(command["body"]).encode()
        self.headers: dict[str, str] = {}
        self.client = "transaction"

    def json(self):
        return json.loads(self.body) if self.body else None
