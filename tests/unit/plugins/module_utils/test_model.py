"""The autoscale data model: defaults, and every validation rule naming service, field, value and fix."""

import copy
from pathlib import Path

import pytest
import yaml
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _model
from services import minimal

REPO = Path(__file__).resolve().parents[4]
LAB = REPO / "inventories" / "lab" / "host_vars"
LAB_SITE = {"scrape_interval": yaml.safe_load((REPO / "lab" / "plan.yml").read_text())["monitoring"]["scrape_interval"]}


def lab_services():
    return {path.stem: yaml.safe_load(path.read_text())["autoscale"] for path in LAB.glob("*.yml")}


def messages(services):
    return [problem["message"] for problem in _model.problems(services)]


def test_the_lab_services_are_valid():
    assert [problem["message"] for problem in _model.problems(lab_services(), settings=LAB_SITE)] == []


def test_a_minimal_service_gets_the_documented_defaults():
    assert messages({"shop": minimal()}) == []
    config = _model.with_defaults("shop", minimal())
    assert config["service_id"] == "shop"
    assert config["service_name"] == "shop"
    assert config["enabled"] is True
    assert config["monitoring"] == {
        "cpu_threshold": 80,
        "memory_threshold": 85,
        "duration_minutes": 5,
        "scale_in_cpu_threshold": 20,
        "scale_in_memory_threshold": 40,
        "scale_in_duration_minutes": 15,
        "rate_window": "2m",
        "prometheus_job": "shop",
    }
    assert config["scaling"]["min_instances"] == 2
    assert config["scaling"]["cooldown_seconds"] == 600
    assert config["f5"]["health_check_path"] == "/"
    assert config["f5"]["partition"] == "Common"
    assert config["jenkins"]["job_name"] == "autoscale-shop"
    assert config["static_members"] == []


def test_given_values_win_and_the_input_is_not_changed():
    given = minimal()
    given["monitoring"] = {"cpu_threshold": 60}
    before = copy.deepcopy(given)
    config = _model.with_defaults("shop", given)
    assert config["monitoring"]["cpu_threshold"] == 60
    assert config["monitoring"]["memory_threshold"] == 85
    assert given == before


def change(path, value):
    service = minimal()
    node = service
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return service


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        ("service_id", "Shop_1", "service_id", "not DNS-label safe"),
        ("service_id", "other", "service_id", "differs from the inventory host 'shop'"),
        ("enabled", "yes", "enabled", "not true or false"),
        ("template.name", "", "template.name", "is missing"),
        ("monitoring.cpu_threshold", 0, "monitoring.cpu_threshold", "out of range (1-100)"),
        ("monitoring.memory_threshold", 101, "monitoring.memory_threshold", "out of range (1-100)"),
        ("monitoring.cpu_threshold", "high", "monitoring.cpu_threshold", "not a whole number"),
        ("monitoring.scale_in_cpu_threshold", 80, "monitoring.scale_in_cpu_threshold", "not below"),
        ("monitoring.scale_in_memory_threshold", 90, "monitoring.scale_in_memory_threshold", "not below"),
        ("monitoring.scale_in_duration_minutes", 2, "monitoring.scale_in_duration_minutes", "shorter than"),
        ("monitoring.duration_minutes", 0, "monitoring.duration_minutes", "out of range"),
        ("monitoring.rate_window", "2 minutes", "monitoring.rate_window", "not a Prometheus duration"),
        ("scaling.min_instances", 5, "scaling.min_instances", "above scaling.max_instances (4)"),
        ("scaling.max_instances", 0, "scaling.max_instances", "out of range"),
        ("scaling.scale_out_step", 0, "scaling.scale_out_step", "out of range"),
        ("scaling.cooldown_seconds", -1, "scaling.cooldown_seconds", "out of range"),
        # the floor: the default for (5 min) plus two of the default 1 min scrape intervals
        ("scaling.cooldown_seconds", 0, "scaling.cooldown_seconds", "fix: use at least 420"),
        ("scaling.cooldown_seconds", 419, "scaling.cooldown_seconds", "plus two scrape intervals (2 x 60 s)"),
        ("scaling.scale_out_step", 6, "scaling.scale_out_step", "above the per-run ceiling"),
        ("scaling.scale_in_step", 100, "scaling.scale_in_step", "vm_autoscale_max_vms_per_run (5)"),
        ("scaling.max_instances", 60, "scaling.max_instances", "allows 60 autoscaled VMs"),
        ("f5.vip_port", 70000, "f5.vip_port", "out of range (1-65535)"),
        ("f5.vip", "vip.example", "f5.vip", "not an IPv4 address"),
        ("f5.vip", "198.18.5.120", "f5.vip", "inside the IP pool"),
        ("f5.health_check_path", "health", "f5.health_check_path", "not an absolute URL path"),
        ("network.subnet", "198.18.5.0", "network.subnet", "not a network address with a prefix"),
        ("network.subnet", "198.18.5.7/24", "network.subnet", "write 198.18.5.0/24"),
        ("network.gateway", "198.18.6.1", "network.gateway", "not a usable address of network.subnet"),
        ("network.gateway", "198.18.5.120", "network.gateway", "inside the IP pool"),
        ("network.ip_pool_start", "198.18.5.200", "network.ip_pool_start", "after network.ip_pool_end"),
        ("network.ip_pool_end", "198.18.5.255", "network.ip_pool_end", "not a usable address"),
        ("network.vlan", 5000, "network.vlan", "out of range (1-4094)"),
        ("static_members", [{"name": "shop-01", "ip": "198.18.5.101"}], "static_members[0].ip", "inside the IP pool"),
        ("static_members", [{"name": "shop-01"}], "static_members[0]", "needs a name and an ip"),
        (
            "static_members",
            [{"name": "a", "ip": "198.18.5.11"}, {"name": "a", "ip": "198.18.5.12"}],
            "static_members[1].name",
            "appears twice",
        ),
    ],
)
def test_each_rule_names_the_service_field_value_and_fix(path, value, field, words):
    found = _model.problems({"shop": change(path, value)})
    matching = [problem for problem in found if problem["field"] == field]
    assert matching, found
    message = matching[0]["message"]
    assert message.startswith(f"service shop: autoscale.{field} = ")
    assert words in message
    assert "; fix: " in message


def tracking(**fields):
    service = change("scaling.policy", "target_tracking")
    service["scaling"]["target_tracking"] = fields
    return service


@pytest.mark.parametrize(
    ("service", "field", "words"),
    [
        (change("scaling.policy", "target"), "scaling.policy", "use one of step, target_tracking"),
        (change("scaling.target_tracking", 60), "scaling.target_tracking", "is not a mapping"),
        (tracking(cpu_percent=0), "scaling.target_tracking.cpu_percent", "out of range (1-99)"),
        (tracking(cpu_percent="half"), "scaling.target_tracking.cpu_percent", "not a whole number"),
        # 91 % + 10 %: the alert's threshold would be 100.1 %, which CPU use never exceeds
        (tracking(cpu_percent=91), "scaling.target_tracking.cpu_percent", "use at most 90"),
        (tracking(memory_percent=96, tolerance_percent=5), "scaling.target_tracking.memory_percent", "at most 95"),
        (tracking(tolerance_percent=60), "scaling.target_tracking.tolerance_percent", "out of range (0-50)"),
        (tracking(max_step=0), "scaling.target_tracking.max_step", "out of range"),
        (tracking(max_step=6), "scaling.target_tracking.max_step", "vm_autoscale_max_vms_per_run (5)"),
        (
            tracking(cpu_pct=50),
            "scaling.target_tracking.cpu_pct",
            "did you mean autoscale.scaling.target_tracking.cpu_percent",
        ),
    ],
)
def test_target_tracking_is_validated(service, field, words):
    found = _model.problems({"shop": service})
    matching = [problem for problem in found if problem["field"] == field]
    assert matching, found
    assert words in matching[0]["message"] and "; fix: " in matching[0]["message"]


def test_target_tracking_fields_are_checked_only_under_that_policy():
    # a step service may carry a target tracking mapping it does not use yet (the defaults' max_step
    # of 4 is above a site ceiling of 2, which matters only once the policy is chosen)
    assert not _model.problems({"shop": change("scaling.target_tracking", {"max_step": 9})})
    assert not _model.problems({"shop": tracking(cpu_percent=50, memory_percent=70, tolerance_percent=0, max_step=5)})
    assert not _model.problems({"shop": tracking()}, settings={"max_vms_per_run": 4})
    found = _model.problems({"shop": tracking()}, settings={"max_vms_per_run": 2})
    assert [problem["field"] for problem in found] == ["scaling.target_tracking.max_step"]
    config = _model.with_defaults("shop", tracking(cpu_percent=50))
    assert config["scaling"]["target_tracking"] == {
        "cpu_percent": 50, "memory_percent": None, "tolerance_percent": 10, "max_step": 4
    }  # fmt: skip


def warm(size, **scaling):
    service = change("scaling.warm_pool", {"size": size, "return_on_scale_in": True})
    service["scaling"].update(scaling)
    return service


@pytest.mark.parametrize(
    ("service", "field", "words", "settings"),
    [
        (change("scaling.warm_pool", 2), "scaling.warm_pool", "is not a mapping", None),
        (warm(-1), "scaling.warm_pool.size", "out of range (0-100)", None),
        (warm("two"), "scaling.warm_pool.size", "not a whole number", None),
        (
            change("scaling.warm_pool", {"size": 1, "return_on_scale_in": "yes"}),
            "scaling.warm_pool.return_on_scale_in",
            "is not true or false",
            None,
        ),
        # 51 addresses (198.18.5.100-150): 48 autoscaled (max 48, no static) + 4 warm do not fit
        (
            warm(4, max_instances=48),
            "scaling.warm_pool.size",
            "needs 52 addresses; the IP pool",
            {"max_autoscaled_vms": 100},
        ),
        # the site cap of 10: 4 autoscaled + 7 warm
        (
            warm(7),
            "scaling.warm_pool.size",
            "more than the site-wide vm_autoscale_max_autoscaled_vms (10)",
            {"max_autoscaled_vms": 10},
        ),
        (
            change("scaling.warm_pool", {"sise": 1}),
            "scaling.warm_pool.sise",
            "did you mean autoscale.scaling.warm_pool.size",
            None,
        ),
    ],
)
def test_the_warm_pool_is_validated(service, field, words, settings):
    found = _model.problems({"shop": service}, settings=settings)
    matching = [problem for problem in found if problem["field"] == field]
    assert matching, found
    assert words in matching[0]["message"] and "; fix: " in matching[0]["message"]


def test_a_warm_pool_that_fits_is_valid_and_the_default_is_none():
    assert _model.with_defaults("shop", minimal())["scaling"]["warm_pool"] == {"size": 0, "return_on_scale_in": True}
    # 48 + 3 = 51 addresses, exactly the pool
    assert not _model.problems({"shop": warm(3, max_instances=48)}, settings={"max_autoscaled_vms": 100})
    assert not _model.problems({"shop": warm(6)}, settings={"max_autoscaled_vms": 10})  # 4 + 6 = the cap
    # no warm pool: the address check does not apply (as before)
    assert not _model.problems({"shop": warm(0, max_instances=60)}, settings={"max_autoscaled_vms": 100})


def test_the_site_limits_come_from_the_settings():
    service = change("scaling.cooldown_seconds", 330)
    assert not _model.problems({"shop": service}, settings={"scrape_interval": "15s"})
    assert _model.problems({"shop": service}, settings={"scrape_interval": "1m30s"})[0]["message"].endswith(
        "fix: use at least 480"
    )
    big = change("scaling.scale_out_step", 10)
    big["scaling"]["max_instances"] = 12
    big["static_members"] = [{"name": "s1", "ip": "198.18.5.11"}, {"name": "s2", "ip": "198.18.5.12"}]
    assert not _model.problems({"shop": big}, settings={"max_vms_per_run": 10, "max_autoscaled_vms": "10"})
    found = _model.problems({"shop": big}, settings={"max_vms_per_run": 10, "max_autoscaled_vms": 9})
    assert [problem["field"] for problem in found] == ["scaling.max_instances"]
    for bad in ({"scrape_interval": "15 s"}, {"max_vms_per_run": 0}, {"max_autoscaled_vms": True}, {"typo": 1}):
        with pytest.raises(ValueError):
            _model.problems({"shop": minimal()}, settings=bad)


def test_every_problem_of_every_service_is_reported_at_once():
    broken = change("monitoring.cpu_threshold", 0)
    broken["scaling"] = {"min_instances": 9}
    broken["network"]["gateway"] = "198.18.5.120"
    other = change("f5.vip_port", 0)
    found = messages({"shop": broken, "other": dict(other, service_id="other")})
    assert len(found) >= 4
    assert {message.split(":")[0] for message in found} == {"service shop", "service other"}


def test_overlapping_pools_of_two_services_are_one_problem_naming_both():
    services = {"shop": minimal(), "blog": change("network.ip_pool_start", "198.18.5.140")}
    services["blog"]["network"]["ip_pool_end"] = "198.18.5.160"
    services["blog"]["f5"].update(vip="198.18.5.11", pool_name="blog-pool")
    # reported on the service being added: the one of the run's limit, or the one not yet onboarded
    for blamed, other, kwargs in (("blog", "shop", {"established": ["shop"]}), ("shop", "blog", {"scope": ["shop"]}),
                                  ("blog", "shop", {"scope": ["blog"], "established": ["blog"]})):  # fmt: skip
        found = _model.problems(services, **kwargs)
        assert len(found) == 1, found
        assert found[0]["service"] == blamed and found[0]["related"] == [other]
        assert f"overlaps the pool of service {other}" in found[0]["message"]
        assert f"fix: give {blamed} a range of its own" in found[0]["message"]


def test_scope_marks_problems_of_other_services_as_out_of_scope():
    services = {"shop": change("monitoring.cpu_threshold", 0), "blog": minimal()}
    services["blog"]["network"] = dict(services["blog"]["network"], subnet="198.18.6.0/24", gateway="198.18.6.1")
    services["blog"]["network"].update(ip_pool_start="198.18.6.100", ip_pool_end="198.18.6.150")
    services["blog"]["f5"].update(vip="198.18.6.10", pool_name="blog-pool")
    found = _model.problems(services, scope=["blog"])
    assert [problem["in_scope"] for problem in found] == [False]
    assert all(problem["in_scope"] for problem in _model.problems(services))


def test_a_service_without_a_mapping_is_a_problem():
    assert messages({"shop": None})[0].startswith("service shop: autoscale = None: is not a mapping")


@pytest.mark.parametrize(
    ("reconcile", "field", "words"),
    [
        ({"schedule": "every 15 minutes"}, "reconcile.schedule", "is not a Jenkins cron spec"),
        ({"schedule": "H/15 * * *"}, "reconcile.schedule", "five fields"),
        ({"schedule": "H * * * * # hourly"}, "reconcile.schedule", "one line without comments"),
        ({"schedule": 15}, "reconcile.schedule", "is not a string"),
        ({"fix": "yes"}, "reconcile.fix", "is not true or false"),
        ("daily", "reconcile", "is not a mapping"),
    ],
)
def test_a_bad_reconcile_schedule_is_named(reconcile, field, words):
    found = _model.problems({"shop": {**minimal(), "reconcile": reconcile}})
    assert [problem["field"] for problem in found] == [field], found
    assert words in found[0]["message"] and "; fix: " in found[0]["message"]


@pytest.mark.parametrize("schedule", ["", "H/15 * * * *", "@hourly", "H(0-29)/10 1-5 * JAN-JUN MON-FRI", "0 0 1 1 *"])
def test_good_reconcile_schedules_pass(schedule):
    assert messages({"shop": {**minimal(), "reconcile": {"schedule": schedule, "fix": True}}}) == []


@pytest.mark.parametrize(
    ("given", "field", "fix"),
    [
        ({"monitoring": {"cpu_treshold": 60}}, "monitoring.cpu_treshold", "did you mean autoscale.monitoring.cpu_threshold?"),
        ({"scaling": {"min_instance": 2}}, "scaling.min_instance", "did you mean autoscale.scaling.min_instances?"),
        ({"scalling": {"min_instances": 2}}, "scalling", "did you mean autoscale.scaling?"),
        ({"cpu_threshold": 60}, "cpu_threshold", "did you mean autoscale.monitoring.cpu_threshold?"),
        ({"f5": {"vip_prot": 443}}, "f5.vip_prot", "did you mean autoscale.f5.vip_port?"),
        ({"jenkins": {"jobname": "x"}}, "jenkins.jobname", "did you mean autoscale.jenkins.job_name?"),
        ({"reconcile": {"schedul": "@hourly"}}, "reconcile.schedul", "did you mean autoscale.reconcile.schedule?"),
        ({"static_members": [{"name": "a", "ip": "198.18.5.11"}, {"nmae": "b", "name": "b", "ip": "198.18.5.12"}]},
         "static_members[1].nmae", "did you mean autoscale.static_members[1].name?"),
        ({"description": "the web shop"}, "description", "remove it (docs/inventory.md lists the fields)"),
    ],
)  # fmt: skip
def test_an_unknown_key_at_any_depth_is_named_with_the_closest_known_one(given, field, fix):
    service = minimal()
    for key, value in given.items():
        service[key] = {**service[key], **value} if isinstance(service.get(key), dict) else value
    found = _model.problems({"shop": service})
    assert [problem["field"] for problem in found] == [field], found
    message = found[0]["message"]
    assert message.startswith(f"service shop: autoscale.{field} = ") and "is not a known field" in message
    assert message.endswith(f"; fix: {fix}")


def test_every_documented_field_is_known():
    """The schema of known keys and the defaults agree: every default has a known key."""

    def paths(tree, prefix=""):
        for key, value in tree.items():
            yield f"{prefix}{key}"
            if isinstance(value, dict):
                yield from paths(value, f"{prefix}{key}.")

    schema = set(paths({k: v for k, v in _model.FIELDS.items() if not isinstance(v, list)}))
    assert set(paths(_model.DEFAULTS)) <= schema | {"static_members"}
    assert _model.unknown_keys(_model.with_defaults("shop", minimal())) == []


def other_service():
    """A second service that shares nothing with minimal()."""
    blog = minimal()
    blog["f5"] = {"pool_name": "blog-pool", "vip": "198.18.6.10", "vip_port": 443, "member_port": 8080}
    blog["network"] = {"subnet": "198.18.6.0/24", "gateway": "198.18.6.1", "port_group": "pg-blog",
                       "ip_pool_start": "198.18.6.100", "ip_pool_end": "198.18.6.150"}  # fmt: skip
    blog["static_members"] = [{"name": "blog-01", "ip": "198.18.6.11"}]
    return blog


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        ("f5.pool_name", "shop-pool", "f5.pool_name", "is also the F5 pool of service shop (its autoscale.f5.pool_name)"),
        ("f5.vip", "198.18.5.10", "f5.vip", "is also the VIP and port of service shop"),
        ("static_members", [{"name": "shop-01", "ip": "198.18.6.11"}], "static_members[0].name",
         "is also the static member of service shop (its autoscale.static_members[0].name)"),
        ("static_members", [{"name": "blog-01", "ip": "198.18.5.11"}], "static_members[0].ip",
         "is also the static member address of service shop"),
        ("static_members", [{"name": "blog-01", "ip": "198.18.5.120"}], "static_members[0].ip",
         "is inside the IP pool of service shop (198.18.5.100-198.18.5.150)"),
        ("f5.vip", "198.18.5.101", "f5.vip", "is inside the IP pool of service shop"),
        ("jenkins.job_name", "autoscale-shop", "jenkins.job_name", "is also the Jenkins job of service shop"),
    ],
)  # fmt: skip
def test_a_collision_with_another_service_is_reported_on_the_new_one_naming_both(path, value, field, words):
    shop = minimal()
    shop["static_members"] = [{"name": "shop-01", "ip": "198.18.5.11"}]
    blog = other_service()
    node = blog
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    found = [problem for problem in _model.problems({"shop": shop, "blog": blog}, scope=["blog"]) if problem["related"]]
    assert [(problem["service"], problem["field"], problem["related"]) for problem in found] == [
        ("blog", field, ["shop"])
    ], found
    assert words in found[0]["message"] and "; fix: " in found[0]["message"]
    assert found[0]["in_scope"]


def test_the_same_vip_on_another_port_and_pools_in_other_partitions_are_no_collision():
    shop = minimal()
    blog = other_service()
    blog["f5"].update(vip="198.18.5.10", vip_port=80, pool_name="shop-pool", partition="Blog")
    # the VIP is inside shop's subnet but outside its pool: allowed
    assert [p for p in _model.problems({"shop": shop, "blog": blog}) if p["related"]] == []


def test_a_template_two_services_share_must_come_from_the_same_vm():
    shop, blog = minimal(), other_service()
    shop["template"] = {"name": "tpl-web", "source_vm": "shop-01"}
    blog["template"] = {"name": "tpl-web", "source_vm": "shop-01"}
    assert [p for p in _model.problems({"shop": shop, "blog": blog}) if p["related"]] == []
    blog["template"]["source_vm"] = "blog-01"
    (found,) = [p for p in _model.problems({"shop": shop, "blog": blog}, scope=["blog"]) if p["related"]]
    assert found["service"] == "blog" and found["field"] == "template.name"
    assert "is also the template of service shop, made from another VM ('shop-01', not 'blog-01')" in found["message"]
