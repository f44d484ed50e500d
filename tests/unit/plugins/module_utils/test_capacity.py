"""_capacity: a scale-out's count within every blast-radius limit, and why it is 0."""

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _capacity

STATIC = ("198.18.1.11:80", "198.18.1.12:80")


def vm(n, service="acme-web", ip=None):
    return {"name": f"{service}-auto-{n:04d}", "service": service, "ip": ip or f"198.18.1.{100 + n}"}


def limits(**given):
    return {"step": 1, "max_instances": 4, "max_vms_per_run": 5, "max_autoscaled_vms": 50, **given}


def count(members=STATIC, autoscaled=(), **given):
    return _capacity.scale_out_count("acme-web", list(members), list(autoscaled), 80, limits(**given))


def test_the_step_below_every_limit():
    assert count() == {"instances": 2, "outside_pool": [], "site_autoscaled": 0, "count": 1, "reason": "", "limit": ""}
    assert count(step=2)["count"] == 2
    assert count(step=3)["count"] == 2  # room below max 4


def test_the_per_run_ceiling_bounds_any_step():
    assert count(step=50, max_instances=100, max_vms_per_run=5)["count"] == 5


def test_autoscaled_vms_outside_the_pool_count_against_max():
    inside, outside = vm(1), vm(2)
    members = [*STATIC, f"{inside['ip']}:80"]
    plan = count(members, [inside, outside])
    assert plan["instances"] == 4 and plan["outside_pool"] == [outside["name"]] and plan["count"] == 0
    assert plan["limit"] == "max_instances"
    assert plan["reason"].startswith("at max: 4 of 4 instances (1 autoscaled VM(s) outside the F5 pool count too")
    # another service's VM outside our pool is not ours
    assert count(STATIC, [vm(1, "globex-api")])["instances"] == 2


def test_the_site_wide_cap_counts_every_service():
    others = [vm(n, "globex-api", f"198.18.2.{n}") for n in range(1, 10)]
    plan = count(autoscaled=others, max_autoscaled_vms=10, step=3, max_instances=10)
    assert plan["site_autoscaled"] == 9 and plan["count"] == 1
    full = count(autoscaled=[*others, vm(1, "initech-app", "198.18.3.1")], max_autoscaled_vms=10)
    assert full["count"] == 0 and full["limit"] == "site_cap"
    assert full["reason"].startswith("at the site-wide cap: 10 autoscaled VMs in vCenter across all services")
    assert "vm_autoscale_max_autoscaled_vms 10" in full["reason"]


@pytest.mark.parametrize(
    "bad", [{"step": 0}, {"max_instances": "4"}, {"max_vms_per_run": True}, {"max_autoscaled_vms": -1}]
)
def test_bad_limits_are_refused(bad):
    with pytest.raises(ValueError):
        count(**bad)
