"""Where the lab keeps its files, and the throw-away secrets it generates at every start."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .plan import REPO


class SecretsError(RuntimeError):
    """The lab's secrets could not be generated."""


@dataclass(frozen=True)
class Paths:
    repo: Path
    root: Path  # <repo>/.lab: build outputs survive a lab's teardown, state does not

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def build(self) -> Path:
        return self.root / "build"

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def secrets(self) -> Path:
        return self.state / "secrets"

    def vault_password_file(self, vault_id: str = "runtime") -> Path:
        """The password file of one vault id (VAULT_IDS): runtime accounts, or administration."""
        return self.secrets / f"vault-password-{vault_id}"

    @property
    def plg(self) -> Path:
        return self.state / "plg"

    @property
    def statehost(self) -> Path:
        return self.state / "statehost"

    @property
    def info(self) -> Path:
        return self.state / "lab.json"

    @property
    def holder_status(self) -> Path:
        """Where the namespace holder writes the exit status of the 'up' it ran."""
        return self.root / "netns-holder.status"

    @property
    def vault_file(self) -> Path:
        return self.repo / "inventories" / "lab" / "group_vars" / "all" / "vault.yml"


def default_paths() -> Paths:
    return Paths(repo=REPO, root=REPO / ".lab")


def fresh_state(paths: Paths) -> None:
    """Start from an empty state folder, keeping the logs of the previous run for inspection."""
    if paths.state.exists():
        previous = paths.root / "previous-logs"
        shutil.rmtree(previous, ignore_errors=True)
        if (paths.state / "logs").is_dir():
            shutil.move(str(paths.state / "logs"), previous)
        shutil.rmtree(paths.state)
    paths.state.mkdir(parents=True)


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")


# The lab's throw-away credentials: secret file name -> (vault variable, vault id). Secrets are
# split by who needs them (docs/security.md): "runtime" holds the accounts a scale action uses
# (vCenter, F5, Prometheus's API) - what a pipeline build may decrypt -, "admin" what only
# onboarding and operators use (Jenkins's account and API token).
VAULT_IDS = ("runtime", "admin")
SECRETS = {
    "vcenter_password": ("vault_vcenter_password", "runtime"),
    "f5_password": ("vault_f5_password", "runtime"),
    "plg_password": ("vault_plg_password", "runtime"),
    "jenkins_password": ("vault_jenkins_password", "admin"),
    "jenkins_api_token": ("vault_jenkins_api_token", "admin"),
}


# Encrypts [[value, vault id, password], ...] read from stdin into inline vault strings, with
# ansible's own VaultLib (what ansible-vault encrypt_string does), in a child process: importing
# ansible's controller code into the lab's process would change how its modules report warnings.
_ENCRYPT = """
import json, sys
from ansible.parsing.vault import VaultLib, VaultSecret
out = []
for value, vault_id, password in json.load(sys.stdin):
    secret = VaultSecret(password.encode())
    out.append(VaultLib([(vault_id, secret)]).encrypt(value, secret, vault_id).decode())
json.dump(out, sys.stdout)
"""


def _encrypt(items: list) -> list:
    """Inline vault strings of ``[(value, vault id, password), ...]``; secrets go through a pipe only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_VAULT")}
    done = subprocess.run(
        [sys.executable, "-c", _ENCRYPT], input=json.dumps(items), capture_output=True, text=True, check=False, env=env
    )
    if done.returncode != 0:
        raise SecretsError(f"encrypting the lab's vault failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def generate_secrets(paths: Paths, usernames: dict[str, str]) -> dict[str, Path]:
    """Generate this run's secrets and the inventory's vault file that carries them.

    ``usernames`` maps vault variable names to the (not secret) user names kept next to their
    passwords, e.g. ``{"vault_vcenter_username": "administrator@vsphere.local"}``.

    The vault file (inventories/lab/group_vars/all/vault.yml, git-ignored) holds each secret as an
    inline vault string of its vault id (SECRETS), each id with its own password that exists only
    in the state folder. Ansible decrypts an inline value only when it is used, so a run given the
    runtime password alone (a pipeline build) works, and cannot read an admin secret.
    'lab/lab exec' exports ANSIBLE_VAULT_IDENTITY_LIST with both, as an operator's shell would.
    """
    created = {}
    passwords = {}
    for vault_id in VAULT_IDS:
        path = paths.vault_password_file(vault_id)
        _write_secret(path, secrets.token_urlsafe(32))
        created[f"vault_password_{vault_id}"] = path
        passwords[vault_id] = path.read_text().strip()
    lines = ["---", "# Generated by lab/lab up for this lab run only. Each secret is encrypted with the password",
             "# of its vault id: runtime (what a pipeline build may decrypt) or admin (docs/security.md)."]  # fmt: skip
    for key, value in usernames.items():
        lines.append(f"{key}: {json.dumps(value)}")
    items = []
    for name, (_variable, vault_id) in SECRETS.items():
        path = paths.secrets / name
        _write_secret(path, secrets.token_urlsafe(24))
        created[name] = path
        items.append((path.read_text().strip(), vault_id, passwords[vault_id]))
    for (variable, _vault_id), encrypted in zip(SECRETS.values(), _encrypt(items), strict=True):
        lines.append(f"{variable}: !vault |")
        lines.extend(f"  {line}" for line in encrypted.splitlines())
    paths.vault_file.write_text("\n".join(lines) + "\n")
    return created


def remove_secrets(paths: Paths) -> None:
    """The secrets were for one run only: delete them, and the vault file they open."""
    for name in SECRETS:
        (paths.secrets / name).unlink(missing_ok=True)
    for secret in (*(paths.vault_password_file(vault_id) for vault_id in VAULT_IDS), paths.vault_file):
        secret.unlink(missing_ok=True)


def client_environment(paths: Paths) -> dict[str, str]:
    """What a client of the lab (ansible-playbook, pytest, a shell) needs in its environment."""
    ca = str(paths.pki / "ca.pem")
    venv_bin = str(Path(sys.executable).parent)
    env = {
        "VM_AUTOSCALE_LAB": str(paths.state),
        "SSL_CERT_FILE": ca,
        "REQUESTS_CA_BUNDLE": ca,
        "F5_TELEMETRY_OFF": "true",
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
    }
    # Only while a lab runs: ansible refuses to start when a named file is missing.
    identities = [f"{vault_id}@{paths.vault_password_file(vault_id)}" for vault_id in VAULT_IDS]
    if all(paths.vault_password_file(vault_id).exists() for vault_id in VAULT_IDS):
        env["ANSIBLE_VAULT_IDENTITY_LIST"] = ",".join(identities)
    return env
