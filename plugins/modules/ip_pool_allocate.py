#!/usr/bin/python
# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ip_pool_allocate
short_description: Lease static IPv4 addresses from a service's IP pool, safely
version_added: 0.1.0
description:
  - Hands out, confirms, releases and lists the static addresses of one IP pool. Leases live in
    one JSON file per pool on the B(state host), so every runner (Jenkins, AWX, an operator's
    laptop) shares them. Run the module there with C(delegate_to).
  - The lease file is only changed under an exclusive C(flock) and only replaced whole (temporary
    file, fsync, rename); the previous version is kept next to it as C(<pool>.json.bak). Two runs
    never get the same address and a crash never leaves a half-written file.
  - Before an address is handed out it is probed from the state host (ICMP ping, optionally TCP
    connects). An address that answers is not handed out but recorded as a conflict, and the next
    one is tried. Leased, excluded and conflicting addresses are never probed; candidates are
    probed concurrently and the first clean one in pool order wins.
  - A new lease is C(reserved) until confirmed with O(confirm=true), which makes it C(in_use). A
    reservation that is not confirmed within O(reservation_ttl) seconds is freed by the next run
    (the run that made it died between reserving and using the address); leases in use never
    expire on their own. With O(reservation_ttl=0) a reservation never expires either; it is
    released by whoever repairs the run (the collection's roles do this, their intent record says
    which VM the address was for, and a lease whose VM exists in vCenter must never be handed out again).
  - The lease file format is described in C(docs/ip_pool_allocate.md) of the collection.
author:
  - Dana Cloud platform team (@danacloud)
requirements:
  - netaddr (on the state host)
  - ping from iputils (on the state host, when O(probe.ping=true))
attributes:
  check_mode:
    description: Can run in check mode and return the changed status it predicts without changing the lease file.
    support: full
    details:
      - The probes still run in check mode (they change nothing), so the address reported is the
        one a real run would take unless another run takes it first.
  diff_mode:
    description: Returns the lease record before and after the change.
    support: full
    details:
      - Shows the lease record before and after.
options:
  state:
    description:
      - V(present) returns the lease of O(owner), making one if it has none.
      - V(absent) releases the lease of O(owner), or the lease and the conflict record of O(ip).
        Releasing what is already free is not an error.
      - V(query) lists leases, conflicts and counts, and changes nothing.
    type: str
    choices: [present, absent, query]
    default: present
  pool_name:
    description:
      - Name of the pool; the lease file is O(lease_dir)/O(pool_name).json.
      - Letters, digits, V(-), V(_) and V(.), starting with a letter or digit, at most 63 characters.
      - Defaults to O(service).
    type: str
  service:
    description:
      - The service the address is for. Recorded in the lease; a lease of the same O(owner) for
        another service is refused.
      - Required with O(state=present).
    type: str
  owner:
    description:
      - Who holds the lease, normally the VM name. One owner holds at most one lease per pool.
      - Required with O(state=present); with O(state=absent), O(owner) or O(ip) is required.
    type: str
  ip:
    description:
      - With O(state=present), lease exactly this address to O(owner) without probing (to record
        an address that is already in use by that owner, as reconcile does). It must be in the
        pool and free.
      - With O(state=absent), release the lease of this address and clear its conflict record.
        With O(owner) as well, both must match or nothing is released.
    type: str
  confirm:
    description:
      - Mark the lease of O(owner) V(in_use) (once the VM really uses the address). A reserved
        lease is otherwise freed after O(reservation_ttl).
      - With no lease yet, the new lease is made V(in_use) at once.
      - Pass the address the VM was given in O(ip) as well. If the reservation expired in the
        meantime, the same address is leased again when it is still free, and the module fails
        when another owner has taken it, instead of confirming a different address.
    type: bool
    default: false
  subnet:
    description:
      - The pool's subnet in CIDR notation, for example V(198.18.1.0/24). IPv4 only.
      - Required with O(state=present) and O(state=query).
    type: str
  gateway:
    description:
      - The subnet's gateway. Must be inside O(subnet) and outside the pool's ranges. Returned with
        the lease so that the caller can configure the guest.
    type: str
  start:
    description:
      - First address of the pool (with O(end)). Use O(ranges) for a pool made of several ranges.
    type: str
  end:
    description:
      - Last address of the pool (with O(start)).
    type: str
  ranges:
    description:
      - The pool as a list of ranges, handed out in address order. Ranges must not overlap.
    type: list
    elements: dict
    suboptions:
      start:
        description: First address of the range.
        type: str
        required: true
      end:
        description: Last address of the range.
        type: str
        required: true
  exclude:
    description:
      - Addresses never handed out although inside the ranges (VIPs, static members, reserved
        addresses). Each entry is an address, a range V(first-last) or a CIDR block, inside O(subnet).
    type: list
    elements: str
    default: []
  lease_dir:
    description:
      - Directory of the lease files on the state host. Created (mode 0750) if missing.
    type: path
    default: /var/lib/vm_autoscale/ipam
  reservation_ttl:
    description:
      - Seconds a reservation may stay unconfirmed before another run frees it. Longer than a
        scale-out takes from reserving the address to confirming it (clone, boot, health).
      - V(0) keeps the reservation until it is confirmed or released (the scale_out role's choice).
    type: int
    default: 1800
  lock_timeout:
    description:
      - Seconds to wait for the pool's lock, and for addresses other runs are probing when no
        other address is free.
    type: float
    default: 60
  requested_by:
    description:
      - Who or what takes the lease, recorded in it (for example the Jenkins build URL or the AWX
        job id). Defaults to C(<user>@<host>) of the module on the state host.
    type: str
  probe:
    description:
      - How candidate addresses are probed before one is handed out.
    type: dict
    default: {}
    suboptions:
      ping:
        description:
          - Ping each candidate; an answer means the address is in use. Turning this off without
            O(probe.tcp_ports) hands out addresses unchecked.
        type: bool
        default: true
      ping_count:
        description: Echo requests per candidate (0.2 s apart).
        type: int
        default: 2
      ping_timeout:
        description: Seconds to wait for a reply after the last request.
        type: float
        default: 1
      tcp_ports:
        description:
          - Also try these TCP ports; an accepted or refused connection means a host is there (for
            hosts that drop ICMP).
        type: list
        elements: int
        default: []
      tcp_timeout:
        description: Seconds to wait for each TCP connect.
        type: float
        default: 1
      concurrency:
        description:
          - Candidates probed at once. The first wave probes one address (in the common case it is
            free); if it answers, the next waves probe this many at once.
        type: int
        default: 8
      conflict_hold:
        description:
          - Seconds an address that answered a probe is left out. After that it is a candidate
            again and probed anew. O(state=absent) with O(ip) clears a conflict at once.
        type: int
        default: 3600
notes:
  - Run it on the state host (C(delegate_to)) with the same O(lease_dir) from every runner;
    leases in different directories know nothing of each other.
  - The probes show only that nobody answers from the state host's point of view; the state host
    must be able to reach the pool's subnet. A routing error fails the module rather than being
    taken for a free address.
seealso:
  - name: IP pools and leases
    description: The lease file format, the states of a lease and how to repair a pool.
    link: https://github.com/danacloud/vm_autoscale/blob/main/docs/ip_pool_allocate.md
"""

EXAMPLES = r"""
- name: Reserve an address for the new VM (on the state host)
  danacloud.vm_autoscale.ip_pool_allocate:
    service: acme-web
    owner: acme-web-auto-0003
    subnet: 198.18.1.0/24
    gateway: 198.18.1.1
    start: 198.18.1.100
    end: 198.18.1.119
    exclude: [198.18.1.10, 198.18.1.11, 198.18.1.12]
    lease_dir: /var/lib/vm_autoscale/ipam
    requested_by: "{{ lookup('ansible.builtin.env', 'BUILD_URL') | default('operator', true) }}"
  delegate_to: "{{ vm_autoscale_state_host }}"
  register: lease

- name: Confirm it once the VM answers on it
  danacloud.vm_autoscale.ip_pool_allocate:
    service: acme-web
    owner: acme-web-auto-0003
    ip: "{{ lease.ip }}"
    subnet: 198.18.1.0/24
    start: 198.18.1.100
    end: 198.18.1.119
    confirm: true
  delegate_to: "{{ vm_autoscale_state_host }}"

- name: Probe for hosts that drop ICMP too, in a pool of two ranges
  danacloud.vm_autoscale.ip_pool_allocate:
    service: globex-api
    owner: globex-api-auto-0001
    subnet: 198.18.2.0/24
    gateway: 198.18.2.1
    ranges:
      - {start: 198.18.2.100, end: 198.18.2.149}
      - {start: 198.18.2.200, end: 198.18.2.249}
    probe:
      tcp_ports: [22, 8080]
      concurrency: 16
  delegate_to: "{{ vm_autoscale_state_host }}"

- name: Release the address of a deleted VM
  danacloud.vm_autoscale.ip_pool_allocate:
    state: absent
    service: acme-web
    owner: acme-web-auto-0003
  delegate_to: "{{ vm_autoscale_state_host }}"

- name: Clear a conflict once the stray host is gone
  danacloud.vm_autoscale.ip_pool_allocate:
    state: absent
    pool_name: acme-web
    ip: 198.18.1.104
  delegate_to: "{{ vm_autoscale_state_host }}"

- name: List the pool
  danacloud.vm_autoscale.ip_pool_allocate:
    state: query
    service: acme-web
    subnet: 198.18.1.0/24
    start: 198.18.1.100
    end: 198.18.1.119
  delegate_to: "{{ vm_autoscale_state_host }}"
  register: pool
"""

RETURN = r"""
ip:
  description: The leased address (V(present); the released one for V(absent); the owner's for V(query)).
  returned: when there is a lease
  type: str
  sample: 198.18.1.100
prefix:
  description: Prefix length of the subnet.
  returned: when state is present or query
  type: int
  sample: 24
netmask:
  description: Netmask of the subnet.
  returned: when state is present or query
  type: str
  sample: 255.255.255.0
gateway:
  description: The gateway given in O(gateway).
  returned: when state is present or query
  type: str
  sample: 198.18.1.1
lease:
  description: The lease record (for V(absent), the record that was released).
  returned: when there is a lease
  type: dict
  sample:
    ip: 198.18.1.100
    owner: acme-web-auto-0003
    service: acme-web
    state: reserved
    created_at: "2026-11-22T10:00:00Z"
    updated_at: "2026-11-22T10:00:00Z"
    expires_at: "2026-11-22T10:30:00Z"
    requested_by: https://jenkins.example.com/job/autoscale-acme-web/42/
probes:
  description:
    - The addresses probed by this run, in order, with their result.
  returned: when state is present
  type: list
  elements: dict
  contains:
    ip:
      description: The probed address.
      type: str
    result:
      description:
        - V(clean) (nobody answered), V(conflict) (somebody answered), or V(cancelled) (an earlier
          address was clean first).
      type: str
    seen_by:
      description: For a conflict, the probe that got the answer, V(icmp) or V(tcp/<port>).
      type: str
  sample: [{ip: 198.18.1.100, result: conflict, seen_by: icmp}, {ip: 198.18.1.101, result: clean}]
expired:
  description: Reservations freed because they were not confirmed in time (a warning is issued too).
  returned: always
  type: list
  elements: dict
leases:
  description: Every lease of the pool, in address order (the fields of RV(lease), and RV(leases[].in_pool)).
  returned: when state is query
  type: list
  elements: dict
  contains:
    in_pool:
      description: False for a lease outside the pool's current ranges (never handed out again).
      type: bool
conflicts:
  description: Addresses that answered a probe.
  returned: when state is query
  type: list
  elements: dict
  contains:
    ip:
      description: The address.
      type: str
    first_seen:
      description: When it first answered (UTC).
      type: str
    last_seen:
      description: When it last answered (UTC).
      type: str
    seen_by:
      description: The probe that got the answer.
      type: str
    times:
      description: How many runs saw it answer.
      type: int
    active:
      description: True while it is left out (within O(probe.conflict_hold) seconds of RV(conflicts[].last_seen)).
      type: bool
counts:
  description: Addresses of the pool by status.
  returned: when state is query
  type: dict
  sample:
    total: 20
    excluded: 0
    leased: 3
    in_use: 2
    reserved: 1
    conflict: 1
    probing: 0
    free: 16
    outside_pool: 0
lease_file:
  description: Path of the pool's lease file on the state host.
  returned: always
  type: str
  sample: /var/lib/vm_autoscale/ipam/acme-web.json
"""

import getpass
import os
import socket

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import (
    _ipam,
    _ipam_errors,
    _ipam_leases,
    _ipam_pool,
    _ipam_probe,
)
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._failure import ModuleFailure, run

ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["present", "absent", "query"], "default": "present"},
    "pool_name": {"type": "str"},
    "service": {"type": "str"},
    "owner": {"type": "str"},
    "ip": {"type": "str"},
    "confirm": {"type": "bool", "default": False},
    "subnet": {"type": "str"},
    "gateway": {"type": "str"},
    "start": {"type": "str"},
    "end": {"type": "str"},
    "ranges": {
        "type": "list",
        "elements": "dict",
        "options": {"start": {"type": "str", "required": True}, "end": {"type": "str", "required": True}},
    },
    "exclude": {"type": "list", "elements": "str", "default": []},
    "lease_dir": {"type": "path", "default": "/var/lib/vm_autoscale/ipam"},
    "reservation_ttl": {"type": "int", "default": 1800},
    "lock_timeout": {"type": "float", "default": 60},
    "requested_by": {"type": "str"},
    "probe": {
        "type": "dict",
        "default": {},
        "options": {
            "ping": {"type": "bool", "default": True},
            "ping_count": {"type": "int", "default": 2},
            "ping_timeout": {"type": "float", "default": 1},
            "tcp_ports": {"type": "list", "elements": "int", "default": []},
            "tcp_timeout": {"type": "float", "default": 1},
            "concurrency": {"type": "int", "default": 8},
            "conflict_hold": {"type": "int", "default": 3600},
        },
    },
}


def _positive(module: AnsibleModule) -> None:
    """Numbers that must be positive, checked before anything is read or written."""
    probe = module.params["probe"]
    checks = [
        ("reservation_ttl", module.params["reservation_ttl"], 0),
        ("lock_timeout", module.params["lock_timeout"], 0),
        ("probe.ping_count", probe["ping_count"], 1),
        ("probe.ping_timeout", probe["ping_timeout"], 0.1),
        ("probe.tcp_timeout", probe["tcp_timeout"], 0.1),
        ("probe.concurrency", probe["concurrency"], 1),
        ("probe.conflict_hold", probe["conflict_hold"], 0),
    ]
    for name, value, minimum in checks:
        if value < minimum:
            raise ModuleFailure(
                _action(module.params),
                f"invalid {name}: {value:g} is below the minimum {minimum:g}; nothing was changed",
            )
    for port in probe["tcp_ports"]:
        if not 1 <= port <= 65535:
            raise ModuleFailure(
                _action(module.params),
                f"invalid probe.tcp_ports: {port} is not a TCP port (1-65535); nothing was changed",
            )


def _pool(module: AnsibleModule) -> _ipam_pool.Pool | None:
    params = module.params
    if params["subnet"] is None:
        if params["state"] == "absent":
            return None
        raise ModuleFailure(
            _action(params), f"invalid pool: subnet is required with state={params['state']}; nothing was changed"
        )
    if params["ranges"]:
        ranges = [
            _ipam_pool.RangeSpec(item["start"], item["end"], f"ranges[{index}].start", f"ranges[{index}].end")
            for index, item in enumerate(params["ranges"])
        ]
    elif params["start"] is not None:
        ranges = [_ipam_pool.RangeSpec(params["start"], params["end"])]
    else:
        raise ModuleFailure(_action(params), "invalid pool: give start and end, or ranges; nothing was changed")
    try:
        return _ipam_pool.Pool.parse(params["subnet"], ranges, params["gateway"], params["exclude"])
    except _ipam_errors.PoolDefinitionError as exc:
        raise ModuleFailure(
            _action(params), f"invalid pool definition, {exc}; nothing was changed", field=exc.field
        ) from exc


def _normalised_ip(module: AnsibleModule) -> str | None:
    value = module.params["ip"]
    if value is None:
        return None
    try:
        return str(_ipam_pool.netaddr.IPAddress(value.strip(), version=4))
    except (_ipam_pool.netaddr.AddrFormatError, ValueError) as exc:
        raise ModuleFailure(
            _action(module.params), f"invalid ip: {value!r} is not an IPv4 address; nothing was changed", field="ip"
        ) from exc


def _prober(module: AnsibleModule) -> _ipam_probe.Prober:
    probe = module.params["probe"]
    settings = _ipam_probe.ProbeSettings(
        ping=probe["ping"],
        ping_count=probe["ping_count"],
        ping_timeout=probe["ping_timeout"],
        tcp_ports=tuple(probe["tcp_ports"]),
        tcp_timeout=probe["tcp_timeout"],
        concurrency=probe["concurrency"],
        conflict_hold=probe["conflict_hold"],
    )
    ping_path = None
    if settings.ping and module.params["state"] == "present" and not module.params["ip"]:
        ping_path = module.get_bin_path("ping")
        if ping_path is None:
            raise ModuleFailure(
                _action(module.params),
                "ping is not installed on the state host to probe the pool; install iputils-ping, "
                "or set probe.ping=false (with probe.tcp_ports) knowingly",
            )
    return _ipam_probe.Prober(settings, ping_path)


def _default_requester() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _network_facts(pool: _ipam_pool.Pool | None) -> dict:
    return pool.network_facts() if pool is not None else {}


def _warn_expired(module: AnsibleModule, expired: list) -> None:
    for lease in expired:
        module.warn(
            f"Reservation of {lease['ip']} for {lease['owner']} (service {lease['service']}) was never confirmed "
            f"and expired at {lease['expires_at']}; the address is free again"
        )


def _action(params: dict) -> str:
    """What the call does, for its failure message: its verb, the owner (or address) and the pool."""
    verb = {"present": "allocate an address", "absent": "release the lease", "query": "query the pool"}[params["state"]]
    pool_name = params["pool_name"] or params["service"]
    subject = params["owner"] or (params["ip"] or "").strip()
    return f"{verb} for {subject} in pool {pool_name}" if subject else f"{verb} {pool_name}"


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_one_of=[["service", "pool_name"]],
        required_if=[
            ["state", "present", ["owner", "service", "subnet"]],
            ["state", "query", ["subnet"]],
            ["state", "absent", ["owner", "ip"], True],
        ],
        mutually_exclusive=[["ranges", "start"], ["ranges", "end"]],
        required_together=[["start", "end"]],
    )
    run(module, _run)


def _run(module: AnsibleModule) -> dict:
    params = module.params
    if not _ipam_pool.HAS_NETADDR:
        raise ModuleFailure(
            _action(params), missing_required_lib("netaddr"), exception=str(_ipam_pool.NETADDR_IMPORT_ERROR)
        )
    _positive(module)
    pool = _pool(module)
    ip = _normalised_ip(module)
    prober = _prober(module)
    pool_name = params["pool_name"] or params["service"]
    try:
        store = _ipam_leases.LeaseStore(params["lease_dir"], pool_name, lock_timeout=params["lock_timeout"])
    except _ipam_errors.PoolDefinitionError as exc:
        raise ModuleFailure(_action(params), f"invalid {exc}; nothing was changed", field=exc.field) from exc
    result = {"changed": False, "lease_file": store.path, "expired": []}

    request = _ipam.Request(
        owner=params["owner"],
        service=params["service"],
        ip=ip,
        confirm=params["confirm"],
        requested_by=params["requested_by"] or _default_requester(),
        reservation_ttl=params["reservation_ttl"],
    )
    try:
        if params["state"] == "query":
            allocator = _ipam.Allocator(store, pool, prober, wait_timeout=params["lock_timeout"])
            found = allocator.query(request.owner)
            result.update(_network_facts(pool), **{k: found[k] for k in ("leases", "conflicts", "counts", "expired")})
            if found["lease"]:
                result.update(ip=found["lease"]["ip"], lease=found["lease"])
            return result

        active_store = _ipam_leases.DryRunStore(store) if module.check_mode else store
        allocator = _ipam.Allocator(active_store, pool, prober, wait_timeout=params["lock_timeout"])
        outcome = allocator.present(request) if params["state"] == "present" else allocator.absent(request)
    except _ipam_errors.IpamError as exc:
        raise ModuleFailure(_action(params), exc, **result) from exc

    _warn_expired(module, outcome.expired)
    result["changed"] = outcome.changed
    result["expired"] = outcome.expired
    if params["state"] == "present":
        result.update(_network_facts(pool), ip=outcome.after["ip"], lease=outcome.after, probes=outcome.probes)
    elif outcome.before is not None:
        result.update(ip=outcome.before["ip"], lease=outcome.before)
    if outcome.message:
        result["msg"] = outcome.message
    if module._diff:
        result["diff"] = {
            "before": outcome.before or {},
            "after": outcome.after or {},
            "before_header": f"{store.path} ({request.owner or ip})",
            "after_header": f"{store.path} ({request.owner or ip})",
        }
    return result


if __name__ == "__main__":
    main()
