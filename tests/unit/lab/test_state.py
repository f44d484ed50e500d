"""The lab's throw-away secrets: generated per run, encrypted in the inventory, never in clear."""

import stat
import subprocess
import sys
from pathlib import Path

import yaml
from labctl.state import Paths, fresh_state, generate_secrets


def make_paths(tmp_path: Path) -> Paths:
    (tmp_path / "repo" / "inventories" / "lab" / "group_vars" / "all").mkdir(parents=True)
    return Paths(repo=tmp_path / "repo", root=tmp_path / "repo" / ".lab")


def test_vault_file_is_encrypted_and_opens_with_the_runs_password(tmp_path):
    paths = make_paths(tmp_path)
    paths.state.mkdir(parents=True)
    created = generate_secrets(paths, {"vault_vcenter_username": "administrator@vsphere.local"})

    password = created["vcenter_password"].read_text().strip()
    vault_text = paths.vault_file.read_text()
    assert vault_text.startswith("$ANSIBLE_VAULT;1.1;AES256")
    assert password not in vault_text
    for secret in created.values():
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600

    view = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-vault")), "view", "--vault-password-file",
         str(created["vault_password"]), str(paths.vault_file)],
        capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    data = yaml.safe_load(view.stdout)
    assert data["vault_vcenter_username"] == "administrator@vsphere.local"
    assert data["vault_vcenter_password"] == password
    for name in ("f5_password", "jenkins_password", "jenkins_api_token"):
        secret = created[name].read_text().strip()
        assert data[f"vault_{name}"] == secret
        assert secret not in vault_text


def test_every_run_gets_new_secrets(tmp_path):
    paths = make_paths(tmp_path)
    paths.state.mkdir(parents=True)
    first = generate_secrets(paths, {})["vcenter_password"].read_text()
    second = generate_secrets(paths, {})["vcenter_password"].read_text()
    assert first != second


def test_fresh_state_keeps_the_previous_logs_only(tmp_path):
    paths = make_paths(tmp_path)
    (paths.state / "logs").mkdir(parents=True)
    (paths.state / "logs" / "vcsim.log").write_text("old run")
    (paths.state / "secrets").mkdir()
    (paths.state / "secrets" / "vault-password").write_text("old secret")
    fresh_state(paths)
    assert list(paths.state.iterdir()) == []
    assert (paths.root / "previous-logs" / "vcsim.log").read_text() == "old run"
