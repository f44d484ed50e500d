"""_plan: what a scale action decides - guards, a scale-out's count and names within every
blast-radius limit, a scale-in's victims, the template check - and why nothing."""

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _plan

STATIC = ("198.18.1.11:80", "198.18.1.12:80")
PREFIX = "acme-web-auto-"


def vm(n, service="acme-web", ip=None):
    return {"name": f"{service}-auto-{n:04d}", "service": service, "ip": ip or f"198.18.1.{100 + n}"}


def limits(**given):
    return {"step": 1, "max_instances": 4, "max_vms_per_run": 5, "max_autoscaled_vms": 50, **given}


def count(members=STATIC, autoscaled=(), folder=None, **given):
    folder = [vm_["name"] for vm_ in autoscaled if vm_["service"] == "acme-web"] if folder is None else folder
    return _plan.scale_out(service="acme-web", members=list(members), folder_vms=folder, autoscaled=list(autoscaled),
                           member_port=80, limits=limits(**given), prefix=PREFIX)  # fmt: skip


# guards ------------------------------------------------------------------------------------------


def lock(**given):
    return {"acquired": True, "busy_reason": "", "suspended": False, "state": {}, "cooldown_remaining": 0, **given}


def test_guards_in_their_order_busy_disabled_suspended_cooldown():
    busy = lock(acquired=False, busy_reason="run acme-web-1 is acting since 10:00:00Z", suspended=True)
    assert _plan.guards(busy, False, True) == "run acme-web-1 is acting since 10:00:00Z"
    assert _plan.guards(lock(suspended=True), False, True).startswith("autoscaling of the service is disabled")
    suspended = lock(suspended=True, cooldown_remaining=30,
                     state={"suspended_at": "2026-12-01T10:00:00Z", "suspended_reason": "3 failures in a row"})  # fmt: skip
    assert _plan.guards(suspended, True, True) == (
        "suspended by the circuit breaker since 2026-12-01T10:00:00Z: 3 failures in a row"
        " (reset: playbooks/breaker_reset.yml)"
    )
    assert _plan.guards(lock(cooldown_remaining=30), True, True) == "in cooldown for 30 s more"
    assert _plan.guards(lock(cooldown_remaining=30), True, False) == ""
    assert _plan.guards(lock(), True, True) == ""


def test_a_dry_run_state_read_has_no_lock_and_is_never_busy():
    read = {"suspended": False, "state": {}, "cooldown_remaining": 0}  # autoscale_state: no acquired
    assert _plan.guards(read, True, True) == ""


def test_a_breaker_opened_without_a_reason_still_says_since_when():
    suspended = lock(suspended=True, state={"suspended_at": "2026-12-01T10:00:00Z"})
    assert _plan.guards(suspended, True, True) == (
        "suspended by the circuit breaker since 2026-12-01T10:00:00Z (reset: playbooks/breaker_reset.yml)"
    )


# scale-out ---------------------------------------------------------------------------------------


def test_the_step_below_every_limit():
    assert count() == {"instances": 2, "autoscaled": [], "outside_pool": [], "site_autoscaled": 0, "count": 1,
                       "planned": [f"{PREFIX}0001"], "warm_taken": [], "reason": "", "limit": "",
                       "sizing": {"policy": "step", "step": 1}}  # fmt: skip
    assert count(step=2)["planned"] == [f"{PREFIX}0001", f"{PREFIX}0002"]
    assert count(step=3)["count"] == 2  # room below max 4


def test_new_names_follow_the_highest_number_in_the_folder_with_at_least_four_digits():
    folder = [
        f"{PREFIX}0003",
        f"{PREFIX}0010",
        "acme-web-01",
        f"{PREFIX}x7",
        f"{PREFIX}0004-old",
        "globex-api-auto-0099",
    ]
    plan = count(folder=folder, step=2, max_instances=10)
    assert plan["autoscaled"] == [f"{PREFIX}0003", f"{PREFIX}0010"]
    assert plan["planned"] == [f"{PREFIX}0011", f"{PREFIX}0012"]
    assert count(folder=[f"{PREFIX}9999"], max_instances=10)["planned"] == [f"{PREFIX}10000"]
    assert count(folder=["acme-web-auto-01"], max_instances=10)["planned"] == [f"{PREFIX}0002"]


def test_the_per_run_ceiling_bounds_any_step():
    assert count(step=50, max_instances=100, max_vms_per_run=5)["count"] == 5


def test_autoscaled_vms_outside_the_pool_count_against_max():
    inside, outside = vm(1), vm(2)
    members = [*STATIC, f"{inside['ip']}:80"]
    plan = count(members, [inside, outside])
    assert plan["instances"] == 4 and plan["outside_pool"] == [outside["name"]] and plan["count"] == 0
    assert plan["limit"] == "max_instances" and plan["planned"] == []
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


# scale-in ----------------------------------------------------------------------------------------


def guest(name, created="", role="autoscaled", protected=None):
    settings = {"guestinfo.vm_autoscale.role": role, "guestinfo.vm_autoscale.created_at": created}
    if protected is not None:
        settings["guestinfo.vm_autoscale.protected"] = protected
    return {"hw_name": name, "advanced_settings": settings}


def scale_in(members, instances, **given):
    return _plan.scale_in(list(members), instances, ["acme-web-01", "acme-web-02"],
                          {"step": 1, "max_vms_per_run": 5, "min_instances": 2, **given})  # fmt: skip


def test_scale_in_removes_the_newest_autoscaled_vm_never_a_static_or_protected_one():
    instances = [
        guest(f"{PREFIX}0001", "2026-12-01T10:00:00Z"),
        guest(f"{PREFIX}0002", "2026-12-01T11:00:00Z", protected="TRUE"),
        guest(f"{PREFIX}0003", "2026-12-01T10:30:00Z"),
        guest("acme-web-01", "2026-12-01T12:00:00Z"),  # static, even if marked
        guest("acme-web-99", "2026-12-01T12:00:00Z", role="static"),  # not the autoscaler's
        "not a mapping",
    ]
    members = [*STATIC, "198.18.1.101:80", "198.18.1.103:80"]
    plan = scale_in(members, instances)
    assert plan == {"instances": 4, "removable": [f"{PREFIX}0003", f"{PREFIX}0001"], "victims": [f"{PREFIX}0003"],
                    "returned": [], "count": 1, "reason": "", "sizing": {"policy": "step", "step": 1}}  # fmt: skip
    assert scale_in(members, instances, step=5)["victims"] == [f"{PREFIX}0003", f"{PREFIX}0001"]  # room: 2 above min
    assert scale_in(members, instances, step=5, max_vms_per_run=1)["count"] == 1


def test_scale_in_says_why_nothing_at_min_or_with_nothing_removable():
    at_min = scale_in(STATIC, [guest(f"{PREFIX}0001")])
    assert at_min["victims"] == [] and at_min["reason"] == "at min: 2 of min 2 instances"
    below = scale_in(STATIC[:1], [guest(f"{PREFIX}0001")], step=3)
    assert below["victims"] == [] and below["reason"] == "at min: 1 of min 2 instances"
    protected = scale_in([*STATIC, "198.18.1.101:80"], [guest(f"{PREFIX}0001", protected="yes")])
    assert protected["victims"] == [] and protected["reason"].startswith("no VM may be removed")
    with pytest.raises(ValueError):
        scale_in(STATIC, [], min_instances=-1)


# template ----------------------------------------------------------------------------------------


def test_template_problems_in_their_order():
    good = {"exists": True, "count": 1, "template": True}
    assert _plan.template({"exists": False, "count": 0}, "", "") == "is not in vCenter"
    assert _plan.template({**good, "count": 2, "template": False}, "", "").startswith("is one of 2 objects")
    assert _plan.template({**good, "template": False}, "", "") == "is a VM, not a template"
    assert _plan.template(good, "acme-web-01", "acme-web-02") == (
        "was made from acme-web-01, but autoscale.template.source_vm is acme-web-02"
    )
    assert _plan.template(good, "acme-web-01", "acme-web-01") == ""
    assert _plan.template(good, "", "acme-web-02") == ""  # nothing recorded: nothing to compare
    assert _plan.template(good, "acme-web-01", "") == ""


# one entry for the filter -----------------------------------------------------------------------
# (the filter itself, autoscale_plan, wraps the errors and is exercised by the roles in the lab: importing
# it here would load ansible's controller side into this process, which changes how modules warn)


def test_one_entry_decides_by_name_and_refuses_what_it_does_not_know():
    assert _plan.plan("guards", {"state": lock(), "enabled": True, "respect_cooldown": True}) == ""
    assert _plan.plan("template", {"found": {"exists": False}, "made_from": "", "source_vm": ""}) == "is not in vCenter"
    with pytest.raises(
        ValueError, match="decision is 'victims', expected one of guards, scale_in, scale_out, template, warm_pool"
    ):
        _plan.plan("victims", {})
    with pytest.raises(TypeError):
        _plan.plan("scale_in", {"members": []})  # facts missing: the filter names the decision
    with pytest.raises(ValueError, match="expected a mapping"):
        _plan.plan("guards", ["not", "facts"])


# target tracking ---------------------------------------------------------------------------------


def answer(cpu=None, memory=None):
    """A Prometheus instant-vector result as the roles' load query returns it."""
    series = [("cpu", cpu), ("memory", memory)]
    return [{"metric": {"service": "acme-web", "metric": name}, "value": [1764000000.0, str(value)]}
            for name, value in series if value is not None]  # fmt: skip


def tracked(result, targets=None, **given):
    sizing = {"policy": "target_tracking", "targets": targets or {"cpu": 60, "memory": None}, "result": result}
    return _plan.scale_out(service="acme-web", members=list(given.pop("members", STATIC)), folder_vms=[], autoscaled=[],
                           member_port=80, limits=limits(**{"step": 4, **given}), prefix=PREFIX, sizing=sizing)  # fmt: skip


@pytest.mark.parametrize(
    ("instances", "cpu", "target", "want"),
    [
        (2, 100.0, 60, 4),  # ceil(2 x 1.667) = 4: the demo's 3.5x step, capped at 100 % CPU by the guests
        (2, 90.0, 60, 3),  # ceil(2 x 1.5) = 3 exactly: no spurious round-up of a whole product
        (3, 61.0, 60, 4),  # ceil(3 x 1.017) = 4: just above the target needs one more
        (4, 60.0, 60, 4),  # at the target: no change wanted
        (4, 8.0, 60, 1),  # ceil(4 x 0.133) = 1
        (10, 0.0, 60, 1),  # never below one
    ],
)
def test_the_desired_count_is_the_ceiling_of_instances_times_observed_over_target(instances, cpu, target, want):
    found = _plan.desired(instances, {"cpu": cpu}, {"cpu": target, "memory": None})
    assert found["desired"] == want and found["metric"] == "cpu"


def test_with_two_targets_the_larger_need_wins_and_a_missing_reading_is_skipped():
    both = _plan.desired(2, {"cpu": 30.0, "memory": 90.0}, {"cpu": 60, "memory": 45})
    assert (both["desired"], both["metric"], both["ratio"]) == (4, "memory", 2.0)
    only_cpu = _plan.desired(2, {"cpu": 90.0}, {"cpu": 60, "memory": 45})
    assert (only_cpu["desired"], only_cpu["metric"]) == (3, "cpu")
    assert _plan.desired(2, {}, {"cpu": 60})["desired"] is None
    assert _plan.desired(2, {"memory": 99.0}, {"cpu": 60, "memory": None})["desired"] is None


def test_the_load_reading_takes_only_finite_cpu_and_memory_series():
    result = answer(cpu=97.5, memory=40) + [
        {"metric": {"metric": "disk"}, "value": [0, "50"]},
        {"metric": {"metric": "cpu"}, "value": [0, "NaN"]},
        {"metric": {"metric": "memory"}, "value": [0, "not a number"]},
        {"metric": {}, "value": [0, "1"]},
        "junk",
    ]
    assert _plan.load_reading(result) == {"cpu": 97.5, "memory": 40.0}
    assert _plan.load_reading(None) == {}


def test_target_tracking_reaches_the_needed_count_in_one_scale_out():
    plan = tracked(answer(cpu=100.0))
    assert plan["count"] == 2 and plan["planned"] == [f"{PREFIX}0001", f"{PREFIX}0002"]
    assert plan["sizing"] == {"policy": "target_tracking", "step": 4, "targets": {"cpu": 60, "memory": None},
                              "desired": 4, "metric": "cpu", "ratio": 1.667, "reading": {"cpu": 100.0}}  # fmt: skip


@pytest.mark.parametrize(
    ("given", "want", "limit"),
    [
        ({"step": 1}, 1, ""),  # the per-service maximum step
        ({"max_vms_per_run": 2}, 2, ""),  # the per-run ceiling
        ({"max_instances": 3}, 1, ""),  # the room below max
        ({"max_autoscaled_vms": 1}, 1, ""),  # the room below the site cap
        ({"max_instances": 2}, 0, "max_instances"),
    ],
)
def test_target_tracking_is_clamped_by_every_limit(given, want, limit):
    plan = tracked(answer(cpu=100.0), targets={"cpu": 20, "memory": None}, **{"max_instances": 20, **given})
    assert plan["sizing"]["desired"] == 10
    assert (plan["count"], plan["limit"]) == (want, limit)


def test_a_verified_alert_adds_one_vm_when_the_reading_is_in_band_or_missing():
    # the alert held above the band for its whole `for`; the load dipped at the decision, or
    # Prometheus gave nothing: one VM, as a step of 1
    assert tracked(answer(cpu=55.0))["count"] == 1
    missing = tracked([])
    assert missing["count"] == 1 and missing["sizing"]["desired"] is None
    assert "no load reading" in missing["sizing"]["note"]


def test_a_tracked_scale_in_removes_down_to_the_desired_count_at_most_its_step_never_below_min():
    members = [*STATIC, *(f"198.18.1.{100 + n}:80" for n in range(1, 5))]
    instances = [guest(f"{PREFIX}{n:04d}", f"2026-12-01T10:0{n}:00Z") for n in range(1, 5)]

    def plan(cpu, step=5, minimum=2):
        sizing = {"policy": "target_tracking", "targets": {"cpu": 60}, "result": answer(cpu=cpu)}
        return _plan.scale_in(members, instances, [], {"step": step, "max_vms_per_run": 5, "min_instances": minimum},
                              sizing=sizing)  # fmt: skip

    assert plan(25.0)["count"] == 3  # ceil(6 x 0.417) = 3: remove 3 of 6
    assert plan(25.0, step=2)["count"] == 2  # at most its step
    assert plan(5.0)["count"] == 4 and plan(5.0, minimum=4)["count"] == 2  # never below min
    assert plan(45.0)["count"] == 1  # ceil(6 x 0.75) = 5
    held = plan(59.0)  # ceil(6 x 0.983) = 6: the peak needs every instance, none goes
    assert held["count"] == 0 and held["victims"] == []
    assert (
        held["reason"]
        == "the load's peak over the scale-in window (cpu 59 %) needs 6 instances at the target: all 6 stay"
    )
    assert plan(5.0, minimum=6)["reason"] == "at min: 6 of min 6 instances"
    assert plan(None)["count"] == 1  # no reading: one VM, as a step of 1
    assert plan(25.0)["victims"] == [f"{PREFIX}0004", f"{PREFIX}0003", f"{PREFIX}0002"]  # newest first


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="sizing policy is 'predictive'"):
        _plan.scale_out(service="a", members=[], folder_vms=[], autoscaled=[], member_port=80, limits=limits(),
                        prefix="a-", sizing={"policy": "predictive"})  # fmt: skip


def test_the_load_reading_takes_the_answer_as_text_parsed_or_its_result():
    import json

    whole = {"status": "success", "data": {"resultType": "vector", "result": answer(cpu=80.0)}}
    for given in (json.dumps(whole), whole, whole["data"]["result"]):
        assert _plan.load_reading(given) == {"cpu": 80.0}
    for nothing in ("", "  ", "<html>proxy error</html>", {"status": "error", "error": "bad"}, 42):
        assert _plan.load_reading(nothing) == {}
