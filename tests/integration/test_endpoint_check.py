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


def test_a_state_folder_not_made_yet_passes_when_it_can_be_made(run_playbook, tmp_path):
    """A new site: the folders are made by onboarding; only a folder that cannot be made fails."""
    new = tmp_path / "new-site"
    new.mkdir()
    folders = ("-e", f"vm_autoscale_state_dir={new}/vm_autoscale", "-e", f"vm_autoscale_textfile_dir={new}/textfile")
    run = run_playbook("playbooks/endpoint_check.yml", "--check", *folders)
    assert run.returncode == 0, run.stdout[-3000:]
    report = run.task("Report what was found")["endpoint_check_report"]
    assert report["state_host"]["made_at_onboarding"] == [f"{new}/vm_autoscale", f"{new}/textfile"]
    assert sorted(new.iterdir()) == []

    gone = tmp_path / "no-such-folder" / "vm_autoscale"
    refused = run_playbook("playbooks/endpoint_check.yml", "-e", f"vm_autoscale_state_dir={gone}")
    assert refused.returncode != 0
    assert f"{gone} on plg-lab is missing, and {gone.parent} where it would be made is missing" in refused.stdout
