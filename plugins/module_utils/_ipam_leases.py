# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lease file of an IP pool: its schema and validation, the store that reads and replaces it
whole under its lock, the dry-run store, and what is derived from a lease document (expiry, the
lease of an owner, active conflicts, the counts). Part of the autoscaler's IP address
management (``_ipam``): see its docstring for the concurrency model."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._files import (
    DocumentError,
    LockUnavailable,
    flocked,
    read_json,
    write_json,
)
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._ipam_errors import (
    LeaseFileError,
    LockTimeout,
    PoolDefinitionError,
)
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._ipam_pool import POOL_NAME, Pool, netaddr

SCHEMA = "danacloud.vm_autoscale.ipam"
SCHEMA_VERSION = 1
LEASE_STATES = ("reserved", "in_use")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_time(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime(TIME_FORMAT)


def parse_time(text: str) -> float:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc).timestamp()


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


def sorted_by_address(entries: dict) -> dict:
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
            data[name] = sorted_by_address(data[name])
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
