"""The guest simulator: VMs in vcsim come alive on their lab IP, Prometheus scrapes them, the
load they see follows the F5 pool, and deleted VMs stop answering."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests
import yaml
from labclient import PATHS, PROMETHEUS, emulator, f5, find_vm, plg, wait_for
from labctl import vcsim
from pyVmomi import vim

REPO = PATHS.repo
CLONE_IP = "198.18.1.150"


def answers(url: str) -> int | None:
    try:
        return requests.get(url, timeout=1).status_code
    except requests.RequestException:
        return None


def guest(name: str) -> dict | None:
    return next((g for g in emulator("guests", "GET", "/guests") if g["name"] == name), None)


def prometheus_query(query: str) -> list:
    answer = plg("GET", f"{PROMETHEUS}/api/v1/query", params={"query": query}).json()
    return answer["data"]["result"]


@pytest.fixture
def scrape_job():
    """A file_sd scrape job for this test, removed afterwards (the roles own the real ones)."""
    prom_dir = PATHS.plg / "prometheus"
    config_path = prom_dir / "prometheus.yml"
    targets = prom_dir / "file_sd" / "lab-guests-test.json"
    original = config_path.read_text()
    config = yaml.safe_load(original)
    config["scrape_configs"].append({"job_name": "lab-guests-test", "file_sd_configs": [{"files": [str(targets)]}]})
    config_path.write_text(yaml.safe_dump(config))

    def reload() -> int:
        return plg("POST", f"{PROMETHEUS}/-/reload").status_code

    assert reload() == 200
    yield targets
    config_path.write_text(original)
    targets.unlink(missing_ok=True)
    assert reload() == 200


def test_a_cloned_vm_boots_is_scraped_and_disappears_when_deleted(vsphere, scrape_job):
    source = find_vm(vsphere, "acme-web-01")
    extra = [
        vim.option.OptionValue(key="guestinfo.vm_autoscale.ip", value=CLONE_IP),
        vim.option.OptionValue(key="guestinfo.vm_autoscale.service", value="acme-web"),
    ]
    spec = vim.vm.CloneSpec(location=vim.vm.RelocateSpec(), powerOn=False)
    vcsim.wait_for_task(source.CloneVM_Task(folder=source.parent, name="acme-web-guest-test", spec=spec), "clone")
    clone = find_vm(vsphere, "acme-web-guest-test")
    try:
        # As vmware_guest does: give the clone its own identity, then power it on.
        vcsim.wait_for_task(clone.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=extra)), "reconfigure")
        vcsim.wait_for_task(clone.PowerOnVM_Task(), "power on")
        assert answers(f"http://{CLONE_IP}/health") is None, "answered before its boot delay"
        wait_for(lambda: answers(f"http://{CLONE_IP}/health") == 200, 20, "the clone's /health")
        assert guest("acme-web-guest-test")["booted"]
        metrics = requests.get(f"http://{CLONE_IP}:9100/metrics", timeout=2).text
        assert 'node_cpu_seconds_total{cpu="0",mode="idle"}' in metrics and "node_memory_MemTotal_bytes" in metrics

        scrape_job.write_text(json.dumps([{"targets": [f"{CLONE_IP}:9100"], "labels": {"service": "acme-web"}}]))
        wait_for(lambda: prometheus_query(f'up{{instance="{CLONE_IP}:9100"}} == 1'), 30, "Prometheus to scrape it")
        cpu = prometheus_query(f'node_cpu_seconds_total{{instance="{CLONE_IP}:9100",mode="idle"}}')
        assert cpu and cpu[0]["metric"]["service"] == "acme-web"
    finally:
        if clone.runtime.powerState == "poweredOn":
            vcsim.wait_for_task(clone.PowerOffVM_Task(), "power off")
        vcsim.wait_for_task(clone.Destroy_Task(), "delete")
    wait_for(lambda: answers(f"http://{CLONE_IP}/health") is None, 10, "the deleted VM to stop answering")
    assert guest("acme-web-guest-test") is None
    wait_for(lambda: prometheus_query(f'up{{instance="{CLONE_IP}:9100"}} == 0'), 30, "the target to go down")


def load(*args: str) -> str:
    return subprocess.run([str(REPO / "lab" / "load"), *args], capture_output=True, text=True, check=True).stdout


def test_demand_is_shared_by_the_members_the_f5_has_enabled_and_drains(lab):
    # The operator's pool the lab seeds (lab/labctl/f5seed.py), with both static members.
    member = "/mgmt/tm/ltm/pool/~Common~acme-web-pool/members/~Common~198.18.1.12:80"
    assert f5("GET", member).json()["session"] == "monitor-enabled"
    try:
        assert load("acme-web", "100").strip() == "acme-web: demand 100%"
        assert load("acme-web").strip() == "acme-web: demand 100%"
        wait_for(
            lambda: guest("acme-web-01")["cpu_percent"] == 53.0 and guest("acme-web-02")["cpu_percent"] == 53.0,
            15,
            "the demand shared by two members",
        )
        assert f5("PATCH", member, json={"session": "user-disabled"}).status_code == 200
        wait_for(
            lambda: guest("acme-web-01")["cpu_percent"] == 100.0 and guest("acme-web-02")["cpu_percent"] == 3.0,
            15,
            "all the demand on the one enabled member",
        )

        def connections() -> int:
            [entry] = f5("GET", f"{member}/stats").json()["entries"].values()
            return entry["nestedStats"]["entries"]["serverside.curConns"]["value"]

        assert connections() > 0, "a member that served load holds connections when it is disabled"
        wait_for(lambda: connections() == 0, 30, "the disabled member's connections to drain")
    finally:
        load("acme-web", "0")
        f5("PATCH", member, json={"session": "user-enabled"})


def test_a_vm_switched_unhealthy_answers_503(lab):
    try:
        load("--vm", "globex-api-01", "unhealthy")
        wait_for(lambda: answers("http://198.18.2.11:8080/healthz") == 503, 15, "the unhealthy guest")
        assert answers("http://198.18.2.12:8080/healthz") == 200
    finally:
        load("--vm", "globex-api-01", "healthy")
    assert answers("http://198.18.2.11:8080/healthz") == 200
