"""_plan and the warm pool: what a scale-out takes from it, what a refill deletes and clones, what
a scale-in returns to it - within every limit, only VMs of the current template version."""

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _plan

STATIC = ["198.18.1.11:80", "198.18.1.12:80"]
PREFIX = "acme-web-auto-"
NOW = {"name": "tpl-acme-web", "version": "2026-12-07T08:00:00Z"}
OLD = "2026-12-01T08:00:00Z"


def warm(n, *, service="acme-web", version=NOW["version"], power="poweredOff", ip=None, template=NOW["name"]):
    return {"name": f"{service}-auto-{n:04d}", "service": service, "ip": f"198.18.1.{100 + n}" if ip is None else ip,
            "power_state": power, "template": template, "template_version": version,
            "created_at": f"2026-12-07T09:{n:02d}:00Z"}  # fmt: skip


def out(pool, autoscaled=(), step=1, **given):
    folder = [vm["name"] for vm in [*pool, *autoscaled] if vm["service"] == "acme-web"]
    limits = {"step": step, "max_instances": 6, "max_vms_per_run": 5, "max_autoscaled_vms": 50, **given}
    return _plan.scale_out(service="acme-web", members=STATIC, folder_vms=folder, autoscaled=list(autoscaled),
                           member_port=80, limits=limits, prefix=PREFIX, warm=list(pool),
                           current_template=NOW)  # fmt: skip


def test_a_scale_out_takes_warm_vms_first_oldest_first_and_clones_the_rest():
    plan = out([warm(3), warm(1), warm(2)], step=4)
    assert plan["warm_taken"] == [f"{PREFIX}0003", f"{PREFIX}0001", f"{PREFIX}0002"]  # as listed: oldest first
    assert plan["planned"] == [f"{PREFIX}0003", f"{PREFIX}0001", f"{PREFIX}0002", f"{PREFIX}0004"]
    assert plan["count"] == 4 and plan["instances"] == 2  # warm VMs are no instances
    assert out([warm(1), warm(2)], step=1)["planned"] == [f"{PREFIX}0001"]


@pytest.mark.parametrize(
    "stale",
    [
        warm(1, version=OLD),  # another template version
        warm(1, template="tpl-other"),  # another template
        warm(1, power="poweredOn"),  # not warm any more
        warm(1, ip=""),  # no address mark
        warm(1, service="globex-api"),  # another service's
    ],
)
def test_a_warm_vm_that_cannot_serve_now_is_not_taken(stale):
    plan = out([stale], step=1)
    assert plan["warm_taken"] == [] and plan["count"] == 1
    assert plan["planned"] == [f"{PREFIX}0002"] if stale["service"] == "acme-web" else [f"{PREFIX}0001"]


def test_warm_vms_count_in_the_site_cap_and_taking_one_adds_nothing_to_it():
    # 2 warm of acme-web + 2 autoscaled elsewhere = 4 = the cap: the warm VMs can still be taken
    others = [{"name": "globex-api-auto-0001", "service": "globex-api", "ip": "198.18.2.101"},
              {"name": "globex-api-auto-0002", "service": "globex-api", "ip": "198.18.2.102"}]  # fmt: skip
    plan = out([warm(1), warm(2)], others, step=3, max_autoscaled_vms=4)
    assert plan["planned"] == [f"{PREFIX}0001", f"{PREFIX}0002"] and plan["site_autoscaled"] == 4
    # no warm VM of this template and the cap reached: nothing, and the cap says why
    refused = out([warm(1, version=OLD), warm(2, version=OLD)], others, step=1, max_autoscaled_vms=4)
    assert refused["count"] == 0 and refused["limit"] == "site_cap"
    assert "(warm VMs included)" in refused["reason"]


def test_taking_stays_within_max_instances_and_the_per_run_ceiling():
    assert out([warm(n) for n in range(1, 6)], step=5, max_instances=4)["planned"] == [f"{PREFIX}0001", f"{PREFIX}0002"]
    assert len(out([warm(n) for n in range(1, 6)], step=5, max_vms_per_run=3)["warm_taken"]) == 3


def refill(pool, size=2, autoscaled=(), **given):
    folder = [vm["name"] for vm in [*pool, *autoscaled] if vm["service"] == "acme-web"]
    limits = {"max_vms_per_run": 5, "max_autoscaled_vms": 50, **given}
    return _plan.warm_pool(service="acme-web", size=size, warm=list(pool), autoscaled=list(autoscaled),
                           folder_vms=folder, current_template=NOW, prefix=PREFIX, limits=limits)  # fmt: skip


def test_a_refill_clones_what_is_missing_with_new_names():
    assert refill([]) == {"keep": [], "delete": [], "clone": [f"{PREFIX}0001", f"{PREFIX}0002"], "missing": 0,
                          "reason": ""}  # fmt: skip
    assert refill([warm(4)])["clone"] == [f"{PREFIX}0005"]
    assert refill([warm(1), warm(2)]) == {"keep": [f"{PREFIX}0001", f"{PREFIX}0002"], "delete": [], "clone": [],
                                          "missing": 0, "reason": ""}  # fmt: skip


def test_a_refill_replaces_what_cannot_serve_and_trims_what_is_beyond_the_size():
    plan = refill([warm(1, version=OLD), warm(2, power="poweredOn"), warm(3, ip=""), warm(4), warm(5), warm(6)])
    assert plan["keep"] == [f"{PREFIX}0004", f"{PREFIX}0005"]
    deleted = {entry["vm"]: entry["why"] for entry in plan["delete"]}
    assert list(deleted) == [f"{PREFIX}0001", f"{PREFIX}0002", f"{PREFIX}0003", f"{PREFIX}0006"]
    assert f"version {OLD}" in deleted[f"{PREFIX}0001"] and NOW["version"] in deleted[f"{PREFIX}0001"]
    assert "poweredOn" in deleted[f"{PREFIX}0002"] and "no address" in deleted[f"{PREFIX}0003"]
    assert "more than its size (2)" in deleted[f"{PREFIX}0006"]
    assert plan["clone"] == []
    # size 0: every warm VM goes
    assert [entry["vm"] for entry in refill([warm(1), warm(2)], size=0)["delete"]] == [f"{PREFIX}0002", f"{PREFIX}0001"]


def test_a_refill_stays_within_the_site_cap_and_the_per_run_ceiling():
    others = [{"name": f"globex-api-auto-{n:04d}", "service": "globex-api", "ip": "x"} for n in range(1, 4)]
    capped = refill([], size=3, autoscaled=others, max_autoscaled_vms=4)
    assert capped["clone"] == [f"{PREFIX}0001"] and capped["missing"] == 2 and "site-wide cap" in capped["reason"]
    # a stale VM deleted makes room for its replacement
    assert refill([warm(1, version=OLD)], size=1, autoscaled=others, max_autoscaled_vms=4)["clone"] == [f"{PREFIX}0002"]
    ceiling = refill([], size=4, max_vms_per_run=3)
    assert len(ceiling["clone"]) == 3 and ceiling["missing"] == 1 and "per-run ceiling" in ceiling["reason"]
    with pytest.raises(ValueError, match="size is -1"):
        refill([], size=-1)


def guest(name, version=NOW["version"], created="2026-12-07T09:00:00Z"):
    settings = {"guestinfo.vm_autoscale.role": "autoscaled", "guestinfo.vm_autoscale.created_at": created,
                "guestinfo.vm_autoscale.template": NOW["name"], "guestinfo.vm_autoscale.template_version": version}  # fmt: skip
    return {"hw_name": name, "advanced_settings": settings}


def scale_in(instances, step=2, **warm_pool):
    members = [*STATIC, *(f"198.18.1.{100 + n}:80" for n in range(1, len(instances) + 1))]
    pool = {"size": 2, "return_on_scale_in": True, "ready": 0, "current_template": NOW, **warm_pool}
    return _plan.scale_in(members, instances, [], {"step": step, "max_vms_per_run": 5, "min_instances": 2},
                          warm=pool)  # fmt: skip


def test_a_scale_in_returns_current_vms_to_a_short_pool_and_deletes_the_rest():
    instances = [
        guest(f"{PREFIX}0001", created="2026-12-07T09:01:00Z"),
        guest(f"{PREFIX}0002", created="2026-12-07T09:02:00Z"),
    ]
    assert scale_in(instances)["returned"] == [f"{PREFIX}0002", f"{PREFIX}0001"]
    assert scale_in(instances, ready=1)["returned"] == [f"{PREFIX}0002"]  # room for one
    assert scale_in(instances, ready=2)["returned"] == []  # full
    assert scale_in(instances, return_on_scale_in=False)["returned"] == []
    assert scale_in(instances, size=0)["returned"] == []
    old = [guest(f"{PREFIX}0001", version=OLD), guest(f"{PREFIX}0002", created="2026-12-07T09:02:00Z")]
    assert scale_in(old)["returned"] == [f"{PREFIX}0002"]  # only the current template version goes back
    # a VM cloned before the warm pool existed carries no version: it is deleted
    bare = {"hw_name": f"{PREFIX}0003", "advanced_settings": {"guestinfo.vm_autoscale.role": "autoscaled"}}
    assert scale_in([bare], step=1)["returned"] == []


def test_a_scale_in_counts_the_ready_warm_vms_from_what_it_read():
    def warm_guest(name, power="poweredOff", version=NOW["version"]):
        settings = {"guestinfo.vm_autoscale.role": "warm", "guestinfo.vm_autoscale.ip": "198.18.1.120",
                    "guestinfo.vm_autoscale.template": NOW["name"], "guestinfo.vm_autoscale.template_version": version}  # fmt: skip
        return {"hw_name": name, "hw_power_status": power, "advanced_settings": settings}

    serving = [
        guest(f"{PREFIX}0001", created="2026-12-07T09:01:00Z"),
        guest(f"{PREFIX}0002", created="2026-12-07T09:02:00Z"),
    ]
    members = [*STATIC, "198.18.1.101:80", "198.18.1.102:80"]

    def returned(*pool):
        return _plan.scale_in(members, [*serving, *pool], [], {"step": 2, "max_vms_per_run": 5, "min_instances": 2},
                              warm={"size": 2, "return_on_scale_in": True, "current_template": NOW})["returned"]  # fmt: skip

    assert returned() == [f"{PREFIX}0002", f"{PREFIX}0001"]
    assert returned(warm_guest(f"{PREFIX}0005")) == [f"{PREFIX}0002"]
    assert returned(warm_guest(f"{PREFIX}0005"), warm_guest(f"{PREFIX}0006")) == []
    # a warm VM that cannot serve (powered on, another version) leaves its place to a returned one
    assert returned(warm_guest(f"{PREFIX}0005", power="poweredOn"), warm_guest(f"{PREFIX}0006", version=OLD)) == [
        f"{PREFIX}0002", f"{PREFIX}0001"]  # fmt: skip
