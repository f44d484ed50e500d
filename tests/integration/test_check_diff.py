"""`--check --diff` on a brand-new site changes nothing, says what the first run will do, and is right.

The site is new everywhere the playbooks write: an inventory overlay points the state host, the
Prometheus, Alertmanager and Grafana folders at paths that do not exist yet, and adds a service,
initech-shop, that no Jenkins job, state or template knows. Its check run must pass, create
nothing (read back from the disk and from Jenkins), show the content of the rule files, the
Alertmanager route and the Jenkins job it would write; the real run must then do what the check
said, and a check after it must find nothing left to do. A threshold change on the running lab
shows the changed expression, not a path.
"""

import json

import yaml
from conftest import REPO
from labclient import jenkins
from scaling import snapshot

NEW = "initech-shop"
NEW_SERVICE = {
    "autoscale": {
        "service_id": NEW,
        "service_name": "Initech shop",
        "customer": "initech",
        "enabled": True,
        "template": {"name": "tpl-initech-shop", "source_vm": "initech-shop-01"},
        "monitoring": {"prometheus_job": NEW, "cpu_threshold": 65, "memory_threshold": 85, "duration_minutes": 2},
        "scaling": {"min_instances": 2, "max_instances": 4, "cooldown_seconds": 180},
        "f5": {"pool_name": "initech-shop-pool", "vip": "198.18.3.10", "vip_port": 443, "member_port": 8080},
        "network": {
            "subnet": "198.18.3.0/24",
            "gateway": "198.18.3.1",
            "port_group": "pg-initech-shop",
            "ip_pool_start": "198.18.3.100",
            "ip_pool_end": "198.18.3.119",
        },
        "static_members": [{"name": "initech-shop-01", "ip": "198.18.3.11"}],
        "jenkins": {"job_name": "autoscale-initech-shop"},
    }
}


def _site(tmp_path):
    """An inventory overlay: a new service, and every folder the playbooks write under ``site``."""
    site = tmp_path / "site"
    overlay = tmp_path / "overlay"
    (overlay / "host_vars").mkdir(parents=True)
    (overlay / "group_vars" / "all").mkdir(parents=True)
    (overlay / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"autoscale_services": {"hosts": {NEW: None}}}}})
    )
    (overlay / "host_vars" / f"{NEW}.yml").write_text(yaml.safe_dump(NEW_SERVICE))
    lab_state = REPO / ".lab" / "state"
    folders = {
        "lab_state_dir": str(lab_state),  # the overlay's own inventory_dir would put it elsewhere
        "vm_autoscale_state_dir": f"{site}/statehost/vm_autoscale",
        "vm_autoscale_textfile_dir": f"{site}/statehost/textfile",
        "plg_prometheus_config_dir": f"{site}/prometheus",
        "plg_alertmanager_config_dir": f"{site}/alertmanager",
        "plg_grafana_provisioning_dir": f"{site}/grafana/provisioning",
        "plg_grafana_dashboards_dir": f"{site}/grafana/dashboards",
    }
    (overlay / "group_vars" / "all" / "zz-new-site.yml").write_text(yaml.safe_dump(folders))
    for installed in ("prometheus", "alertmanager", "statehost"):  # the operator's: nothing of ours in them yet
        (site / installed).mkdir(parents=True)
    return site, overlay


def _diffs(run, task):
    """Every diff the task showed, over its hosts: [{before_header, after_header, before, after}]."""
    found = []
    for play in (run.result or {}).get("plays", []):
        for entry in play["tasks"]:
            if entry["task"]["name"] != task and not entry["task"]["name"].endswith(f" : {task}"):
                continue
            for result in entry["hosts"].values():
                diff = result.get("diff") or []
                found += diff if isinstance(diff, list) else [diff]
    return found


def _failures(run):
    return [
        (entry["task"]["name"], host, result.get("msg"))
        for play in (run.result or {}).get("plays", [])
        for entry in play["tasks"]
        for host, result in entry["hosts"].items()
        if result.get("failed")
    ]


def _tree(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def _job_exists(name):
    return jenkins("GET", f"/job/{name}/api/json").status_code == 200


def test_a_first_check_diff_on_a_new_site_changes_nothing_and_the_real_run_does_what_it_said(
    run_playbook, lab, tmp_path
):
    site, overlay = _site(tmp_path)
    assert not _job_exists("autoscale-initech-shop")
    checked = run_playbook("playbooks/onboard.yml", "-i", str(overlay), "--check", "--diff")
    assert checked.returncode == 0, checked.stdout[-4000:] + checked.stderr[-2000:]
    assert _tree(site) == ["alertmanager", "prometheus", "statehost"]
    assert not _job_exists("autoscale-initech-shop")

    # The diff shows what will be written: the new service's alert rule with its threshold ...
    files = {
        diff["before_header"]: diff
        for diff in _diffs(checked, "Targets and rule files on the PLG host (rule files checked by promtool)")
    }
    rules = files[f"{site}/prometheus/rules/vm_autoscale-{NEW}.yml (new)"]
    assert rules["before"] == "" and f'vm_autoscale:cpu_percent{{service="{NEW}"}} > 65' in rules["after"]
    assert files[f"{site}/prometheus/rules (new folder)"]["after"] == "(folder)\n"
    # ... its route in alertmanager.yml, its Jenkins job; never a webhook token.
    (route,) = _diffs(checked, "Alertmanager configuration")
    assert f"service={NEW}" in route["after"] or f'service="{NEW}"' in route["after"], route["after"][-2000:]
    jobs = [
        diff
        for diff in _diffs(checked, "The services' autoscale and scheduled reconcile jobs in Jenkins (present)")
        if NEW in json.dumps(diff)
    ]
    assert jobs and any("jenkins/Jenkinsfile" in diff["after"] for diff in jobs), jobs
    # the token task is no_log: its result, diff included, is hidden
    tokens = checked.task(
        "Webhook tokens of the services of this run (mode 0600, in a folder of mode 0700), and none of services gone",
        "acme-web",  # run_once: the play's first host
    )
    assert "censored" in tokens and "diff" not in tokens
    lab_tokens = [
        (lab.state / "secrets" / f"webhook-{name}").read_text().strip() for name in ("acme-web", "globex-api", NEW)
    ]
    assert not any(token in checked.stdout for token in lab_tokens)
    summary = checked.once("What each service has now")["msg"][NEW]
    assert any("(check mode: what it would have)" in line for line in summary)
    assert any("MISSING in vCenter - run playbooks/create_template.yml -l initech-shop" in line for line in summary)

    # The real run writes what the check listed, and makes the job.
    predicted = sorted(
        {diff["before_header"].removesuffix(" (new)").removesuffix(" (new folder)") for diff in files.values()}
    )
    real = run_playbook("playbooks/onboard.yml", "-i", str(overlay))
    try:
        assert real.returncode == 0, real.stdout[-4000:]
        written = {diff_path for diff_path in predicted if (site / diff_path.removeprefix(f"{site}/")).exists()}
        assert written == set(predicted)
        assert (site / "alertmanager" / "secrets" / f"webhook-{NEW}.token").stat().st_mode & 0o777 == 0o600
        assert (site / "alertmanager" / "secrets").stat().st_mode & 0o777 == 0o700
        assert _job_exists("autoscale-initech-shop")
        again = run_playbook("playbooks/onboard.yml", "-i", str(overlay), "--check", "--diff")
        assert again.returncode == 0
        assert all(stats["changed"] == 0 for stats in again.stats.values()), again.stats
        # an operator's slip: -l does not choose what to offboard; refused, nothing changed
        slip = run_playbook("playbooks/offboard.yml", "-i", str(overlay), "-l", NEW)
        assert slip.returncode != 0
        refusal = slip.task("Refuse a run without services, an unknown service or an unknown choice", NEW)["msg"]
        assert "-e offboard_services=<service>" in refusal and "-l only narrows a run" in refusal, refusal
        assert _job_exists("autoscale-initech-shop")
        outside = run_playbook(
            "playbooks/offboard.yml", "-i", str(overlay), "-l", "acme-web", "-e", f"offboard_services={NEW}"
        )
        assert outside.returncode != 0
        refusal = outside.task("Refuse a run without services, an unknown service or an unknown choice", "acme-web")[
            "msg"
        ]
        assert f"outside the run's limit (-l acme-web): {NEW}" in refusal, refusal
        assert _job_exists("autoscale-initech-shop")
    finally:
        # the service is not in vCenter or on the F5 pair (offboarding reads its pool): remove its jobs
        for job in ("autoscale-initech-shop", "reconcile-initech-shop"):
            if _job_exists(job):
                assert jenkins("POST", f"/job/{job}/doDelete").status_code in (200, 302)
    assert not _job_exists("autoscale-initech-shop")


def test_the_diff_of_a_threshold_change_shows_the_changed_expression(run_playbook, lab, tmp_path):
    assert run_playbook("playbooks/onboard.yml", "-l", "acme-web").returncode == 0  # its rule file as configured
    rule_file = lab.state / "plg" / "prometheus" / "rules" / "vm_autoscale-acme-web.yml"
    before = rule_file.read_text()
    config = yaml.safe_load((REPO / "inventories" / "lab" / "host_vars" / "acme-web.yml").read_text())
    # acme-web tracks a CPU target: its scale-out threshold is the target plus the tolerance (10 %)
    old = config["autoscale"]["scaling"]["target_tracking"]["cpu_percent"]
    config["autoscale"]["scaling"]["target_tracking"]["cpu_percent"] = old - 10
    overlay = tmp_path / "overlay"
    (overlay / "host_vars").mkdir(parents=True)
    (overlay / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"autoscale_services": {"hosts": {"acme-web": None}}}}})
    )
    (overlay / "host_vars" / "acme-web.yml").write_text(yaml.safe_dump(config))
    checked = run_playbook("playbooks/onboard.yml", "-i", str(overlay), "-l", "acme-web", "--check", "--diff")
    assert checked.returncode == 0, checked.stdout[-4000:]
    (diff,) = _diffs(checked, "Targets and rule files on the PLG host (rule files checked by promtool)")
    assert diff["before_header"] == str(rule_file) == diff["after_header"]
    assert f'vm_autoscale:cpu_percent{{service="acme-web"}} > {old * 1.1:g})' in diff["before"]
    assert f'vm_autoscale:cpu_percent{{service="acme-web"}} > {(old - 10) * 1.1:g})' in diff["after"]
    assert rule_file.read_text() == before


CHECKED = [
    ("playbooks/events.yml",),
    ("playbooks/endpoint_check.yml", "--check"),
    ("playbooks/reconcile.yml", "--check", "--diff"),
    ("playbooks/breaker_reset.yml", "-l", "acme-web", "-e", "reset_reason=check", "--check", "--diff"),
    # a template of another name: the lab's own exist already, and their record is not on this state host
    (
        "playbooks/create_template.yml",
        "-l",
        "acme-web",
        "-e",
        "vm_template_name=tpl-acme-web-next",
        "--check",
        "--diff",
    ),
    ("playbooks/scale_out.yml", "-l", "acme-web", "--check", "--diff"),
    ("playbooks/scale_in.yml", "-l", "acme-web", "--check", "--diff"),
    ("playbooks/autoscale.yml", "-l", "acme-web", "-e", "autoscale_action=scale_out", "--check", "--diff"),
    ("playbooks/offboard.yml", "-e", "offboard_services=acme-web", "--check", "--diff"),
]


def test_every_playbook_checks_on_a_new_site_without_making_anything(run_playbook, prepared, vsphere, tmp_path):
    """The lab's services, as on a site where the autoscaler never ran: no state, no rules, no tokens."""
    site, overlay = _site(tmp_path)
    (overlay / "hosts.yml").write_text("all:\n  vars: {}\n")  # the lab's services only
    (overlay / "host_vars" / f"{NEW}.yml").unlink()
    before = snapshot(prepared, vsphere)
    for command in CHECKED:
        run = run_playbook(command[0], "-i", str(overlay), *command[1:])
        assert run.returncode == 0, (command, _failures(run) or run.stdout[-3000:])
        assert _tree(site) == ["alertmanager", "prometheus", "statehost"], command
    assert snapshot(prepared, vsphere) == before
