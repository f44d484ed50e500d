"""autoscale_preflight: every problem in one run, scoped by -l; onboard.yml on the lab.

The first two tests run the role alone against a throw-away inventory of services (no lab);
the last two run playbooks/onboard.yml against the lab.
"""

import json
import os
import subprocess

import yaml
from conftest import REPO


def service(subnet_octet, pool=(100, 150), **overrides):
    net = f"198.18.{subnet_octet}"
    config = {
        "template": {"name": f"tpl-{subnet_octet}"},
        "f5": {"pool_name": f"pool-{subnet_octet}", "vip": f"{net}.10", "vip_port": 443, "member_port": 8080},
        "network": {
            "subnet": f"{net}.0/24",
            "gateway": f"{net}.1",
            "port_group": f"pg-{subnet_octet}",
            "ip_pool_start": f"{net}.{pool[0]}",
            "ip_pool_end": f"{net}.{pool[1]}",
        },
    }
    for key, value in overrides.items():
        config[key] = {**config.get(key, {}), **value}
    return config


def inventory(tmp_path, services):
    root = tmp_path / "inventory"
    (root / "host_vars").mkdir(parents=True)
    hosts = {"all": {"children": {"autoscale_services": {"hosts": dict.fromkeys(services)}}}}
    (root / "hosts.yml").write_text(yaml.safe_dump(hosts))
    for name, config in services.items():
        (root / "host_vars" / f"{name}.yml").write_text(
            yaml.safe_dump({"ansible_connection": "local", "autoscale": config})
        )
    return root


PREFLIGHT = """
- name: Validate the service definitions
  hosts: autoscale_services
  gather_facts: false
  roles:
    - role: danacloud.vm_autoscale.autoscale_preflight
"""


def onboard(root, *args):
    """Run the validation play of onboard.yml (the role alone) against ``root``."""
    playbook = root / "preflight.yml"
    playbook.write_text(PREFLIGHT)
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(root / "hosts.yml"), str(playbook), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    return proc.returncode, json.loads(proc.stdout)


def task_results(document, name):
    for play in document["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].endswith(name):
                return task["hosts"]
    raise KeyError(name)


def test_every_problem_of_every_service_fails_one_run(tmp_path):
    root = inventory(
        tmp_path,
        {
            "shop": service(31, monitoring={"cpu_threshold": 150, "scale_in_cpu_threshold": 90}),
            "blog": service(32, scaling={"min_instances": 6, "max_instances": 3}, f5={"vip": "198.18.32.120"}),
        },
    )
    code, document = onboard(root)
    assert code != 0
    failed = [r for r in task_results(document, "Fail with every problem found").values() if r.get("failed")]
    assert len(failed) == 1  # one failure, listing everything
    message = failed[0]["msg"]
    assert message.startswith("3 problem(s) in the service definitions; nothing was changed:")
    assert "- service shop: autoscale.monitoring.cpu_threshold = 150: is out of range (1-100)" in message
    assert "- service blog: autoscale.scaling.min_instances = 6: is above scaling.max_instances (3)" in message
    assert "- service blog: autoscale.f5.vip = '198.18.32.120': is inside the IP pool" in message


def test_limit_fails_only_for_problems_that_involve_the_limited_services(tmp_path):
    services = {"shop": service(31, monitoring={"cpu_threshold": 0}), "blog": service(32)}
    code, document = onboard(inventory(tmp_path / "a", services), "-l", "blog")
    assert code == 0
    reported = next(iter(task_results(document, "Report problems of services outside this run").values()))
    assert any("service shop: autoscale.monitoring.cpu_threshold = 0" in line for line in reported["msg"])

    # blog's pool now overlaps shop's: a problem that involves blog, even with -l blog
    services["blog"] = service(31, pool=(140, 160), f5={"vip": "198.18.31.11"})
    services["blog"]["network"]["port_group"] = "pg-blog"
    code, document = onboard(inventory(tmp_path / "b", services), "-l", "blog")
    assert code != 0
    failed = next(iter(task_results(document, "Fail with every problem found").values()))
    assert "overlaps the pool of service shop" in failed["msg"]


def test_a_webhook_token_shared_or_malformed_is_refused_and_never_shown(tmp_path):
    services = {"shop": service(31), "blog": service(32), "wiki": service(33)}
    root = inventory(tmp_path, services)
    shared = "one-token-for-two-services-0123"
    for name, token in (("shop", shared), ("blog", shared), ("wiki", "has a space and is long")):
        path = root / "host_vars" / f"{name}.yml"
        path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "jenkins_webhook_token": token}))
    code, document = onboard(root)
    assert code != 0
    message = next(iter(task_results(document, "Fail with every problem found").values()))["msg"]
    assert message.startswith("2 problem(s) in the service definitions; nothing was changed:"), message
    assert "- services blog, shop share one jenkins_webhook_token: give each service its own" in message
    assert "- service wiki: jenkins_webhook_token must be 16 to 256 letters, digits or ._~+/=-" in message
    assert shared not in json.dumps(document) and "has a space" not in json.dumps(document)
    # -l shop: the shared token involves shop, and fails; wiki's token is only reported
    code, document = onboard(root, "-l", "shop")
    message = next(iter(task_results(document, "Fail with every problem found").values()))["msg"]
    assert code != 0 and message.startswith("1 problem(s)") and "share one jenkins_webhook_token" in message


def test_onboarding_the_lab_twice_changes_nothing_the_second_time(run_playbook):
    first = run_playbook("playbooks/onboard.yml")
    assert first.returncode == 0, first.stdout[-3000:]
    again = run_playbook("playbooks/onboard.yml")
    assert again.returncode == 0, again.stdout[-3000:]
    assert all(host["changed"] == 0 for host in again.stats.values()), again.stats


def test_a_broken_definition_fails_in_preflight_and_leaves_monitoring_untouched(run_playbook, onboarded, tmp_path):
    # The files onboarding made (the session's onboarding, fixture onboarded): the failing run
    # below must leave them exactly as they are.
    lab = onboarded
    prometheus_dir = lab.state / "plg" / "prometheus"
    watched = [prometheus_dir / "prometheus.yml", *sorted((prometheus_dir / "rules").glob("*.yml"))]
    watched += sorted((prometheus_dir / "file_sd").glob("*.json"))
    watched.append(lab.state / "plg" / "alertmanager" / "alertmanager.yml")
    names = {path.name for path in watched}
    for service in ("acme-web", "globex-api"):  # both services' files are there to be left alone
        assert {f"vm_autoscale-{service}.yml", f"vm_autoscale-{service}-static.json"} <= names, names
    before = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in watched}

    # A second inventory source overrides globex-api's definition with two mistakes. globex-api
    # is not the first host of the play: the roles run once, on the first host, for all of them.
    broken = yaml.safe_load((REPO / "inventories" / "lab" / "host_vars" / "globex-api.yml").read_text())["autoscale"]
    broken["monitoring"]["cpu_threshold"] = 0
    broken["scaling"]["min_instances"] = 9
    override = tmp_path / "override"
    (override / "host_vars").mkdir(parents=True)
    (override / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"autoscale_services": {"hosts": {"globex-api": None}}}}})
    )
    (override / "host_vars" / "globex-api.yml").write_text(yaml.safe_dump({"autoscale": broken}))

    run = run_playbook("playbooks/onboard.yml", "-i", str(override))
    assert run.returncode != 0
    failure = run.task("Fail with every problem found", "acme-web")
    assert failure["msg"].startswith("2 problem(s) in the service definitions; nothing was changed:")
    assert "service globex-api: autoscale.monitoring.cpu_threshold = 0" in failure["msg"]
    assert "service globex-api: autoscale.scaling.min_instances = 9" in failure["msg"]
    assert [play["play"]["name"] for play in run.result["plays"]] == ["Validate the service definitions"]
    assert {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in watched} == before


def test_a_failing_role_stops_the_roles_after_it(run_playbook, onboarded):
    lab = onboarded
    alertmanager_yml = lab.state / "plg" / "alertmanager" / "alertmanager.yml"
    before = alertmanager_yml.read_bytes()

    # No base configuration for Prometheus: its role refuses; Alertmanager's must not run after it.
    # (The preflight would read Prometheus's default scrape interval, 1m, from the empty base
    # configuration and refuse acme-web's 65 s cooldown first: give it the lab's.)
    run = run_playbook("playbooks/onboard.yml", "-e", '{"prometheus_autoscale_base_config": {}}',
                       "-e", "autoscale_preflight_scrape_interval=2s")  # fmt: skip
    assert run.returncode != 0
    refusal = run.task("Check that the operator's base configuration is given", "acme-web")
    assert refusal["failed"] and "prometheus_autoscale_base_config is empty" in refusal["msg"]
    names = [task["task"]["name"] for play in run.result["plays"] for task in play["tasks"]]
    assert not [name for name in names if "alertmanager_autoscale" in name or "grafana_autoscale" in name], names
    assert alertmanager_yml.read_bytes() == before


def test_alertmanager_refuses_a_base_configuration_without_a_route_before_writing(run_playbook, onboarded):
    lab = onboarded
    alertmanager_dir = lab.state / "plg" / "alertmanager"
    watched = [alertmanager_dir / "alertmanager.yml", *sorted((alertmanager_dir / "secrets").iterdir())]
    assert len(watched) > 1, "no webhook token files: the lab is not onboarded"
    before = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in watched}

    run = run_playbook("playbooks/onboard.yml", "-e", '{"alertmanager_autoscale_base_config": {"global": {}}}')
    assert run.returncode != 0
    refusal = run.task("Check that alertmanager.yml can be made from the base configuration before changing anything",
                       "acme-web")  # fmt: skip
    assert "the base configuration needs a route (with the default receiver)" in refusal["msg"]
    names = [task["task"]["name"] for play in run.result["plays"] for task in play["tasks"]]
    assert not [name for name in names if "grafana_autoscale" in name], names
    assert {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in watched} == before


def test_a_new_service_that_collides_with_an_onboarded_one_is_the_one_blamed(run_playbook, lab, tmp_path):
    """A service added to the lab's inventory (abc-shop, sorting before acme-web) that takes
    acme-web's F5 pool and VIP, with a typo: every problem is reported on abc-shop - acme-web is
    onboarded (its configuration metrics are on the state host) - naming acme-web, and nothing changes."""
    assert run_playbook("playbooks/onboard.yml", "-l", "acme-web").returncode == 0
    new = yaml.safe_load((REPO / "inventories" / "lab" / "host_vars" / "acme-web.yml").read_text())["autoscale"]
    new.update(service_id="abc-shop", service_name="ABC shop", static_members=[], jenkins={})
    new["template"] = {"name": "tpl-abc-shop", "source_vm": "acme-web-01"}
    new["network"] = {"subnet": "198.18.7.0/24", "gateway": "198.18.7.1", "port_group": "pg-abc",
                      "ip_pool_start": "198.18.7.100", "ip_pool_end": "198.18.7.119"}  # fmt: skip
    new["monitoring"]["cpu_treshold"] = 60
    override = tmp_path / "override"
    (override / "host_vars").mkdir(parents=True)
    (override / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"autoscale_services": {"hosts": {"abc-shop": None}}}}})
    )
    (override / "host_vars" / "abc-shop.yml").write_text(
        yaml.safe_dump({"autoscale": new, "jenkins_webhook_token": "abc-shop-token-0123456789"})
    )
    rules = lab.state / "plg" / "prometheus" / "rules"
    before = sorted(path.name for path in rules.glob("*.yml"))

    run = run_playbook("playbooks/onboard.yml", "-i", str(override))
    assert run.returncode != 0
    (message,) = [
        result["msg"]
        for play in run.result["plays"]
        for task in play["tasks"]
        if task["task"]["name"].endswith("Fail with every problem found")
        for result in task["hosts"].values()
        if result.get("failed")
    ]
    lines = message.splitlines()
    assert lines[0] == "3 problem(s) in the service definitions; nothing was changed:", message
    assert "- service abc-shop: autoscale.monitoring.cpu_treshold = 60: is not a known field; fix: did you mean " \
           "autoscale.monitoring.cpu_threshold?" in lines  # fmt: skip
    assert any(line.startswith("- service abc-shop: autoscale.f5.pool_name = 'acme-web-pool': is also the F5 pool "
                               "of service acme-web") for line in lines), message  # fmt: skip
    assert any(line.startswith("- service abc-shop: autoscale.f5.vip = '198.18.1.10:80': is also the VIP and port "
                               "of service acme-web") for line in lines), message  # fmt: skip
    assert not [line for line in lines if line.startswith("- service acme-web")], message
    assert sorted(path.name for path in rules.glob("*.yml")) == before  # nothing was made for abc-shop
