"""What a pipeline build holds, on the lab: jenkins/autoscale.sh run as Jenkins runs it - the
runtime vault password only, and the vCenter, F5 and PLG accounts in its environment. It works;
it cannot read an admin secret (the Jenkins API token); and killed half-way with SIGKILL it
leaves no file holding a credential."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import REPO
from labclient import PATHS, secret, wait_for
from labctl.plan import load_plan

# A notification for acme-web that asks nothing: the playbook reads it, checks it, records why it
# does nothing, and ends green - a whole build without a scale action.
LABELS = {"alertname": "VmAutoscaleScaleOut", "service": "acme-web", "vm_autoscale": "action",
          "autoscale_action": "scale_out"}  # fmt: skip
RESOLVED = {"status": "resolved", "commonLabels": LABELS, "alerts": [
    {"status": "resolved", "labels": LABELS, "fingerprint": "0123456789abcdef", "startsAt": "2026-11-22T10:00:00Z"}]}  # fmt: skip


def build_env(workspace_tmp: Path, tag: str, payload: dict) -> dict:
    """The environment a build of autoscale-acme-web gets: the agent's (no vault identities), the
    webhook's variables, and what withCredentials binds."""
    plan = load_plan()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_VAULT")}
    return {
        **env,
        "AUTOSCALE_SERVICE": "acme-web",
        "AM_PAYLOAD": json.dumps(payload),
        "VM_AUTOSCALE_INVENTORY": "inventories/lab",
        "WORKSPACE_TMP": str(workspace_tmp),
        "BUILD_TAG": tag,
        "VM_AUTOSCALE_VAULT_PASSWORD_FILE": str(PATHS.vault_password_file("runtime")),
        "VM_AUTOSCALE_VCENTER_USERNAME": plan.vsphere["username"],
        "VM_AUTOSCALE_VCENTER_PASSWORD": secret("vcenter_password"),
        "VM_AUTOSCALE_F5_USERNAME": plan.f5["username"],
        "VM_AUTOSCALE_F5_PASSWORD": secret("f5_password"),
        "VM_AUTOSCALE_PLG_USERNAME": plan.plg["username"],
        "VM_AUTOSCALE_PLG_PASSWORD": secret("plg_password"),
    }


def files_holding_a_secret(*folders: Path) -> list[str]:
    values = [secret(name) for name in ("vcenter_password", "f5_password", "plg_password", "jenkins_api_token")]
    values.append(PATHS.vault_password_file("runtime").read_text().strip())
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and any(value in path.read_text(errors="replace") for value in values):
                found.append(str(path))
    return found


def test_a_build_runs_with_the_runtime_password_only_and_cannot_read_admin_secrets(prepared, tmp_path):
    tag = f"secrets-test-{int(time.time())}"
    done = subprocess.run(["jenkins/autoscale.sh"], cwd=REPO, env=build_env(tmp_path, tag, RESOLVED),
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    summary_file = REPO / "autoscale-result" / f"{tag}.json"
    summary = json.loads(summary_file.read_text())
    summary_file.unlink()
    assert summary["decision"] == "" and "resolved" in summary["reason"], summary
    assert files_holding_a_secret(tmp_path, REPO / "autoscale-result") == []

    # What the build holds opens the runtime accounts and not the Jenkins API token.
    env = build_env(tmp_path, tag, RESOLVED)
    identity = f"--vault-id=runtime@{env['VM_AUTOSCALE_VAULT_PASSWORD_FILE']}"
    ask = ["ansible", "-i", "inventories/lab", "plg-lab", "-m", "ansible.builtin.debug", identity, "-a"]
    runtime = subprocess.run([*ask, "var=f5_password"], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert runtime.returncode == 0 and secret("f5_password") in runtime.stdout, runtime.stdout + runtime.stderr
    admin = subprocess.run(
        [*ask, "var=jenkins_api_token"], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert admin.returncode != 0 and secret("jenkins_api_token") not in admin.stdout + admin.stderr
    assert "Decryption failed" in admin.stdout + admin.stderr, admin.stdout


def test_a_build_killed_half_way_leaves_no_credential_file(prepared, tmp_path):
    tag = f"secrets-kill-{int(time.time())}"
    process = subprocess.Popen(["jenkins/autoscale.sh"], cwd=REPO, env=build_env(tmp_path, tag, RESOLVED),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        # killed while ansible-playbook runs: its work folder exists (the payload is written)
        wait_for(lambda: list(tmp_path.glob("autoscale.*/payload.json")), 60, "the build's work folder")
        time.sleep(1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # no trap runs: what is on disk stays
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert list(tmp_path.glob("autoscale.*")), "the kill came too late to prove anything"
    assert files_holding_a_secret(tmp_path) == []
