"""Benchmark of playbooks/onboard.yml for many services, against the lab's real Prometheus and Alertmanager.

Prints figures, asserts nothing (machines are noisy). Run it inside a lab brought up for it:

    lab/lab run -- .venv/bin/python bench/onboard.py [--services 20 100 500] [--forks 20]

For each count it generates an inventory of that many services (each in its own /26 of
198.19.0.0/16, two static members, its own pool), runs onboard.yml (wall time), runs it again
with nothing new (wall time, changed count), then checks that what was rendered still passes
promtool and amtool and that Prometheus loaded one rule group per service.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))
from labctl.plan import load_plan  # noqa: E402 - after the path is set

LAB_INVENTORY = REPO / "inventories" / "lab"


def service(index: int) -> dict:
    third, fourth = divmod(index, 4)
    base = f"198.19.{third}"
    first = fourth * 64
    return {
        "service_id": f"svc-{index:04d}",
        "customer": f"customer-{index:04d}",
        "template": {"name": f"tpl-svc-{index:04d}"},
        "monitoring": {"cpu_threshold": 75, "memory_threshold": 85, "duration_minutes": 2, "rate_window": "30s"},
        "scaling": {"min_instances": 2, "max_instances": 5, "cooldown_seconds": 180},
        "f5": {
            "pool_name": f"svc-{index:04d}-pool",
            "vip": f"{base}.{first + 2}",
            "vip_port": 443,
            "member_port": 8080,
        },
        "network": {
            "subnet": f"{base}.{first}/26",
            "gateway": f"{base}.{first + 1}",
            "port_group": f"pg-svc-{index:04d}",
            "ip_pool_start": f"{base}.{first + 10}",
            "ip_pool_end": f"{base}.{first + 40}",
        },
        "static_members": [
            {"name": f"svc-{index:04d}-01", "ip": f"{base}.{first + 3}"},
            {"name": f"svc-{index:04d}-02", "ip": f"{base}.{first + 4}"},
        ],
    }


def inventory(root: Path, count: int) -> Path:
    """The lab's inventory with ``count`` generated services instead of its two."""
    (root / "host_vars").mkdir(parents=True)
    (root / "group_vars").mkdir()
    (root / "group_vars" / "all").symlink_to(LAB_INVENTORY / "group_vars" / "all")
    (root / "group_vars" / "autoscale_services.yml").symlink_to(LAB_INVENTORY / "group_vars" / "autoscale_services.yml")
    names = [f"svc-{index:04d}" for index in range(count)]
    hosts = {
        "all": {
            "children": {
                "plg": {"hosts": {"plg-lab": None}},
                "state_host": {"hosts": {"plg-lab": None}},
                "autoscale_services": {"hosts": dict.fromkeys(names)},
            }
        }
    }
    (root / "hosts.yml").write_text(yaml.safe_dump(hosts))
    for index, name in enumerate(names):
        (root / "host_vars" / f"{name}.yml").write_text(yaml.safe_dump({"autoscale": service(index)}))
    return root


def onboard(root: Path, forks: int, lab_state: Path) -> tuple[float, dict]:
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_FORKS": str(forks)}
    started = time.monotonic()
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(root), "playbooks/onboard.yml",
         "-e", f"lab_state_dir={lab_state}"],
        cwd=REPO, capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"onboard.yml failed:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}")
    return elapsed, json.loads(proc.stdout)["stats"]


def checks(lab_state: Path, count: int) -> str:
    prometheus_dir = lab_state / "plg" / "prometheus"
    promtool = subprocess.run(
        ["promtool", "check", "config", str(prometheus_dir / "prometheus.yml")], capture_output=True, check=False
    )
    amtool = subprocess.run(
        ["amtool", "check-config", str(lab_state / "plg" / "alertmanager" / "alertmanager.yml")],
        capture_output=True,
        check=False,
    )
    context = ssl.create_default_context(cafile=str(lab_state / "pki" / "ca.pem"))
    # Prometheus's API asks for the lab's API user (basic auth, lab/labctl/plg.py; lab/plan.yml names it).
    user = load_plan().plg["username"]
    password = (lab_state / "secrets" / "plg_password").read_text().strip()
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        "https://198.18.0.40:9090/api/v1/rules", headers={"Authorization": f"Basic {token}"}
    )
    with urllib.request.urlopen(request, context=context, timeout=30) as response:  # noqa: S310 - the lab's https URL
        groups = [g for g in json.load(response)["data"]["groups"] if g["name"].startswith("vm_autoscale-svc-")]
    ok = promtool.returncode == 0 and amtool.returncode == 0 and len(groups) == count
    verdict = "" if ok else "  <-- CHECK"
    promtool_says = "ok" if promtool.returncode == 0 else "FAILED"
    amtool_says = "ok" if amtool.returncode == 0 else "FAILED"
    return f"promtool {promtool_says}, amtool {amtool_says}, rule groups loaded {len(groups)}/{count}{verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--services", type=int, nargs="+", default=[20, 100, 500])
    parser.add_argument("--forks", type=int, default=20)
    options = parser.parse_args()
    lab_state = Path(os.environ.get("VM_AUTOSCALE_LAB", REPO / ".lab" / "state"))
    if not (lab_state / "lab.json").exists():
        raise SystemExit("no lab is running: run this under 'lab/lab run -- .venv/bin/python bench/onboard.py'")
    print(f"onboard.yml benchmark ({os.cpu_count()} CPUs, forks {options.forks}, lab state {lab_state})")
    for count in options.services:
        scratch = Path(tempfile.mkdtemp(prefix="bench-onboard-"))
        try:
            root = inventory(scratch / "inventory", count)
            first, _stats = onboard(root, options.forks, lab_state)
            again, stats = onboard(root, options.forks, lab_state)
            changed = sum(host["changed"] for host in stats.values())
            timings = f"{count:4d} services: onboard {first:6.1f} s, re-run {again:6.1f} s (changed={changed})"
            print(f"{timings}; {checks(lab_state, count)}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
