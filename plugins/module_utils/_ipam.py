# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IP address management of the autoscaler: allocation, over its parts - the pool
(``_ipam_pool``), the lease file (``_ipam_leases``), the probes (``_ipam_probe``) and the errors
(``_ipam_errors``).

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
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._ipam_errors import (
    IpamError,
    LeaseConflict,
    PoolDefinitionError,
    PoolExhausted,
)
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._ipam_leases import (
    active_conflicts,
    counts,
    expire,
    format_time,
    lease_of,
    sorted_by_address,
)
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._ipam_pool import Pool, netaddr
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._ipam_probe import ProbeOutcome, Prober

# A hold outlives the longest probe by this much, so it only expires when its run has died.
HOLD_MARGIN_SECONDS = 60


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
        for lease in sorted_by_address(document["leases"]).values():
            leases.append(dict(lease, in_pool=self.pool.allocatable(lease["ip"])))
        conflicts = []
        for entry in sorted_by_address(document["conflicts"]).values():
            conflicts.append(dict(entry, active=entry["ip"] in active))
        return {
            "leases": leases,
            "conflicts": conflicts,
            "counts": counts(document, self.pool, now, self.hold_conflicts),
            "expired": expired,
            "lease": lease_of(document, owner) if owner else None,
        }
