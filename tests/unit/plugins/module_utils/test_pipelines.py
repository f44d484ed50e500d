"""_pipelines: the longest a run may take (the pipeline's timeout) and each service's Jenkins job."""

import re
from pathlib import Path

import pytest
import yaml
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _pipelines
from services import minimal


def test_jenkins_jobs_name_enable_and_carry_each_services_token():
    jobs = _pipelines.jenkins_jobs(
        ["web", "api", "db"],
        [minimal(), {**minimal(), "enabled": False}, {**minimal(), "jenkins": {"job_name": "folder/scale-db"}}],
        ["t-web", "t-api", "t-db"],
    )
    default = _pipelines.run_bound({}, 1, 1)["run"]
    scheduled = {"schedule": "H/15 * * * *", "fix": False}
    assert jobs == [
        {"service": "web", "name": "autoscale-web", "enabled": True, "token": "t-web",
         "timeout_seconds": default, "reconcile": scheduled},
        {"service": "api", "name": "autoscale-api", "enabled": False, "token": "t-api",
         "timeout_seconds": default, "reconcile": scheduled},
        {"service": "db", "name": "folder/scale-db", "enabled": True, "token": "t-db",
         "timeout_seconds": default, "reconcile": scheduled},
    ]  # fmt: skip
    assert [job["enabled"] for job in _pipelines.jenkins_jobs(["web"], [minimal()], ["t"], False)] == [False]
    with pytest.raises(ValueError, match="2 services, 1 autoscale mappings and 2 tokens"):
        _pipelines.jenkins_jobs(["web", "api"], [minimal()], ["a", "b"])


def test_a_tracked_service_gets_the_time_of_its_largest_scale_out():
    tracked = {**minimal(), "scaling": {"policy": "target_tracking", "target_tracking": {"max_step": 3}}}
    (job,) = _pipelines.jenkins_jobs(["web"], [tracked], ["t"])
    assert job["timeout_seconds"] == _pipelines.run_bound({}, 3, 1)["run"] > _pipelines.run_bound({}, 1, 1)["run"]


def test_the_run_bound_adds_the_renewals_of_a_run_and_grows_with_the_step():
    one = _pipelines.run_bound({}, 1, 1)
    # wait 60 + ttl 300 + repair of 1 VM (60 + 2x900 + 120 + 60, + margin 60) + the action's VM
    repair = 60 + 300 + (60 + 1800 + 120 + 60 + 60)
    out_vm = (60 + 60) + (900 + 600 + 300 + 60 + 60) + (120 + 120 + 120 + 60)
    in_vm = (120 + 120 + 300 + 60) + (120 + 60 + 60) + (1800 + 120 + 60) + (60 + 60)
    assert one == {"scale_out": repair + out_vm, "scale_in": repair + in_vm, "run": repair + in_vm}
    three = _pipelines.run_bound({}, 3, 1)
    # a larger step: three VMs of its own, and a repair of up to three
    assert three["scale_out"] == 60 + 300 + (60 + 3 * 1980 + 60) + 3 * out_vm
    assert three["run"] > one["run"]
    shorter = _pipelines.run_bound({"boot": "100", "vm": 60}, 1, 1)
    assert shorter["scale_out"] < one["scale_out"]


@pytest.mark.parametrize(
    ("limits", "steps", "words"),
    [
        ({"boot_timeout": 600}, (1, 1), "unknown run limits ['boot_timeout']"),
        ({"boot": -1}, (1, 1), "run limit boot is -1: write a whole number of seconds"),
        ({"vm": "ten"}, (1, 1), "run limit vm is 'ten'"),
        ({}, (0, 1), "a step is 0"),
        ({}, (1, True), "a step is True"),
    ],
)
def test_the_run_bound_refuses_what_it_cannot_add(limits, steps, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        _pipelines.run_bound(limits, *steps)


def test_a_service_with_a_larger_step_gets_a_longer_pipeline_timeout():
    big = {**minimal(), "scaling": {"scale_out_step": 3, "max_instances": 8}}
    jobs = _pipelines.jenkins_jobs(["web", "big"], [minimal(), big], ["a", "b"], limits={"boot": 120})
    assert jobs[1]["timeout_seconds"] > jobs[0]["timeout_seconds"]
    assert jobs[0]["timeout_seconds"] == _pipelines.run_bound({"boot": 120}, 1, 1)["run"]


def test_the_jenkins_role_passes_the_same_step_limits_as_the_roles_default():
    """roles/jenkins_autoscale's limits fall back to the scale_out and scale_in defaults: the same numbers."""
    roles = Path(__file__).resolve().parents[4] / "roles"
    out = yaml.safe_load((roles / "scale_out" / "defaults" / "main.yml").read_text())
    scale_in = yaml.safe_load((roles / "scale_in" / "defaults" / "main.yml").read_text())
    limits = yaml.safe_load((roles / "jenkins_autoscale" / "defaults" / "main.yml").read_text())[
        "jenkins_autoscale_limits"
    ]
    assert set(limits) == set(_pipelines.RUN_LIMITS)
    for key, template in limits.items():
        found = re.findall(r"(scale_(?:out|in)_\w+) \| default\((\d+)\)", template)
        assert found, (key, template)
        for name, default in re.findall(r"(scale_(?:out|in)_\w+) \| default\((\d+)\)", template):
            role = out if name.startswith("scale_out_") else scale_in
            assert role[name] == int(default) == _pipelines.RUN_LIMITS[key], (key, name)
