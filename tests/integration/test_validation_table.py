"""Every class of operator mistake, fed to onboard.yml on the running lab: each is named with its fix.

One table: a new service per case, each with one mistake - an unknown key at some depth, or a
collision with acme-web (onboarded already, so the new service is the one blamed) - added to the
lab's inventory through an overlay. One onboarding run must fail listing every case's message,
and nothing may change: read back from Prometheus's rule and target folders, alertmanager.yml
and its tokens, the Jenkins jobs and the state host. (A missing template is refused by the
scale-out and its dry run: tests/integration/test_template_check.py.)
"""

import copy
import hashlib

import yaml
from conftest import REPO
from labclient import jenkins

ACME = yaml.safe_load((REPO / "inventories" / "lab" / "host_vars" / "acme-web.yml").read_text())["autoscale"]


def new_service(name, octet):
    """A valid service of its own subnet, sharing nothing with the lab's services."""
    net = f"198.18.{octet}"
    return {
        "service_id": name,
        "service_name": name,
        "customer": "table",
        "template": {"name": f"tpl-{name}", "source_vm": f"{name}-01"},
        "monitoring": {"prometheus_job": name},
        "scaling": {"min_instances": 1, "max_instances": 3},
        "f5": {"pool_name": f"{name}-pool", "vip": f"{net}.10", "vip_port": 443, "member_port": 8080},
        "network": {
            "subnet": f"{net}.0/24",
            "gateway": f"{net}.1",
            "port_group": f"pg-{name}",
            "ip_pool_start": f"{net}.100",
            "ip_pool_end": f"{net}.119",
        },
        "static_members": [{"name": f"{name}-01", "ip": f"{net}.11"}],
        "jenkins": {"job_name": f"autoscale-{name}"},
    }


def _set(config, path, value):
    node = config
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    node[last] = value


def in_acme_subnet(pool_start, vip):
    """Changes that put a case's service in acme-web's subnet, with a pool and VIP of its own."""
    return {"network.subnet": "198.18.1.0/24", "network.gateway": "198.18.1.1", "network.ip_pool_start": f"198.18.1.{pool_start}",
            "network.ip_pool_end": f"198.18.1.{pool_start + 9}", "f5.vip": f"198.18.1.{vip}"}  # fmt: skip


def _formatted(value, net):
    """``value`` with "{net}" in its strings replaced by the case's own /24 prefix."""
    if isinstance(value, str):
        return value.replace("{net}", net)
    if isinstance(value, list):
        return [_formatted(item, net) for item in value]
    if isinstance(value, dict):
        return {key: _formatted(item, net) for key, item in value.items()}
    return value


# (case, changes to its new service: {dotted path: value}, the words its message must hold)
CASES = [
    ("typo-section", {"monitorng": {"cpu_threshold": 60}},
     "autoscale.monitorng = {'cpu_threshold': 60}: is not a known field; fix: did you mean autoscale.monitoring?"),
    ("typo-field", {"monitoring.cpu_treshold": 60},
     "autoscale.monitoring.cpu_treshold = 60: is not a known field; fix: did you mean autoscale.monitoring.cpu_threshold?"),
    ("typo-scaling", {"scaling.min_instance": 2}, "did you mean autoscale.scaling.min_instances?"),
    ("typo-member", {"static_members": [{"name": "typo-member-01", "ip": "198.18.43.11", "ipp": "x"}]},
     "autoscale.static_members[0].ipp = 'x': is not a known field; fix: did you mean autoscale.static_members[0].ip?"),
    ("same-pool", {"f5.pool_name": ACME["f5"]["pool_name"]}, "is also the F5 pool of service acme-web"),
    ("same-vip", {"f5.vip": ACME["f5"]["vip"], "f5.vip_port": ACME["f5"]["vip_port"]}, "is also the VIP and port of service acme-web"),
    ("vip-in-pool", {"f5.vip": ACME["network"]["ip_pool_start"]}, "is inside the IP pool of service acme-web"),
    ("member-ip", {**in_acme_subnet(150, 210), "static_members": [{"name": "member-ip-01", "ip": ACME["static_members"][0]["ip"]}]},
     "is also the static member address of service acme-web"),
    ("member-name", {"static_members": [{"name": ACME["static_members"][0]["name"], "ip": "{net}.11"}]},
     "is also the static member of service acme-web"),
    ("member-in-pool", {**in_acme_subnet(160, 211), "static_members": [{"name": "member-in-pool-01", "ip": "198.18.1.110"}]},
     "is inside the IP pool of service acme-web"),
    ("same-job", {"jenkins.job_name": ACME["jenkins"]["job_name"]}, "is also the Jenkins job of service acme-web"),
    ("same-template", {"template.name": ACME["template"]["name"]}, "is also the template of service acme-web, made from another VM"),
    ("pool-overlap", {"network.subnet": "198.18.1.0/24", "network.gateway": "198.18.1.1", "network.ip_pool_start": "198.18.1.115",
                      "network.ip_pool_end": "198.18.1.130", "f5.vip": "198.18.1.200", "static_members": [{"name": "pool-overlap-01", "ip": "198.18.1.201"}]},
     "overlaps the pool of service acme-web"),
]  # fmt: skip


def _overlay(tmp_path):
    overlay = tmp_path / "overlay"
    (overlay / "host_vars").mkdir(parents=True)
    hosts = {}
    for index, (name, changes, _words) in enumerate(CASES):
        config = new_service(name, 40 + index)
        for path, value in changes.items():
            _set(config, path, _formatted(copy.deepcopy(value), f"198.18.{40 + index}"))
        (overlay / "host_vars" / f"{name}.yml").write_text(yaml.safe_dump({"autoscale": config}))
        hosts[name] = None
    (overlay / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"autoscale_services": {"hosts": hosts}}}}))
    # the lab's variables that follow its inventory's folder, for hosts defined in this one
    (overlay / "group_vars").mkdir()
    (overlay / "group_vars" / "all.yml").write_text(yaml.safe_dump({"lab_state_dir": str(REPO / ".lab" / "state")}))
    return overlay


def _systems(lab):
    """What onboarding writes, read back: every file's digest under the PLG and state folders, and the jobs."""
    files = {}
    for folder in (lab.state / "plg" / "prometheus", lab.state / "plg" / "alertmanager", lab.state / "statehost"):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "/data/" not in str(path) and not path.name.endswith(".lock"):
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    jobs = sorted(job["name"] for job in jenkins("GET", "/api/json").json()["jobs"])
    return files, jobs


def _failure(run, task):
    """The message of the task's failure (a run_once task fails on one host)."""
    for play in (run.result or {}).get("plays", []):
        for entry in play["tasks"]:
            if entry["task"]["name"].endswith(task):
                for result in entry["hosts"].values():
                    if result.get("failed"):
                        return result["msg"]
    raise AssertionError(f"no failure of {task!r}: {run.stdout[-3000:]}")


def test_every_mistake_is_named_with_its_fix_and_nothing_changes(run_playbook, lab, onboarded, tmp_path):
    overlay = _overlay(tmp_path)
    before = _systems(lab)
    run = run_playbook("playbooks/onboard.yml", "-i", str(overlay))
    assert run.returncode != 0
    message = _failure(run, "Fail with every problem found")
    lines = message.splitlines()
    assert lines[0] == f"{len(CASES)} problem(s) in the service definitions; nothing was changed:", message
    for name, _changes, words in CASES:
        (line,) = [line for line in lines if line.startswith(f"- service {name}: ")] or [f"(no line for {name})"]
        assert words in line and "fix: " in line, (name, line)
        # the existing, correct service is never the one blamed
        assert not line.startswith("- service acme-web")
    assert _systems(lab) == before

    # -l one of them: only its own problem fails the run; the others' are only reported
    limited = run_playbook("playbooks/onboard.yml", "-i", str(overlay), "-l", "same-pool")
    assert limited.returncode != 0
    failed = _failure(limited, "Fail with every problem found")
    assert failed.startswith("1 problem(s)") and "is also the F5 pool of service acme-web" in failed
    assert _systems(lab) == before
