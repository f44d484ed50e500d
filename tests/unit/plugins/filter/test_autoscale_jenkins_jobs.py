"""autoscale_jenkins_jobs: the jobs of many services for jenkins_autoscale_job's jobs option."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.danacloud.vm_autoscale.plugins.filter.autoscale import autoscale_jenkins_jobs


def test_names_enabled_and_tokens_per_service():
    jobs = autoscale_jenkins_jobs(
        ["web", "api", "db"],
        [{}, {"enabled": False}, {"jenkins": {"job_name": "folder/scale-db"}}],
        ["t-web", "t-api", "t-db"],
    )
    assert jobs == [
        {"service": "web", "name": "autoscale-web", "enabled": True, "token": "t-web"},
        {"service": "api", "name": "autoscale-api", "enabled": False, "token": "t-api"},
        {"service": "db", "name": "folder/scale-db", "enabled": True, "token": "t-db"},
    ]


def test_the_switch_disables_every_job():
    jobs = autoscale_jenkins_jobs(["web", "api"], [{}, {}], ["a", "b"], False)
    assert [job["enabled"] for job in jobs] == [False, False]


def test_lists_of_different_lengths_are_refused():
    with pytest.raises(AnsibleFilterError, match="2 services, 1 autoscale mappings and 2 tokens"):
        autoscale_jenkins_jobs(["web", "api"], [{}], ["a", "b"])
