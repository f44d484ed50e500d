# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IP address management of the autoscaler: pools, the lease file, probes, allocation.

Private to the collection; ``ip_pool_allocate`` is its only user. Nothing here talks to
Ansible: errors are ``IpamError`` subclasses, the module turns them into ``fail_json``.

Concurrency model. The lease file of a pool is only changed under an exclusive ``flock`` of
``<pool>.lock``, and only replaced whole (temp file, fsync, rename), so a reader never sees a
half-written file and a crash never leaves one. The lock is held for milliseconds, never while
probing: an allocation first *holds* its candidates (``probing`` entries, with an expiry), lets
the lock go, probes them, then takes the lock again to turn the first clean one into a
reservation. Other runs skip held addresses, so fifty runs at once probe fifty different
addresses in parallel and can never be handed the same one.
"""

from __future__ import annotations

import copy
import errno
import os
import random
import re
import select
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._files import (
    DocumentError,
    LockUnavailable,
    flocked,
    read_json,
    write_json,
)

try:
    import netaddr

    HAS_NETADDR = True
    NETADDR_IMPORT_ERROR = None
except ImportError as import_error:  # reported by the module with missing_required_lib()
    HAS_NETADDR = False
    NETADDR_IMPORT_ERROR = import_error

SCHEMA = "danacloud.vm_autoscale.ipam"
SCHEMA_VERSION = 1
LEASE_STATES = ("reserved", "in_use")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_POOL_SIZE = 65536
POOL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# A hold outlives the longest probe by this much, so it only expires when its run has died.
HOLD_MARGIN_SECONDS = 60


class IpamError(Exception):
    """Base of every error this module raises; the message is meant for the operator."""


class PoolDefinitionError(IpamError):
    """The pool definition given to the module is not valid; ``field`` names the culprit."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class LeaseFileError(IpamError):
    """The lease file cannot be read, is not JSON, or does not follow the schema."""


class LockTimeout(IpamError):
    """The lease file stayed locked (or every free address stayed held) for too long."""


class LeaseConflict(IpamError):
    """The request contradicts the leases on record (other owner, other service...)."""


class PoolExhausted(IpamError):
    """No address of the pool can be handed out."""


class ProbeError(IpamError):
    """A probe could not run at all (no route to the subnet, no ping, no permission)."""


# --- time -------------------------------------------------------------------------------


def format_time(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime(TIME_FORMAT)


def parse_time(text: str) -> float:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc).timestamp()


# --- the pool ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeSpec:
    """One range of the pool as given, with the option names to blame in errors."""

    start: str
    end: str
    start_field: str = "start"
    end_field: str = "end"


def _address(field_name: str, value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise PoolDefinitionError(field_name, f"{value!r} is not an IPv4 address")
    try:
        address = netaddr.IPAddress(value.strip())
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise PoolDefinitionError(field_name, f"{value!r} is not an IPv4 address") from None
    if address.version != 4:
        raise PoolDefinitionError(field_name, f"{value} is IPv6; only IPv4 pools are supported")
    return address


def _inside_subnet(field_name: str, address: Any, subnet: Any) -> None:
    if address not in subnet:
        raise PoolDefinitionError(field_name, f"{address} is outside the subnet {subnet}")
    if address in (subnet.network, subnet.broadcast):
        kind = "network" if address == subnet.network else "broadcast"
        raise PoolDefinitionError(field_name, f"{address} is the {kind} address of {subnet}")


def _exclusion(field_name: str, value: Any, subnet: Any) -> Any:
    """An IPSet for one ``exclude`` entry: an address, ``first-last`` or a CIDR block."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        if "-" in text:
            first, last = (part.strip() for part in text.split("-", 1))
            span = netaddr.IPSet(netaddr.IPRange(first, last))
        elif "/" in text:
            span = netaddr.IPSet([netaddr.IPNetwork(text)])
        else:
            span = netaddr.IPSet([netaddr.IPAddress(text)])
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise PoolDefinitionError(
            field_name, f"{value!r} is neither an address, a range 'first-last' nor a CIDR block"
        ) from None
    if not span.issubset(netaddr.IPSet([subnet])):
        raise PoolDefinitionError(field_name, f"{value} is not inside the subnet {subnet}")
    return span


@dataclass(frozen=True)
class Pool:
    """A validated pool: where addresses are handed out from, in order."""

    subnet: Any
    gateway: Any
    ranges: tuple
    excluded: frozenset  # integer addresses inside the ranges that are never handed out
    exclude_spec: tuple

    @classmethod
    def parse(cls, subnet: Any, ranges: list, gateway: Any = None, exclude: Any = None) -> Pool:
        if not HAS_NETADDR:
            raise IpamError("the Python library netaddr is required")
        try:
            network = netaddr.IPNetwork(subnet.strip() if isinstance(subnet, str) else "")
        except (netaddr.AddrFormatError, ValueError, TypeError):
            raise PoolDefinitionError("subnet", f"{subnet!r} is not a CIDR block like 198.18.1.0/24") from None
        if network.version != 4:
            raise PoolDefinitionError("subnet", f"{subnet} is IPv6; only IPv4 pools are supported")
        if "/" not in subnet:
            raise PoolDefinitionError("subnet", f"{subnet!r} has no prefix length; write it as {network.cidr}")
        if network.ip != network.network:
            raise PoolDefinitionError("subnet", f"{subnet} has host bits set; did you mean {network.cidr}?")
        if network.prefixlen > 30:
            raise PoolDefinitionError("subnet", f"{subnet} is too small for a pool (at most /30)")
        network = network.cidr

        if not ranges:
            raise PoolDefinitionError("ranges", "the pool has no range: give start and end, or ranges")
        parsed = []
        for spec in ranges:
            first = _address(spec.start_field, spec.start)
            last = _address(spec.end_field, spec.end)
            _inside_subnet(spec.start_field, first, network)
            _inside_subnet(spec.end_field, last, network)
            if first > last:
                raise PoolDefinitionError(spec.start_field, f"{first} is after {spec.end_field} {last}")
            parsed.append((netaddr.IPRange(first, last), spec))
        parsed.sort(key=lambda item: item[0].first)
        for (low, low_spec), (high, high_spec) in zip(parsed, parsed[1:]):
            if high.first <= low.last:
                raise PoolDefinitionError(
                    high_spec.start_field,
                    f"range {high} overlaps range {low} ({low_spec.start_field}); make them disjoint",
                )
        size = sum(item[0].size for item in parsed)
        if size > MAX_POOL_SIZE:
            raise PoolDefinitionError("ranges", f"the pool has {size} addresses; at most {MAX_POOL_SIZE} are supported")

        gateway_address = None
        if gateway not in (None, ""):
            gateway_address = _address("gateway", gateway)
            _inside_subnet("gateway", gateway_address, network)
            for item, spec in parsed:
                if gateway_address in item:
                    raise PoolDefinitionError(
                        "gateway",
                        f"{gateway_address} is inside the pool range {item} ({spec.start_field}); "
                        "the router's address must not be handed out: move the range",
                    )

        exclude = list(exclude or [])
        excluded_set = netaddr.IPSet()
        for index, value in enumerate(exclude):
            excluded_set |= _exclusion(f"exclude[{index}]", value, network)
        in_ranges = netaddr.IPSet([item for item, _spec in parsed]) & excluded_set
        excluded = frozenset(int(address) for address in in_ranges)
        return cls(
            subnet=network,
            gateway=gateway_address,
            ranges=tuple(item for item, _spec in parsed),
            excluded=excluded,
            exclude_spec=tuple(str(value).strip() for value in exclude),
        )

    @property
    def size(self) -> int:
        return sum(item.size for item in self.ranges)

    def in_ranges(self, ip: str) -> bool:
        value = int(netaddr.IPAddress(ip))
        return any(item.first <= value <= item.last for item in self.ranges)

    def allocatable(self, ip: str) -> bool:
        return self.in_ranges(ip) and int(netaddr.IPAddress(ip)) not in self.excluded

    def candidates(self, skip: set) -> Iterator[str]:
        """Addresses that may be handed out, in order, leaving out ``skip`` (integers)."""
        for item in self.ranges:
            for value in range(item.first, item.last + 1):
                if value not in self.excluded and value not in skip:
                    yield str(netaddr.IPAddress(value))

    def definition(self) -> dict:
        return {
            "subnet": str(self.subnet),
            "gateway": str(self.gateway) if self.gateway is not None else None,
            "ranges": [f"{netaddr.IPAddress(item.first)}-{netaddr.IPAddress(item.last)}" for item in self.ranges],
            "exclude": list(self.exclude_spec),
        }

    def network_facts(self) -> dict:
        return {
            "prefix": self.subnet.prefixlen,
            "netmask": str(self.subnet.netmask),
            "gateway": str(self.gateway) if self.gateway is not None else None,
        }


# --- the lease file ---------------------------------------------------------------------


def empty_document(pool_name: str) -> dict:
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "pool": pool_name,
        "updated_at": None,
        "definition": None,
        "leases": {},
        "conflicts": {},
        "probing": {},
    }


_LEASE_FIELDS = {
    "ip": str,
    "owner": str,
    "service": str,
    "state": str,
    "created_at": str,
    "updated_at": str,
    "requested_by": str,
}
_CONFLICT_FIELDS = {"ip": str, "first_seen": str, "last_seen": str, "seen_by": str, "times": int}
_HOLD_FIELDS = {"ip": str, "owner": str, "expires_at": str}


def _check_time(where: str, text: str) -> None:
    try:
        parse_time(text)
    except ValueError:
        raise LeaseFileError(f"{where} is {text!r}, not a UTC time like 2026-01-31T12:00:00Z") from None


def _check_entries(name: str, entries: Any, fields: dict) -> None:
    if not isinstance(entries, dict):
        raise LeaseFileError(f"'{name}' must be an object keyed by IP address, not {type(entries).__name__}")
    for key, entry in entries.items():
        where = f"{name}[{key!r}]"
        if not isinstance(entry, dict):
            raise LeaseFileError(f"{where} must be an object")
        for field_name, kind in fields.items():
            if not isinstance(entry.get(field_name), kind) or isinstance(entry.get(field_name), bool):
                raise LeaseFileError(f"{where}.{field_name} is missing or not a {kind.__name__}")
            if field_name.endswith(("_at", "_seen")):
                _check_time(f"{where}.{field_name}", entry[field_name])
        if entry["ip"] != key:
            raise LeaseFileError(f"{where}.ip is {entry['ip']!r}, it must equal its key")
        try:
            netaddr.IPAddress(key, version=4)
        except (netaddr.AddrFormatError, ValueError):
            raise LeaseFileError(f"{where}: {key!r} is not an IPv4 address") from None


def validate_document(data: Any) -> None:
    """Raise LeaseFileError (without the path) if ``data`` is not a version 1 lease document."""
    if not isinstance(data, dict):
        raise LeaseFileError(f"the top level must be an object, not {type(data).__name__}")
    if data.get("schema") != SCHEMA:
        raise LeaseFileError(f"'schema' is {data.get('schema')!r}, expected {SCHEMA!r}: not a lease file")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise LeaseFileError(f"'version' is {version!r}, expected an integer")
    if version > SCHEMA_VERSION:
        raise LeaseFileError(
            f"it has schema version {version}, written by a newer release of danacloud.vm_autoscale; "
            f"this one reads version {SCHEMA_VERSION}: upgrade the collection on every runner"
        )
    if version != SCHEMA_VERSION:
        raise LeaseFileError(f"'version' is {version}, expected {SCHEMA_VERSION}")
    for name in ("leases", "conflicts", "probing"):
        if name not in data:
            raise LeaseFileError(f"'{name}' is missing")
    _check_entries("leases", data["leases"], _LEASE_FIELDS)
    _check_entries("conflicts", data["conflicts"], _CONFLICT_FIELDS)
    _check_entries("probing", data["probing"], _HOLD_FIELDS)
    for key, lease in data["leases"].items():
        if lease["state"] not in LEASE_STATES:
            raise LeaseFileError(
                f"leases[{key!r}].state is {lease['state']!r}, expected one of {', '.join(LEASE_STATES)}"
            )
        # a reservation without expires_at (or null) is held until released (reservation_ttl=0)
        if lease["state"] == "reserved" and lease.get("expires_at") is not None:
            if not isinstance(lease["expires_at"], str):
                raise LeaseFileError(f"leases[{key!r}].expires_at must be a time or null")
            _check_time(f"leases[{key!r}].expires_at", lease["expires_at"])
    owners: dict = {}
    for key, lease in data["leases"].items():
        if lease["owner"] in owners:
            raise LeaseFileError(f"owner {lease['owner']!r} holds two leases ({owners[lease['owner']]} and {key})")
        owners[lease["owner"]] = key


def _sorted_by_address(entries: dict) -> dict:
    return dict(sorted(entries.items(), key=lambda item: int(netaddr.IPAddress(item[0]))))


class LeaseStore:
    """The lease file of one pool: ``<directory>/<pool>.json``, locked through ``<pool>.lock``."""

    def __init__(self, directory: str, pool_name: str, lock_timeout: float = 60.0) -> None:
        if not isinstance(pool_name, str) or not POOL_NAME.match(pool_name):
            raise PoolDefinitionError(
                "pool_name",
                f"{pool_name!r} is not a valid pool name (letters, digits, '-', '_' and '.', "
                "starting with a letter or digit, at most 63 characters)",
            )
        self.directory = directory
        self.pool_name = pool_name
        self.path = os.path.join(directory, f"{pool_name}.json")
        self.lock_path = os.path.join(directory, f"{pool_name}.lock")
        self.backup_path = self.path + ".bak"
        self.lock_timeout = lock_timeout

    def read(self) -> dict:
        try:
            data = read_json(self.path, lambda: empty_document(self.pool_name))
        except DocumentError as exc:
            if exc.kind == "unreadable":
                raise LeaseFileError(f"cannot read lease file {self.path}: {exc.detail}") from None
            raise LeaseFileError(
                f"lease file {self.path} is not valid JSON ({exc.detail}); it was left untouched: "
                f"restore it from {self.backup_path} or fix it by hand"
            ) from None
        try:
            validate_document(data)
        except LeaseFileError as exc:
            raise LeaseFileError(
                f"lease file {self.path} does not follow schema {SCHEMA} v{SCHEMA_VERSION}: {exc}; "
                "it was left untouched (docs/ip_pool_allocate.md describes the format)"
            ) from None
        return data

    @contextmanager
    def locked(self) -> Iterator[dict]:
        """Hold the pool's exclusive lock; yield the current document."""
        try:
            with flocked(self.lock_path, self.lock_timeout):
                yield self.read()
        except LockUnavailable as exc:
            if exc.timed_out:
                raise LockTimeout(
                    f"lease file {self.path} stayed locked for {self.lock_timeout:g} s by another run; "
                    "retry, or raise lock_timeout"
                ) from None
            raise LeaseFileError(f"cannot open lock file {self.lock_path}: {exc.reason}") from None

    def write(self, data: dict, now: float) -> None:
        """Replace the lease file atomically (temp file, fsync, rename); keep the previous one as .bak."""
        data = dict(data)
        data["updated_at"] = format_time(now)
        for name in ("leases", "conflicts", "probing"):
            data[name] = _sorted_by_address(data[name])
        backup = self._keep_backup if os.path.exists(self.path) else None
        try:
            write_json(self.path, data, 0o640, sort_keys=False, before_replace=backup)
        except OSError as exc:
            raise LeaseFileError(f"cannot write lease file {self.path}: {exc.strerror}") from None

    def _keep_backup(self) -> None:
        _remove_quietly(self.backup_path)
        try:
            os.link(self.path, self.backup_path)
        except OSError:
            pass  # a file system without hard links: no backup, the write itself is still atomic


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class DryRunStore:
    """A LeaseStore stand-in for check mode: reads the real file once, never writes it."""

    def __init__(self, store: LeaseStore) -> None:
        self.store = store
        self.path = store.path
        self.snapshot = store.read()

    @contextmanager
    def locked(self) -> Iterator[dict]:
        yield copy.deepcopy(self.snapshot)

    def write(self, data: dict, now: float) -> None:
        self.snapshot = copy.deepcopy(data)


# --- probes -----------------------------------------------------------------------------


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


# --- allocation -------------------------------------------------------------------------


@dataclass
class Request:
    owner: str | None = None
    service: str | None = None
    ip: str | None = None
    confirm: bool = False
    requested_by: str = ""
    reservation_ttl: int = 1800


@dataclass
class Outcome:
    changed: bool = False
    before: dict | None = None
    after: dict | None = None
    probes: list = field(default_factory=list)
    expired: list = field(default_factory=list)
    message: str = ""


def expire(document: dict, now: float) -> list:
    """Free reservations nobody confirmed in time and holds of dead runs; return the freed leases."""
    freed = []
    for ip, lease in list(document["leases"].items()):
        if lease["state"] == "reserved" and lease.get("expires_at") and parse_time(lease["expires_at"]) <= now:
            freed.append(document["leases"].pop(ip))
    for ip, hold in list(document["probing"].items()):
        if parse_time(hold["expires_at"]) <= now:
            del document["probing"][ip]
    return freed


def lease_of(document: dict, owner: str) -> dict | None:
    for lease in document["leases"].values():
        if lease["owner"] == owner:
            return lease
    return None


def active_conflicts(document: dict, now: float, hold: int) -> dict:
    return {ip: entry for ip, entry in document["conflicts"].items() if parse_time(entry["last_seen"]) + hold > now}


def counts(document: dict, pool: Pool, now: float, hold: int) -> dict:
    leases = document["leases"]
    in_pool = [lease for ip, lease in leases.items() if pool.allocatable(ip)]
    conflicts = [ip for ip in active_conflicts(document, now, hold) if pool.allocatable(ip) and ip not in leases]
    probing = [ip for ip in document["probing"] if pool.allocatable(ip) and ip not in leases and ip not in conflicts]
    total = pool.size
    excluded = len(pool.excluded)
    return {
        "total": total,
        "excluded": excluded,
        "leased": len(in_pool),
        "in_use": sum(1 for lease in in_pool if lease["state"] == "in_use"),
        "reserved": sum(1 for lease in in_pool if lease["state"] == "reserved"),
        "conflict": len(conflicts),
        "probing": len(probing),
        "free": total - excluded - len(in_pool) - len(conflicts) - len(probing),
        "outside_pool": len(leases) - len(in_pool),
    }


class Allocator:
    """The lease operations of one pool (present, absent, query) over a store and a prober."""

    def __init__(
        self,
        store: Any,
        pool: Pool | None,
        prober: Prober,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        wait_timeout: float = 60.0,
    ) -> None:
        self.store = store
        self.pool = pool
        self.prober = prober
        self.clock = clock or time.time
        self.sleep = sleep or time.sleep
        self.wait_timeout = wait_timeout
        self.hold_conflicts = prober.settings.conflict_hold

    # present --------------------------------------------------------------------------

    def present(self, request: Request) -> Outcome:
        outcome = Outcome()
        held: list = []
        answered: set = set()  # addresses that answered during this run: never probed twice
        probe: ProbeOutcome | None = None
        first_wave = True
        deadline = self.clock() + self.wait_timeout
        try:
            while True:
                with self.store.locked() as document:
                    now = self.clock()
                    dirty = self._housekeeping(document, now, outcome)
                    if probe is not None:
                        self._record_conflicts(document, probe, now)
                        dirty = dirty or bool(probe.conflicts)
                    for ip in held:
                        document["probing"].pop(ip, None)
                    dirty = dirty or bool(held)
                    # `held` lists holds still in the file until a write drops them: if anything
                    # below raises, the except clause releases them.
                    done = self._settle(document, request, probe, now, outcome)
                    if done:
                        self._write(document, now, dirty or outcome.changed)
                        held = []
                        return outcome
                    candidates = self._next_candidates(
                        answered, document, now, 1 if first_wave else self.prober.settings.concurrency
                    )
                    if not candidates:
                        self._write(document, now, dirty)
                        held = []
                        if not self._others_probing(document) or self.clock() >= deadline:
                            raise PoolExhausted(self._exhausted_message(document, request, now))
                    else:
                        expires = format_time(now + self.prober.settings.budget + HOLD_MARGIN_SECONDS)
                        for ip in candidates:
                            document["probing"][ip] = {"ip": ip, "owner": request.owner, "expires_at": expires}
                        held = candidates
                        self._write(document, now, True)
                if not candidates:
                    probe = None
                    self.sleep(0.05 + random.random() * 0.1)  # noqa: S311 (jitter, not crypto)
                    continue
                probe = self.prober.first_clean(candidates)
                outcome.probes.extend(probe.results)
                answered.update(int(netaddr.IPAddress(result["ip"])) for result in probe.conflicts)
                first_wave = False
        except BaseException:
            if held:
                self._release_holds(held)
            raise

    def _settle(
        self, document: dict, request: Request, probe: ProbeOutcome | None, now: float, outcome: Outcome
    ) -> bool:
        """Finish the request if it can be finished now; True when done."""
        existing = lease_of(document, request.owner)
        if existing is not None:
            self._check_same_service(existing, request)
            if request.ip and request.ip != existing["ip"]:
                raise LeaseConflict(
                    f"owner {request.owner} already holds {existing['ip']}, not {request.ip}; "
                    "release it first (state=absent)"
                )
            outcome.before = copy.deepcopy(existing)
            if request.confirm and existing["state"] == "reserved":
                existing.update(state="in_use", updated_at=format_time(now))
                existing.pop("expires_at", None)
                outcome.changed = True
            outcome.after = copy.deepcopy(existing)
            return True
        if request.ip:
            self._check_adoptable(document, request.ip, request.owner)
            self._lease(document, request.ip, request, now, outcome)
            return True
        if probe is not None and probe.clean is not None and probe.clean not in document["leases"]:
            document["conflicts"].pop(probe.clean, None)  # answered long ago, clean now
            self._lease(document, probe.clean, request, now, outcome)
            return True
        return False

    def _lease(self, document: dict, ip: str, request: Request, now: float, outcome: Outcome) -> None:
        stamp = format_time(now)
        lease = {
            "ip": ip,
            "owner": request.owner,
            "service": request.service,
            "state": "in_use" if request.confirm else "reserved",
            "created_at": stamp,
            "updated_at": stamp,
            "requested_by": request.requested_by,
        }
        if not request.confirm:
            lease["expires_at"] = format_time(now + request.reservation_ttl) if request.reservation_ttl else None
        document["leases"][ip] = lease
        outcome.before = None
        outcome.after = copy.deepcopy(lease)
        outcome.changed = True

    def _check_same_service(self, lease: dict, request: Request) -> None:
        if request.service and lease["service"] != request.service:
            raise LeaseConflict(
                f"owner {lease['owner']} holds {lease['ip']} for service {lease['service']}, "
                f"not {request.service}; release it first (state=absent, service={lease['service']})"
            )

    def _check_adoptable(self, document: dict, ip: str, owner: str) -> None:
        try:
            address = str(netaddr.IPAddress(ip, version=4))
        except (netaddr.AddrFormatError, ValueError):
            raise PoolDefinitionError("ip", f"{ip!r} is not an IPv4 address") from None
        if not self.pool.in_ranges(address):
            raise PoolDefinitionError("ip", f"{ip} is not inside the pool's ranges")
        if not self.pool.allocatable(address):
            raise PoolDefinitionError("ip", f"{ip} is excluded from the pool")
        lease = document["leases"].get(address)
        if lease is not None:
            raise LeaseConflict(
                f"{ip} is already leased to {lease['owner']} (service {lease['service']}, {lease['state']})"
            )
        hold = document["probing"].get(address)
        if hold is not None and hold["owner"] != owner:
            raise LeaseConflict(f"{ip} is being probed by a run for {hold['owner']}; retry in a few seconds")

    def _housekeeping(self, document: dict, now: float, outcome: Outcome) -> bool:
        freed = expire(document, now)
        outcome.expired.extend(freed)
        return bool(freed)

    def _record_conflicts(self, document: dict, probe: ProbeOutcome, now: float) -> None:
        stamp = format_time(now)
        for result in probe.conflicts:
            entry = document["conflicts"].get(result["ip"])
            if entry is None:
                entry = {"ip": result["ip"], "first_seen": stamp, "times": 0}
                document["conflicts"][result["ip"]] = entry
            entry.update(last_seen=stamp, seen_by=result["seen_by"], times=entry["times"] + 1)

    def _next_candidates(self, answered: set, document: dict, now: float, how_many: int) -> list:
        skip = set(answered)
        for ip in (
            list(document["leases"])
            + list(document["probing"])
            + list(active_conflicts(document, now, self.hold_conflicts))
        ):
            skip.add(int(netaddr.IPAddress(ip)))
        candidates = []
        for ip in self.pool.candidates(skip):
            candidates.append(ip)
            if len(candidates) >= how_many:
                break
        return candidates

    def _others_probing(self, document: dict) -> bool:
        return any(self.pool.allocatable(ip) for ip in document["probing"])

    def _exhausted_message(self, document: dict, request: Request, now: float) -> str:
        figures = counts(document, self.pool, now, self.hold_conflicts)
        return (
            f"no free address in pool {self.store.pool_name} for {request.owner}: of {figures['total']} addresses, "
            f"{figures['leased']} are leased ({figures['in_use']} in use, {figures['reserved']} reserved), "
            f"{figures['excluded']} excluded, {figures['conflict']} in conflict (answered a probe in the last "
            f"{self.hold_conflicts} s) and {figures['probing']} being probed by other runs; "
            "widen the pool, release leases of deleted VMs (reconcile), or clear conflicts (state=absent ip=...)"
        )

    def _release_holds(self, held: list) -> None:
        try:
            with self.store.locked() as document:
                for ip in held:
                    document["probing"].pop(ip, None)
                self.store.write(document, self.clock())
        except IpamError:
            pass  # the holds expire on their own

    def _write(self, document: dict, now: float, dirty: bool) -> None:
        if dirty:
            if self.pool is not None:
                document["definition"] = self.pool.definition()
            self.store.write(document, now)

    # absent ---------------------------------------------------------------------------

    def absent(self, request: Request) -> Outcome:
        outcome = Outcome()
        with self.store.locked() as document:
            now = self.clock()
            dirty = self._housekeeping(document, now, outcome)
            lease = None
            if request.owner:
                lease = lease_of(document, request.owner)
                if lease is not None and request.ip and lease["ip"] != request.ip:
                    raise LeaseConflict(f"{request.owner} holds {lease['ip']}, not {request.ip}; nothing was released")
            if request.ip:
                at_ip = document["leases"].get(request.ip)
                if at_ip is not None and request.owner and at_ip["owner"] != request.owner:
                    raise LeaseConflict(
                        f"{request.ip} is leased to {at_ip['owner']}, not {request.owner}; nothing was released"
                    )
                lease = lease or at_ip
                if document["conflicts"].pop(request.ip, None) is not None:
                    outcome.changed = True
                    outcome.message = f"conflict record of {request.ip} cleared"
            if lease is not None:
                self._check_same_service(lease, request)
                del document["leases"][lease["ip"]]
                outcome.before = copy.deepcopy(lease)
                outcome.changed = True
            self._write(document, now, dirty or outcome.changed)
        return outcome

    # query ----------------------------------------------------------------------------

    def query(self, owner: str | None = None) -> dict:
        """Leases, conflicts and counts as they stand; expired reservations are shown as freed."""
        document = self.store.read()
        now = self.clock()
        expired = expire(document, now)  # on the copy just read: nothing is written
        active = active_conflicts(document, now, self.hold_conflicts)
        leases = []
        for lease in _sorted_by_address(document["leases"]).values():
            leases.append(dict(lease, in_pool=self.pool.allocatable(lease["ip"])))
        conflicts = []
        for entry in _sorted_by_address(document["conflicts"]).values():
            conflicts.append(dict(entry, active=entry["ip"] in active))
        return {
            "leases": leases,
            "conflicts": conflicts,
            "counts": counts(document, self.pool, now, self.hold_conflicts),
            "expired": expired,
            "lease": lease_of(document, owner) if owner else None,
        }
