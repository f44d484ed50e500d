"""Onboarding's per-service summary (_summary), over a configuration with its defaults."""

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _model, _summary
from services import minimal


def _config(**changes):
    config = minimal()
    config.update(changes)
    return _model.with_defaults("shop", config)


def test_the_summary_names_the_range_the_job_the_rules_the_route_and_a_template_found():
    lookup = {"templates": {"tpl-shop": {"template": True, "exists": True, "count": 1}}}
    config = _config(
        scaling={"min_instances": 3, "max_instances": 7},
        static_members=[{"name": "shop-01", "ip": "198.18.5.11"}],
    )
    lines = _summary.service_summary("shop", config, lookup)
    assert lines[0] == "service shop: autoscaling enabled, 3-7 instances"
    assert lines[1].startswith(f"Jenkins job {config['jenkins']['job_name']} (enabled), scheduled reconcile ")
    assert f"scale out above {config['monitoring']['cpu_threshold']} % CPU" in lines[2]
    assert lines[2].endswith(", 1 static target(s)")
    assert lines[3] == f"Alertmanager route service=shop to {config['jenkins']['job_name']}"
    assert lines[4] == "template tpl-shop: a template in vCenter"


def test_a_tracked_service_names_its_targets_and_steps():
    tracked = {"policy": "target_tracking", "target_tracking": {"cpu_percent": 55, "memory_percent": 70}}
    lines = _summary.service_summary("shop", _config(scaling=tracked), {"templates": {}})
    assert (
        "(target tracking: holds 55 % CPU and 70 % memory +-10 %, up to 4 VM(s) per scale-out, 1 per scale-in)"
        in lines[2]
    )


def test_a_disabled_service_in_check_mode_says_so_and_names_no_reconcile_without_a_schedule():
    config = _config(enabled=False, reconcile={"schedule": ""})
    lines = _summary.service_summary("shop", config, {"templates": {}}, check_mode=True)
    assert lines[0].startswith(
        "service shop (check mode: what it would have): autoscaling DISABLED (autoscale.enabled)"
    )
    assert "(disabled), scheduled reconcile none" in lines[1]


@pytest.mark.parametrize(
    ("lookup", "state"),
    [
        ({"templates": {"tpl-shop": {"template": False, "exists": False, "count": 0}}}, "MISSING in vCenter - run "),
        ({"templates": {"tpl-shop": {"template": False, "exists": True, "count": 2}}}, "is 2 objects in vCenter, "),
        ({"failed": True, "msg": "Failed to connect to vcenter.lab"}, "not checked: vCenter could not be read (Failed"),
        (None, "not checked: vCenter could not be read (no answer)"),
        ({"templates": {"other": {"template": True}}}, "not checked: vCenter could not be read (no answer)"),
    ],
)
def test_the_template_line_says_what_vcenter_holds_and_the_command_that_makes_a_missing_one(lookup, state):
    line = _summary.service_summary("shop", _config(), lookup)[-1]
    assert line.startswith(f"template tpl-shop: {state}"), line
    if "MISSING" in state or "objects" in state:
        assert "run playbooks/create_template.yml -l shop before the first peak" in line
