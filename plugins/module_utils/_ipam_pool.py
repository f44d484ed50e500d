# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IP pool of a service: its subnet, ranges, gateway and exclusions, parsed and checked
(``netaddr``). Part of the autoscaler's IP address management (``_ipam``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

try:
    import netaddr

    HAS_NETADDR = True
    NETADDR_IMPORT_ERROR = None
except ImportError as import_error:  # reported by the module with missing_required_lib()
    netaddr = None
    HAS_NETADDR = False
    NETADDR_IMPORT_ERROR = import_error

from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._ipam_errors import IpamError, PoolDefinitionError

MAX_POOL_SIZE = 65536
POOL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


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
