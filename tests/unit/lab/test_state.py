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


def decrypt(tmp_path, paths, variable, *vault_ids):
    """Ask ansible for one variable of the vault file, given the passwords of ``vault_ids`` only."""
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
    (inventory / "hosts.yml").write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    (inventory / "group_vars" / "all" / "vault.yml").write_text(paths.vault_file.read_text())
    identities = [f"--vault-id={v}@{paths.vault_password_file(v)}" for v in vault_ids]
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible")), "-i", str(inventory), "localhost", "-m",
         "ansible.builtin.debug", "-a", f"var={variable}", *identities],
        capture_output=True, text=True, check=False,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip


def test_each_secret_opens_with_its_vault_ids_password_only(tmp_path):
    paths = make_paths(tmp_path)
    paths.state.mkdir(parents=True)
    created = generate_secrets(paths, {"vault_vcenter_username": "administrator@vsphere.local"})

    vault_text = paths.vault_file.read_text()
    data = yaml.safe_load(vault_text.replace("!vault |", "|"))  # the values as stored: vault strings
    assert data["vault_vcenter_username"] == "administrator@vsphere.local"
    for secret in created.values():
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    runtime = ("vcenter_password", "f5_password", "plg_password")
    for name in (*runtime, "jenkins_password", "jenkins_api_token"):
        secret = created[name].read_text().strip()
        assert secret not in vault_text
        vault_id = "runtime" if name in runtime else "admin"
        assert data[f"vault_{name}"].startswith(f"$ANSIBLE_VAULT;1.2;AES256;{vault_id}\n")

    # What a pipeline build holds (the runtime password) opens the runtime accounts, and not the
    # Jenkins API token; with both passwords, as an operator, everything opens.
    opened = decrypt(tmp_path, paths, "vault_vcenter_password", "runtime")
    assert opened.returncode == 0 and created["vcenter_password"].read_text().strip() in opened.stdout, opened.stderr
    refused = decrypt(tmp_path, paths, "vault_jenkins_api_token", "runtime")
    assert created["jenkins_api_token"].read_text().strip() not in refused.stdout + refused.stderr
    assert refused.returncode != 0 and "Decryption failed" in refused.stdout + refused.stderr, refused.stdout
    both = decrypt(tmp_path, paths, "vault_jenkins_api_token", "runtime", "admin")
    assert both.returncode == 0 and created["jenkins_api_token"].read_text().strip() in both.stdout


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
    (paths.state / "secrets" / "vault-password-runtime").write_text("old secret")
    fresh_state(paths)
    assert list(paths.state.iterdir()) == []
    assert (paths.root / "previous-logs" / "vcsim.log").read_text() == "old run"
