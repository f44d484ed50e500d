"""How the lab starts its emulators: the F5 pair, Jenkins, and the guest simulator.

Each runs as its own Python process (``python -m labctl.<name> CONFIG.json``) supervised like the
real daemons, with its configuration written to the state folder (mode 0600: it names secret
files) and a control socket at ``<state>/<name>/control.sock``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from . import https
from .httpd import ControlError, control
from .pki import ServerCert
from .plan import Plan
from .procs import Daemon
from .state import Paths, client_environment


def control_socket(paths: Paths, name: str) -> Path:
    return paths.state / name / "control.sock"


def _write_config(paths: Paths, name: str, config: dict) -> Path:
    folder = paths.state / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(config, out, indent=2)
    return path


def _module_daemon(paths: Paths, name: str, module: str, config: Path, *, ready, describe: str, env=None) -> Daemon:
    return Daemon(
        name=name,
        argv=[sys.executable, "-m", f"labctl.{module}", str(config)],
        env={"PYTHONPATH": str(paths.repo / "lab"), "PYTHONUNBUFFERED": "1", **(env or {})},
        ready=ready,
        describe=describe,
    )


def _control_ready(socket_path: Path, path: str):
    def ready() -> bool:
        try:
            control(socket_path, "GET", path, timeout=2)
        except ControlError:
            return False
        return True

    return ready


def f5_daemon(plan: Plan, paths: Paths, cert: ServerCert, password_file: Path) -> Daemon:
    f5 = plan.f5
    socket_path = control_socket(paths, "f5")
    config = _write_config(paths, "f5", {
        "version": f5["version"],
        "device_group": f5["device_group"],
        "sync": f5.get("sync"),
        "username": f5["username"],
        "password_file": str(password_file),
        "devices": f5["devices"],
        "cert": str(cert.cert),
        "key": str(cert.key),
        "state_dir": str(paths.state / "f5"),
        "control_socket": str(socket_path),
    })  # fmt: skip
    ca = paths.pki / "ca.pem"

    def ready() -> bool:
        # Every device answers (401 without credentials, as a real one does) and the control socket is up.
        return (
            all(https.get(f"https://{d['address']}:{d['port']}/mgmt/tm/sys", ca)[0] == 401 for d in f5["devices"])
            and _control_ready(socket_path, "/devices")()
        )

    where = ", ".join(f"{d['name']} https://{d['address']}:{d['port']}/mgmt/tm" for d in f5["devices"])
    return _module_daemon(paths, "f5", "bigip", config, ready=ready, describe=f"{where} (control: {socket_path})")


def f5_certificate_names(plan: Plan) -> tuple[list[str], list[str]]:
    devices = plan.f5["devices"]
    return [d["hostname"] for d in devices], [d["address"] for d in devices]


def jenkins_daemon(plan: Plan, paths: Paths, cert: ServerCert, password_file: Path, token_file: Path) -> Daemon:
    jenkins = plan.jenkins
    socket_path = control_socket(paths, "jenkins")
    url = (
        f"https://{jenkins['address']}:{jenkins['port']}/"
        if jenkins["port"] != 443
        else f"https://{jenkins['address']}/"
    )
    # A build runs with what a Jenkins agent of the lab has: the lab's client environment, the
    # site's inventory and Alertmanager (global properties of a real Jenkins). No vault password is
    # in it: pipelines get the runtime one (never the admin one), and the vCenter, F5 and PLG
    # accounts, from Jenkins's credentials (docs/security.md).
    build_env = {k: v for k, v in client_environment(paths).items() if not k.startswith("ANSIBLE_VAULT")}
    plg = plan.raw["infrastructure"]["plg"]
    build_env["VM_AUTOSCALE_INVENTORY"] = "inventories/lab"
    build_env["VM_AUTOSCALE_ALERTMANAGER_URL"] = f"https://{plg['address']}:{plg['alertmanager_port']}"
    credentials = {
        "vm-autoscale-vault-password": {"type": "file", "path": str(paths.vault_password_file("runtime"))},
        "vm-autoscale-vcenter": {"type": "usernamePassword", "username": plan.vsphere["username"],
                                 "password_file": str(paths.secrets / "vcenter_password")},
        "vm-autoscale-f5": {"type": "usernamePassword", "username": plan.f5["username"],
                            "password_file": str(paths.secrets / "f5_password")},
        "vm-autoscale-plg": {"type": "usernamePassword", "username": plan.plg["username"],
                             "password_file": str(paths.secrets / "plg_password")},
    }  # fmt: skip
    config = _write_config(paths, "jenkins", {
        "url": url,
        "address": jenkins["address"],
        "port": jenkins["port"],
        "username": jenkins["username"],
        "password_file": str(password_file),
        "api_token_file": str(token_file),
        "quiet_period": jenkins["quiet_period"],
        "executors": jenkins["executors"],
        "home": str(paths.state / "jenkins"),
        "cert": str(cert.cert),
        "key": str(cert.key),
        "control_socket": str(socket_path),
        "build_env": build_env,
        "credentials": credentials,
    })  # fmt: skip
    ca = paths.pki / "ca.pem"

    def ready() -> bool:
        return https.get(f"{url}api/json", ca)[0] == 403 and _control_ready(socket_path, "/status")()

    return _module_daemon(paths, "jenkins", "jenkins", config, ready=ready, describe=f"{url} (control: {socket_path})")


def guests_daemon(plan: Plan, paths: Paths, password_file: Path) -> Daemon:
    socket_path = control_socket(paths, "guests")
    config = _write_config(paths, "guests", {
        "vcenter": {
            "address": plan.vcenter["address"],
            "port": plan.vcenter["port"],
            "username": plan.vsphere["username"],
            "password_file": str(password_file),
        },
        "ca": str(paths.pki / "ca.pem"),
        "guests": plan.guests,
        "services": {s.name: {"port": s.member_port, "health_path": s.health_path} for s in plan.services},
        "f5_control_socket": str(control_socket(paths, "f5")),
        "state_file": str(paths.state / "guests" / "state.json"),
        "control_socket": str(socket_path),
    })  # fmt: skip
    return _module_daemon(
        paths,
        "guests",
        "guests",
        config,
        ready=_control_ready(socket_path, "/demand"),
        describe=f"guests of VMs with guestinfo.vm_autoscale.ip, boot delay {plan.guests['boot_delay']}s "
        f"(control: {socket_path}; set load with lab/load)",
    )
