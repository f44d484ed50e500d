"""playbooks/endpoint_check.yml against the lab: passes read-only, fails clearly on a wrong object."""

import subprocess

from conftest import REPO
from labclient import PROMETHEUS, plg


def test_passes_without_changing_anything_and_reports_what_it_found(run_playbook, lab):
    run = run_playbook("playbooks/endpoint_check.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    assert run.stats["plg-lab"]["changed"] == 0
    report = run.task("Report what was found")["endpoint_check_report"]

    buildinfo = plg("GET", f"{PROMETHEUS}/api/v1/status/buildinfo").json()
    assert report["prometheus"]["version"] == buildinfo["data"]["version"]
    assert report["vcenter"]["cluster"] == "Cluster-Prod"
    assert report["vcenter"]["hosts"] == 3
    assert report["state_host"]["state_dir"] == str(lab.state / "statehost" / "vm_autoscale")


def test_a_missing_cluster_fails_naming_it_and_the_fix(run_playbook):
    run = run_playbook("playbooks/endpoint_check.yml", "-e", "vcenter_cluster=Cluster-Gone")
    assert run.returncode != 0
    assert "has no cluster 'Cluster-Gone' in datacenter 'DC-Dana'" in run.stdout
    assert "Set vcenter_datacenter and vcenter_cluster" in run.stdout


def test_check_mode_runs_clean(run_playbook):
    run = run_playbook("playbooks/endpoint_check.yml", "--check")
    assert run.returncode == 0, run.stdout[-3000:]
    assert run.stats["plg-lab"]["changed"] == 0


def test_the_vcenter_password_never_reaches_the_output(run_playbook, lab):
    run = run_playbook("playbooks/endpoint_check.yml", "-vvv")
    assert run.returncode == 0
    assert lab.vcenter_password not in run.stdout + run.stderr


def test_syntax_of_every_playbook():
    playbooks = sorted(str(playbook) for playbook in (REPO / "playbooks").glob("*.yml"))
    assert len(playbooks) > 5
    # One ansible-playbook for all of them: it checks each and names the one that fails.
    check = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", "--syntax-check", *playbooks],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, f"{check.stdout}{check.stderr}"
