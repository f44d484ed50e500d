# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``autoscale:`` data model of a service: its defaults and its validation.

One source of truth for the filters ``autoscale_config`` (a service's mapping with the defaults
filled in) and ``autoscale_problems`` (every problem of every service, each naming the service,
the field, the value and the fix). Runs on the controller.
"""

from __future__ import annotations

import copy
import difflib
import re
from typing import Any

from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._names import SERVICE_RULE, is_service

try:
    import netaddr

    HAS_NETADDR = True
except ImportError:  # the filters report it
    HAS_NETADDR = False

# The defaults of every optional field; docs/inventory.md lists them (keep both in step).
DEFAULTS: dict = {
    "enabled": True,
    "customer": "",
    "template": {"source_vm": None},
    "monitoring": {
        "cpu_threshold": 80,
        "memory_threshold": 85,
        "duration_minutes": 5,
        "scale_in_cpu_threshold": 20,
        "scale_in_memory_threshold": 40,
        "scale_in_duration_minutes": 15,
        "rate_window": "2m",
    },
    "scaling": {
        "min_instances": 2,
        "max_instances": 4,
        "scale_out_step": 1,
        "scale_in_step": 1,
        # at least the scale-out alert's for (5 min) plus two scrape intervals (validated)
        "cooldown_seconds": 600,
        # step: an alert adds scale_out_step VMs (removes scale_in_step); target_tracking: an
        # alert's action is sized to hold the load at the target (docs/inventory.md, Target tracking)
        "policy": "step",
        "target_tracking": {
            "cpu_percent": 60,
            "memory_percent": None,  # none: CPU alone
            "tolerance_percent": 10,  # no alert while the load is within the target +-10 %
            "max_step": 4,  # VMs one scale-out adds at most (Kubernetes HPA's default of 4 pods)
        },
        # VMs cloned ahead from the template, powered off, their addresses leased, outside the F5
        # pool and the targets: a scale-out takes them first (docs/inventory.md, Warm pool)
        "warm_pool": {"size": 0, "return_on_scale_in": True},
    },
    "f5": {"partition": "Common", "health_check_path": "/"},
    "network": {"vlan": None, "dns_servers": [], "domain": None},
    "static_members": [],
    "jenkins": {},
    # The scheduled reconcile job (reconcile-<service>): its Jenkins cron spec ("" for none) and
    # whether it fixes what it finds (false: it reports, and the drift alert tells the operator).
    "reconcile": {"schedule": "H/15 * * * *", "fix": False},
}

# Site-wide limits the validation applies when the caller gives none (docs/security.md).
SITE_DEFAULTS: dict = {
    # Prometheus's own default scrape interval; the preflight passes the site's.
    "scrape_interval": "1m",
    # VMs one run may add or remove, whatever a service's step says.
    "max_vms_per_run": 5,
    # Autoscaled VMs of all services together (counted in vCenter at every scale-out).
    "max_autoscaled_vms": 50,
}
# Every field a service's mapping may have, by section (docs/inventory.md lists them): a key not
# here is a typo or a field of another version, and validation names it with the closest known one.
FIELDS: dict = {
    "service_id": None,
    "service_name": None,
    "customer": None,
    "enabled": None,
    "template": {"name": None, "source_vm": None},
    "monitoring": {
        "prometheus_job": None,
        "cpu_threshold": None,
        "memory_threshold": None,
        "duration_minutes": None,
        "scale_in_cpu_threshold": None,
        "scale_in_memory_threshold": None,
        "scale_in_duration_minutes": None,
        "rate_window": None,
    },
    "scaling": {
        "min_instances": None,
        "max_instances": None,
        "scale_out_step": None,
        "scale_in_step": None,
        "cooldown_seconds": None,
        "policy": None,
        "target_tracking": {"cpu_percent": None, "memory_percent": None, "tolerance_percent": None, "max_step": None},
        "warm_pool": {"size": None, "return_on_scale_in": None},
    },
    "f5": {
        "pool_name": None,
        "partition": None,
        "vip": None,
        "vip_port": None,
        "member_port": None,
        "health_check_path": None,
    },
    "network": {
        "subnet": None,
        "gateway": None,
        "port_group": None,
        "vlan": None,
        "ip_pool_start": None,
        "ip_pool_end": None,
        "dns_servers": None,
        "domain": None,
    },
    "static_members": [{"name": None, "ip": None}],
    "jenkins": {"job_name": None},
    "reconcile": {"schedule": None, "fix": None},
}


def unknown_keys(given: Any, known: Any = None, path: str = "") -> list[tuple[str, str | None]]:
    """Every key of ``given`` that ``known`` (a ``FIELDS``-shaped schema) does not have, at any
    depth: ``(path, the closest known key's path or None)``. Lists of mappings are checked item by
    item; what is not a mapping where one is expected is left to the value checks."""
    known = FIELDS if known is None else known
    found: list[tuple[str, str | None]] = []
    if isinstance(known, list) and isinstance(given, list):
        for index, item in enumerate(given):
            found.extend(unknown_keys(item, known[0], f"{path}[{index}]"))
        return found
    if not isinstance(known, dict) or not isinstance(given, dict):
        return found
    prefix = f"{path}." if path else ""
    for key in given:
        if key in known:
            found.extend(unknown_keys(given[key], known[key], f"{prefix}{key}"))
            continue
        found.append((f"{prefix}{key}", closest(str(key), known, prefix)))
    return found


def closest(key: str, known: dict, prefix: str = "") -> str | None:
    """The known key ``key`` most likely meant (a misspelling, a singular for a plural, another
    section's field), as a path; None when nothing is close."""
    match = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    if match:
        return f"{prefix}{match[0]}"
    if not prefix:  # a field of a section written at the top level (cpu_threshold: 60)
        for section, fields in known.items():
            if isinstance(fields, dict):
                inner = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.75)
                if inner:
                    return f"{section}.{inner[0]}"
    return None


PROM_DURATION = re.compile(r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(text: Any) -> float:
    """Seconds of a Prometheus duration (``15s``, ``1m30s``); ValueError when it is not one."""
    if not isinstance(text, str) or not PROM_DURATION.match(text):
        raise ValueError(f"{text!r} is not a Prometheus duration (like 15s, 1m or 1m30s)")
    return sum(int(number) * _UNIT_SECONDS[unit] for number, unit in re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", text))


DURATION = re.compile(r"^[0-9]+(ms|s|m|h)$")


def _merge(defaults: Any, given: Any) -> Any:
    if isinstance(defaults, dict) and isinstance(given, dict):
        merged = copy.deepcopy(defaults)
        for key, value in given.items():
            merged[key] = _merge(defaults.get(key), value) if key in defaults else copy.deepcopy(value)
        return merged
    return copy.deepcopy(given) if given is not None else copy.deepcopy(defaults)


def with_defaults(service: str, config: Any) -> dict:
    """The service's ``autoscale`` mapping with every default filled in (the input is not changed)."""
    merged = _merge(DEFAULTS, config if isinstance(config, dict) else {})
    merged.setdefault("service_id", service)
    merged.setdefault("service_name", merged["service_id"])
    merged.setdefault("monitoring", {}).setdefault("prometheus_job", merged["service_id"])
    merged.setdefault("jenkins", {}).setdefault("job_name", f"autoscale-{merged['service_id']}")
    return merged


class _Checker:
    """Collects problems of one service; each names the field, the value and the fix."""

    def __init__(self, service: str, config: dict) -> None:
        self.service = service
        self.config = config
        self.problems: list = []

    def add(self, field: str, value: Any, problem: str, fix: str) -> None:
        message = f"service {self.service}: autoscale.{field} = {value!r}: {problem}; fix: {fix}"
        self.problems.append({"service": self.service, "related": [], "field": field, "message": message})

    def get(self, field: str) -> Any:
        node: Any = self.config
        for part in field.split("."):
            if not isinstance(node, dict):
                return None
            node = node.get(part)
        return node

    def required(self, field: str) -> Any:
        value = self.get(field)
        if value in (None, ""):
            self.add(field, value, "is missing", f"set autoscale.{field} in host_vars/{self.service}.yml")
            return None
        return value

    def integer(self, field: str, low: int, high: int | None = None, fix: str = "") -> int | None:
        value = self.get(field)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            else:
                self.add(field, value, "is not a whole number", fix or f"write a whole number, at least {low}")
                return None
        if value < low or (high is not None and value > high):
            span = f"{low}-{high}" if high is not None else f"at least {low}"
            self.add(field, value, f"is out of range ({span})", fix or f"use a value in {span}")
            return None
        return value

    def address(self, field: str, value: Any) -> Any:
        try:
            parsed = netaddr.IPAddress(str(value))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            self.add(field, value, "is not an IPv4 address", "write it as a.b.c.d")
            return None
        if parsed.version != 4:
            self.add(field, value, "is IPv6", "use an IPv4 address (IPv6 is not supported)")
            return None
        return parsed


def _check_names(check: _Checker, service: str) -> None:
    service_id = check.required("service_id")
    if service_id is None:
        return
    if not is_service(service_id):
        check.add(
            "service_id",
            service_id,
            f"is not DNS-label safe ({SERVICE_RULE})",
            "rename the service (it becomes the Jenkins job, file names and the Prometheus label)",
        )
    elif service_id != service:
        check.add("service_id", service_id, f"differs from the inventory host {service!r}", f"set it to {service!r}")
    check.required("template.name")
    check.required("f5.pool_name")
    check.required("network.port_group")
    if not isinstance(check.get("enabled"), bool):
        check.add("enabled", check.get("enabled"), "is not true or false", "write true or false")


def _check_monitoring(check: _Checker) -> None:
    fix_pct = "use a percentage from 1 to 100"
    cpu = check.integer("monitoring.cpu_threshold", 1, 100, fix_pct)
    memory = check.integer("monitoring.memory_threshold", 1, 100, fix_pct)
    cpu_in = check.integer("monitoring.scale_in_cpu_threshold", 1, 100, fix_pct)
    memory_in = check.integer("monitoring.scale_in_memory_threshold", 1, 100, fix_pct)
    out_minutes = check.integer("monitoring.duration_minutes", 1, 1440)
    in_minutes = check.integer("monitoring.scale_in_duration_minutes", 1, 1440)
    for low_field, low, high_field, high in (
        ("scale_in_cpu_threshold", cpu_in, "cpu_threshold", cpu),
        ("scale_in_memory_threshold", memory_in, "memory_threshold", memory),
    ):
        if low is not None and high is not None and low >= high:
            check.add(
                f"monitoring.{low_field}",
                low,
                f"is not below monitoring.{high_field} ({high}): the service would scale in and out in turn",
                f"make it lower than {high}",
            )
    if out_minutes is not None and in_minutes is not None and in_minutes < out_minutes:
        check.add(
            "monitoring.scale_in_duration_minutes",
            in_minutes,
            f"is shorter than monitoring.duration_minutes ({out_minutes})",
            "scale in more slowly than out: make it at least as long",
        )
    window = check.get("monitoring.rate_window")
    if not isinstance(window, str) or not DURATION.match(window):
        check.add("monitoring.rate_window", window, "is not a Prometheus duration", "write it like 30s, 2m or 1h")


def _check_scaling(check: _Checker, site: dict) -> None:
    low = check.integer("scaling.min_instances", 1, 1000)
    high = check.integer("scaling.max_instances", 1, 1000)
    if low is not None and high is not None and low > high:
        check.add("scaling.min_instances", low, f"is above scaling.max_instances ({high})", "make min <= max")
    ceiling = site["max_vms_per_run"]
    fix = f"use 1-{ceiling}, or raise vm_autoscale_max_vms_per_run for the whole site"
    for field in ("scaling.scale_out_step", "scaling.scale_in_step"):
        step = check.integer(field, 1)
        if step is not None and step > ceiling:
            check.add(field, step, f"is above the per-run ceiling vm_autoscale_max_vms_per_run ({ceiling})", fix)
    statics = check.get("static_members")
    autoscaled = None if high is None else high - (len(statics) if isinstance(statics, list) else 0)
    cap = site["max_autoscaled_vms"]
    if autoscaled is not None and autoscaled > cap:
        check.add(
            "scaling.max_instances",
            high,
            f"allows {autoscaled} autoscaled VMs, more than the site-wide vm_autoscale_max_autoscaled_vms ({cap})",
            f"lower it to at most {cap} plus the static members, or raise the site's cap",
        )
    _check_tracking(check, site)
    _check_warm_pool(check, site, autoscaled)
    cooldown = check.integer("scaling.cooldown_seconds", 0, 86400)
    minutes = check.get("monitoring.duration_minutes")
    if cooldown is None or isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
        return
    scrape = site["scrape_seconds"]
    floor = int(minutes * 60 + 2 * scrape + 0.999)
    if cooldown < floor:
        check.add(
            "scaling.cooldown_seconds",
            cooldown,
            f"is shorter than the scale-out alert's for ({minutes * 60} s) plus two scrape intervals "
            f"(2 x {scrape:g} s): a duplicate notification could act again before the alert could have fired anew",
            f"use at least {floor}",
        )


POLICIES = ("step", "target_tracking")


def _check_warm_pool(check: _Checker, site: dict, autoscaled: int | None) -> None:
    """The warm pool's size and switch; its room in the site-wide cap (the IP pool's is checked
    with the network)."""
    warm = check.get("scaling.warm_pool")
    if not isinstance(warm, dict):
        check.add("scaling.warm_pool", warm, "is not a mapping", "write it like {size: 2, return_on_scale_in: true}")
        return
    size = check.integer("scaling.warm_pool.size", 0, 100, "use 0 (no warm pool) to 100")
    if not isinstance(warm.get("return_on_scale_in"), bool):
        check.add("scaling.warm_pool.return_on_scale_in", warm.get("return_on_scale_in"), "is not true or false",
                  "write true or false")  # fmt: skip
    cap = site["max_autoscaled_vms"]
    if size and autoscaled is not None and size + autoscaled > cap:
        check.add(
            "scaling.warm_pool.size",
            size,
            f"plus the {autoscaled} autoscaled VMs scaling.max_instances allows is more than the site-wide "
            f"vm_autoscale_max_autoscaled_vms ({cap}); warm VMs count against it",
            f"use at most {max(0, cap - autoscaled)}, or raise the site's cap",
        )


def _check_tracking(check: _Checker, site: dict) -> None:
    policy = check.get("scaling.policy")
    if policy not in POLICIES:
        check.add("scaling.policy", policy, "is not a scaling policy", f"use one of {', '.join(POLICIES)}")
        return
    tracking = check.get("scaling.target_tracking")
    if not isinstance(tracking, dict):
        check.add("scaling.target_tracking", tracking, "is not a mapping", "write cpu_percent, tolerance_percent, ...")
        return
    if policy != "target_tracking":
        return
    tolerance = check.integer("scaling.target_tracking.tolerance_percent", 0, 50)
    for field in ("cpu_percent", "memory_percent"):
        if field == "memory_percent" and tracking.get(field) is None:
            continue
        target = check.integer(f"scaling.target_tracking.{field}", 1, 99, "use a percentage from 1 to 99")
        if target is not None and tolerance is not None and target * (100 + tolerance) >= 100 * 100:
            check.add(
                f"scaling.target_tracking.{field}",
                target,
                f"plus its tolerance ({tolerance} %) reaches 100 %: the scale-out alert could never fire",
                f"use at most {int((100 * 100 - 1) / (100 + tolerance))}",
            )
    ceiling = site["max_vms_per_run"]
    step = check.integer("scaling.target_tracking.max_step", 1)
    if step is not None and step > ceiling:
        check.add(
            "scaling.target_tracking.max_step",
            step,
            f"is above the per-run ceiling vm_autoscale_max_vms_per_run ({ceiling})",
            f"use 1-{ceiling}, or raise vm_autoscale_max_vms_per_run for the whole site",
        )


# What a Jenkins cron spec may hold (TimerTrigger: five fields of digits, H, *, /, ',', '-',
# H(a-b), and month or day names; or one of the @ aliases). Jenkins itself checks the rest when
# the job is saved (it refuses the job with the reason).
CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,()-]+$")
CRON_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def cron_problem(spec: Any) -> str | None:
    """Why ``spec`` is not a one-line Jenkins cron spec, or None ("" is none: no schedule)."""
    if not isinstance(spec, str):
        return "is not a string"
    if spec == "":
        return None
    fields = spec.split()
    if "\n" in spec.strip() or "#" in spec:
        return "is not one line without comments"
    if len(fields) == 1 and fields[0] in CRON_ALIASES:
        return None
    if len(fields) != 5 or not all(CRON_FIELD.match(field) for field in fields):
        return "is not a Jenkins cron spec (five fields: minute hour day month weekday, or @hourly, @daily, ...)"
    return None


def _check_reconcile(check: _Checker) -> None:
    reconcile = check.get("reconcile")
    if not isinstance(reconcile, dict):
        check.add("reconcile", reconcile, "is not a mapping", "write it as {schedule: 'H/15 * * * *', fix: false}")
        return
    problem = cron_problem(reconcile.get("schedule"))
    if problem:
        check.add(
            "reconcile.schedule",
            reconcile.get("schedule"),
            problem,
            "write a Jenkins cron spec like 'H/15 * * * *' (every 15 minutes), or '' for no scheduled reconcile",
        )
    if not isinstance(reconcile.get("fix"), bool):
        check.add("reconcile.fix", reconcile.get("fix"), "is not true or false", "write true or false")


def _port(check: _Checker, field: str) -> None:
    check.integer(field, 1, 65535, "use a TCP port from 1 to 65535")


def _check_f5(check: _Checker) -> None:
    _port(check, "f5.vip_port")
    _port(check, "f5.member_port")
    if check.required("f5.vip") is not None:
        check.address("f5.vip", check.get("f5.vip"))
    path = check.get("f5.health_check_path")
    if not isinstance(path, str) or not path.startswith("/") or any(c.isspace() for c in path):
        check.add("f5.health_check_path", path, "is not an absolute URL path", "write it like /health")


def _check_network(check: _Checker) -> dict | None:
    """Validate the network; return the parsed pieces for the cross-service checks."""
    subnet_text = check.required("network.subnet")
    gateway_text = check.required("network.gateway")
    start_text = check.required("network.ip_pool_start")
    end_text = check.required("network.ip_pool_end")
    vlan = check.get("network.vlan")
    if vlan is not None:
        check.integer("network.vlan", 1, 4094)
    if subnet_text is None:
        return None
    try:
        subnet = netaddr.IPNetwork(str(subnet_text))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        check.add("network.subnet", subnet_text, "is not a CIDR block", "write it like 198.18.1.0/24")
        return None
    if "/" not in str(subnet_text) or subnet.ip != subnet.network:
        check.add("network.subnet", subnet_text, "is not a network address with a prefix", f"write {subnet.cidr}")
        return None
    parsed: dict = {"subnet": subnet}

    def inside(field: str, text: Any) -> Any:
        if text is None:
            return None
        address = check.address(field, text)
        if address is None:
            return None
        if address not in subnet or address in (subnet.network, subnet.broadcast):
            check.add(field, text, f"is not a usable address of network.subnet {subnet}", "pick one inside the subnet")
            return None
        return address

    start = inside("network.ip_pool_start", start_text)
    end = inside("network.ip_pool_end", end_text)
    gateway = inside("network.gateway", gateway_text)
    if start is not None and end is not None:
        if start > end:
            check.add("network.ip_pool_start", start_text, f"is after network.ip_pool_end ({end})", "swap them")
        else:
            parsed["pool"] = netaddr.IPRange(start, end)
    pool = parsed.get("pool")
    vip = check.get("f5.vip")
    occupied = [("network.gateway", gateway_text, gateway)]
    if vip not in (None, ""):
        occupied.append(("f5.vip", vip, netaddr.IPAddress(str(vip)) if _is_ip(vip) else None))
    members = check.get("static_members") or []
    if not isinstance(members, list):
        check.add("static_members", members, "is not a list", "list the VMs as {name, ip} entries")
        members = []
    names = set()
    for index, member in enumerate(members):
        field = f"static_members[{index}]"
        if not isinstance(member, dict) or not member.get("name") or not member.get("ip"):
            check.add(field, member, "needs a name and an ip", "write it as {name: vm-name, ip: a.b.c.d}")
            continue
        if member["name"] in names:
            check.add(f"{field}.name", member["name"], "appears twice", "list each VM once")
        names.add(member["name"])
        occupied.append((f"{field}.ip", member["ip"], inside(f"{field}.ip", member["ip"])))
    for field, text, address in occupied:
        if pool is not None and address is not None and address in pool:
            check.add(
                field,
                text,
                f"is inside the IP pool {pool}: the autoscaler could hand it to a new VM",
                "move the pool range so that it leaves this address out",
            )
    _check_pool_room(check, pool, len(names))
    return parsed


def _check_pool_room(check: _Checker, pool: Any, statics: int) -> None:
    """A warm pool's VMs hold their addresses: the warm VMs plus every autoscaled VM
    ``max_instances`` allows must fit in the IP pool."""
    size, high = check.get("scaling.warm_pool.size"), check.get("scaling.max_instances")
    if pool is None or not _whole(size) or not size or not _whole(high):
        return
    need = size + max(0, high - statics)
    if need > pool.size:
        check.add(
            "scaling.warm_pool.size",
            size,
            f"plus the {max(0, high - statics)} autoscaled VMs scaling.max_instances allows needs {need} addresses; "
            f"the IP pool {pool} has {pool.size}",
            f"use at most {max(0, pool.size - max(0, high - statics))}, or widen network.ip_pool_start..ip_pool_end",
        )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _given(raw: dict, path: str) -> Any:
    """The value at ``path`` (with [index] parts) of the operator's own mapping."""
    node: Any = raw
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            node = node[int(part[1:-1])] if isinstance(node, list) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node


def _is_ip(value: Any) -> bool:
    try:
        netaddr.IPAddress(str(value))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return False
    return True


def site_limits(settings: dict | None) -> dict:
    """The site-wide limits (``SITE_DEFAULTS`` overridden by ``settings``), with ``scrape_seconds``."""
    site = {**SITE_DEFAULTS, **{key: value for key, value in (settings or {}).items() if value not in (None, "")}}
    unknown = sorted(set(site) - set(SITE_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown site settings {unknown}; expected {sorted(SITE_DEFAULTS)}")
    for key in ("max_vms_per_run", "max_autoscaled_vms"):
        value = site[key]
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"vm_autoscale_{key} is {site[key]!r}: write a whole number, at least 1")
        site[key] = value
    site["scrape_seconds"] = duration_seconds(site["scrape_interval"])
    return site


def problems(
    services: dict, scope: list | None = None, settings: dict | None = None, established: list | None = None
) -> list:
    """Every problem of every service (``{name: autoscale mapping}``), cross-service ones too.

    ``settings`` are the site's limits (``SITE_DEFAULTS``: the scrape interval, the per-run
    ceiling, the site-wide cap of autoscaled VMs).

    Each problem is ``{service, related, field, message, in_scope}``: ``related`` lists the other
    services a cross-service problem involves, ``message`` is the sentence for the operator, and
    ``in_scope`` says whether it involves a service of ``scope`` (always true without a scope).

    A collision between two services is reported on the one being added or changed: the one in
    ``scope`` (the run's limit) when only one of them is, else the one not in ``established`` (the
    services already onboarded) when only one of them is not, else the later by name.
    """
    found = _problems(services, site_limits(settings), scope, established)
    for problem in found:
        involved = [problem["service"], *problem["related"]]
        problem["in_scope"] = scope is None or problem["service"] is None or any(name in scope for name in involved)
    return found


def _blamed(one: str, other: str, scope: list | None, established: list | None) -> tuple[str, str]:
    """(the service a collision is reported on, the other one)."""
    for wanted in (lambda name: scope is not None and name in scope, lambda name: name not in (established or [])):
        if wanted(one) != wanted(other):
            return (one, other) if wanted(one) else (other, one)
    return (max(one, other), min(one, other))


def _collisions(configs: dict, pools: dict, scope: list | None, established: list | None) -> list:
    """What two services may not share: IP pools, F5 pools, VIP and port, static member names and
    addresses (and a static member, VIP or gateway inside another service's pool), Jenkins job
    names, a template made from another source VM."""
    claims: dict = {}  # (kind, value) -> [(service, field, shown value)]

    def claim(kind: str, key: Any, service: str, field: str, shown: Any) -> None:
        parts = key if isinstance(key, tuple) else (key,)
        if all(isinstance(part, (str, int)) and not isinstance(part, bool) and part != "" for part in parts):
            claims.setdefault((kind, key), []).append((service, field, shown))

    for service, config in configs.items():
        f5 = config.get("f5") if isinstance(config.get("f5"), dict) else {}
        claim("the F5 pool", (f5.get("partition"), f5.get("pool_name")), service, "f5.pool_name", f5.get("pool_name"))
        if _is_ip(f5.get("vip")):
            claim("the VIP and port", (str(f5.get("vip")), f5.get("vip_port")), service, "f5.vip",
                  f"{f5.get('vip')}:{f5.get('vip_port')}")  # fmt: skip
        claim("the Jenkins job", (config.get("jenkins") or {}).get("job_name"), service, "jenkins.job_name",
              (config.get("jenkins") or {}).get("job_name"))  # fmt: skip
        members = config.get("static_members") if isinstance(config.get("static_members"), list) else []
        for index, member in enumerate(members):
            if isinstance(member, dict):
                claim("the static member", member.get("name"), service, f"static_members[{index}].name",
                      member.get("name"))  # fmt: skip
                if _is_ip(member.get("ip")):
                    claim("the static member address", str(member.get("ip")), service, f"static_members[{index}].ip",
                          member.get("ip"))  # fmt: skip
    found: list = []

    def report(service: str, other: str, field: str, shown: Any, *, problem: str, fix: str) -> None:
        message = f"service {service}: autoscale.{field} = {shown!r}: {problem}; fix: {fix}"
        found.append({"service": service, "related": [other], "field": field, "message": message})

    for (kind, _key), holders in claims.items():
        for index, first in enumerate(holders):
            for second in holders[index + 1 :]:
                if first[0] == second[0]:
                    continue
                service, peer = _blamed(first[0], second[0], scope, established)
                (_mine, field, shown), (_theirs, peer_field, _peer_shown) = (
                    (first, second) if service == first[0] else (second, first)
                )
                problem = f"is also {kind} of service {peer} (its autoscale.{peer_field})"
                report(service, peer, field, shown, problem=problem, fix=f"give {service} its own")
    # A template two services share must be made from the same VM: create_template.yml of one would
    # otherwise replace the other's image.
    templates: dict = {}
    for service, config in configs.items():
        template = config.get("template") if isinstance(config.get("template"), dict) else {}
        if isinstance(template.get("name"), str) and template["name"]:
            templates.setdefault(template["name"], []).append((service, template.get("source_vm")))
    for name, users in templates.items():
        for index, (one, source) in enumerate(users):
            for other, other_source in users[index + 1 :]:
                if source != other_source:
                    service, peer = _blamed(one, other, scope, established)
                    mine, theirs = (source, other_source) if service == one else (other_source, source)
                    problem = f"is also the template of service {peer}, made from another VM ({theirs!r}, not {mine!r})"
                    fix = f"give {service} a template name of its own, or the same template.source_vm"
                    report(service, peer, "template.name", name, problem=problem, fix=fix)
    names = sorted(pools)
    for index, service in enumerate(names):
        for other in names[index + 1 :]:
            pool, other_pool = pools[service], pools[other]
            if pool.first <= other_pool.last and other_pool.first <= pool.last:
                blamed, peer = _blamed(service, other, scope, established)
                mine, theirs = (pool, other_pool) if blamed == service else (other_pool, pool)
                message = (
                    f"service {blamed}: autoscale.network.ip_pool_start..ip_pool_end = {mine}: overlaps the pool "
                    f"of service {peer} ({theirs}); fix: give {blamed} a range of its own"
                )
                found.append(
                    {"service": blamed, "related": [peer], "field": "network.ip_pool_start", "message": message}
                )
    # An address one service uses that another hands out to new VMs.
    for service, config in configs.items():
        f5 = config.get("f5") if isinstance(config.get("f5"), dict) else {}
        used = [("f5.vip", f5.get("vip"))]
        members = config.get("static_members") if isinstance(config.get("static_members"), list) else []
        used += [(f"static_members[{i}].ip", m.get("ip")) for i, m in enumerate(members) if isinstance(m, dict)]
        for field, address in used:
            if not _is_ip(address):
                continue
            for other, pool in pools.items():
                if other != service and netaddr.IPAddress(str(address)) in pool:
                    report(service, other, field, address,
                           problem=f"is inside the IP pool of service {other} ({pool}): it could hand it to a new VM",
                           fix=f"use an address outside {pool}, or move {other}'s pool")  # fmt: skip
    return found


def _problems(services: dict, site: dict, scope: list | None = None, established: list | None = None) -> list:
    if not HAS_NETADDR:
        message = "the Python library netaddr is required on the controller (pip install netaddr)"
        return [{"service": None, "related": [], "field": None, "message": message}]
    found: list = []
    pools: dict = {}
    configs: dict = {}
    for service in sorted(services):
        raw = services[service]
        if not isinstance(raw, dict):
            fix = f"define autoscale: in host_vars/{service}.yml"
            message = f"service {service}: autoscale = {raw!r}: is not a mapping; fix: {fix}"
            found.append({"service": service, "related": [], "field": "", "message": message})
            continue
        check = _Checker(service, with_defaults(service, raw))
        for path, meant in unknown_keys(raw):
            fix = f"did you mean autoscale.{meant}?" if meant else "remove it (docs/inventory.md lists the fields)"
            check.add(path, _given(raw, path), "is not a known field", fix)
        _check_names(check, service)
        _check_monitoring(check)
        _check_scaling(check, site)
        _check_f5(check)
        _check_reconcile(check)
        network = _check_network(check)
        found.extend(check.problems)
        configs[service] = check.config
        if network and "pool" in network:
            pools[service] = network["pool"]
    found.extend(_collisions(configs, pools, scope, established))
    return found
