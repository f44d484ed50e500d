# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How many VMs a scale-out may add: the blast-radius limits in one place. Private.

A service's instance count is its F5 members plus its autoscaled VMs in vCenter that are not
members (a VM left outside the pool by a crash or a failed undo still counts against
``max_instances``). A scale-out adds at most the smallest of: the step, the per-run ceiling, the
room below the service's maximum and the room below the site-wide cap of autoscaled VMs, which
is counted in vCenter across every service by the autoscaler's own marks
(``guestinfo.vm_autoscale.role = autoscaled``).
"""

from __future__ import annotations


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} is {value!r}, expected a whole number, at least 1")
    return value


def scale_out_count(
    service: str,
    members: list,
    autoscaled: list,
    member_port: int,
    limits: dict,
) -> dict:
    """The plan's numbers for one scale-out of ``service``.

    ``members`` are the pool's member names (``ip:port``); ``autoscaled`` the autoscaled VMs of
    every service in vCenter (``{name, service, ip}``); ``limits`` has ``step``,
    ``max_instances``, ``max_vms_per_run`` and ``max_autoscaled_vms``. Returns ``instances``,
    ``outside_pool`` (names), ``site_autoscaled``, ``count``, ``reason`` (why ``count`` is 0) and
    ``limit`` (the limit that made it 0: ``max_instances`` or ``site_cap``, else empty).
    """
    step = _positive("step", limits["step"])
    maximum = _positive("max_instances", limits["max_instances"])
    per_run = _positive("max_vms_per_run", limits["max_vms_per_run"])
    cap = _positive("max_autoscaled_vms", limits["max_autoscaled_vms"])
    members = list(members)
    mine = [vm for vm in autoscaled if vm.get("service") == service]
    outside = sorted(vm["name"] for vm in mine if f"{vm.get('ip')}:{member_port}" not in members)
    instances = len(members) + len(outside)
    site = len(autoscaled)
    count = max(0, min(step, per_run, maximum - instances, cap - site))
    reason, limit = "", ""
    if count < 1 and instances >= maximum:
        limit = "max_instances"
        reason = f"at max: {instances} of {maximum} instances"
        if outside:
            reason += (
                f" ({len(outside)} autoscaled VM(s) outside the F5 pool count too: {', '.join(outside)};"
                " playbooks/reconcile.yml puts them back or removes them)"
            )
    elif count < 1:
        limit = "site_cap"
        reason = (
            f"at the site-wide cap: {site} autoscaled VMs in vCenter across all services, of "
            f"vm_autoscale_max_autoscaled_vms {cap} (raise it, or scale other services in)"
        )
    return {
        "instances": instances,
        "outside_pool": outside,
        "site_autoscaled": site,
        "count": count,
        "reason": reason,
        "limit": limit,
    }
