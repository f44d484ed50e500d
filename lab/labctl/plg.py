"""The PLG host of the lab: Debian's Prometheus, Alertmanager and node_exporter, with TLS.

Each daemon has its own data folder under the lab state, listens on the PLG host's lab address
only, has --web.external-url set (or payload links would name this machine), and serves HTTPS
with a certificate of the lab CA. Prometheus's and Alertmanager's APIs (query, posting alerts,
reload, even readiness) also need basic auth, as docs/security.md asks of a real PLG host: their
web configuration holds the bcrypt hash of the user's generated password; Prometheus sends the
password (from its file) to Alertmanager and to its own scrape. The configurations written here
are the operator's starting point; the collection's roles manage the autoscaling parts of them
later.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import bcrypt
import yaml

from . import https
from .pki import ServerCert
from .plan import Plan
from .procs import Daemon
from .state import Paths

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
PROMTOOL = "/usr/bin/promtool"
AMTOOL = "/usr/bin/amtool"

HEADER = "# Written by lab/lab up: the lab PLG host's initial configuration.\n"


class ConfigError(RuntimeError):
    """A generated configuration was refused by the tool's own checker."""


def _dump(path: Path, data: dict) -> None:
    path.write_text(HEADER + yaml.safe_dump(data, sort_keys=False))


def _check(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")


def prometheus_config(plan: Plan, paths: Paths) -> dict:
    plg = plan.plg
    ca = str(paths.pki / "ca.pem")
    tls = {"ca_file": ca}
    auth = {"username": plg["username"], "password_file": str(paths.secrets / "plg_password")}
    prom_dir = paths.plg / "prometheus"
    return {
        "global": {
            "scrape_interval": plan.monitoring["scrape_interval"],
            "evaluation_interval": plan.monitoring["evaluation_interval"],
            "external_labels": {"site": "lab"},
        },
        "alerting": {
            "alertmanagers": [
                {
                    "scheme": "https",
                    "tls_config": tls,
                    "basic_auth": auth,
                    "static_configs": [{"targets": [f"{plg['address']}:{plg['alertmanager_port']}"]}],
                }
            ]
        },
        "rule_files": [str(prom_dir / "rules" / "*.yml")],
        "scrape_configs": [
            {
                "job_name": "prometheus",
                # Its own 390 series at the interval of Debian's configuration, not at the lab's
                # short one (which the alert windows need): nothing here reads them quickly, and
                # ingesting them every 2 s was a third of what Prometheus cost the lab.
                "scrape_interval": "15s",
                "scheme": "https",
                "tls_config": tls,
                "basic_auth": auth,
                "static_configs": [{"targets": [f"{plg['address']}:{plg['prometheus_port']}"]}],
            },
            {
                "job_name": "plg-node",
                "scheme": "https",
                "tls_config": tls,
                "static_configs": [{"targets": [f"{plg['address']}:{plg['node_exporter_port']}"]}],
            },
        ],
    }


def alertmanager_config() -> dict:
    # A receiver without integrations drops what reaches it: the operator's own routes and
    # receivers go here; the alertmanager_autoscale role adds one route per service before them.
    return {
        "route": {
            "receiver": "operators",
            "group_by": ["alertname", "service"],
            "group_wait": "1s",
            "group_interval": "5s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "operators"}],
    }


def write_configs(plan: Plan, paths: Paths, cert: ServerCert, password_file: Path) -> dict[str, Path]:
    prom_dir = paths.plg / "prometheus"
    am_dir = paths.plg / "alertmanager"
    textfile = paths.statehost / "textfile"
    for folder in (prom_dir / "rules", prom_dir / "file_sd", prom_dir / "data", am_dir / "data", textfile):
        folder.mkdir(parents=True, exist_ok=True)
    (paths.statehost / "vm_autoscale").mkdir(parents=True, exist_ok=True)

    tls = {"cert_file": str(cert.cert), "key_file": str(cert.key)}
    hashed = bcrypt.hashpw(password_file.read_text().strip().encode(), bcrypt.gensalt(rounds=10)).decode()
    web_config = paths.plg / "web-config.yml"  # Prometheus and Alertmanager: TLS and basic auth
    _dump(web_config, {"tls_server_config": tls, "basic_auth_users": {plan.plg["username"]: hashed}})
    node_web_config = paths.plg / "node-web-config.yml"  # node_exporter: TLS (it serves metrics only)
    _dump(node_web_config, {"tls_server_config": tls})
    prometheus_yml = prom_dir / "prometheus.yml"
    _dump(prometheus_yml, prometheus_config(plan, paths))
    # The operator's own configuration, which the prometheus_autoscale role renders prometheus.yml
    # from (the lab inventory reads it into prometheus_autoscale_base_config).
    _dump(prom_dir / "base.yml", prometheus_config(plan, paths))
    alertmanager_yml = am_dir / "alertmanager.yml"
    _dump(alertmanager_yml, alertmanager_config())
    _dump(am_dir / "base.yml", alertmanager_config())  # read by the lab inventory, as base.yml above

    _check([PROMTOOL, "check", "config", str(prometheus_yml)])
    _check([PROMTOOL, "check", "web-config", str(web_config), str(node_web_config)])
    _check([AMTOOL, "check-config", str(alertmanager_yml)])
    return {
        "web_config": web_config,
        "node_web_config": node_web_config,
        "prometheus": prometheus_yml,
        "alertmanager": alertmanager_yml,
        "textfile": textfile,
    }


def daemons(plan: Plan, paths: Paths, files: dict[str, Path], password_file: Path) -> list[Daemon]:
    plg = plan.plg
    ca = paths.pki / "ca.pem"
    auth = https.basic_auth(plg["username"], password_file.read_text().strip())
    address = plg["address"]
    prom = f"{address}:{plg['prometheus_port']}"
    am = f"{address}:{plg['alertmanager_port']}"
    node = f"{address}:{plg['node_exporter_port']}"
    web = f"--web.config.file={files['web_config']}"
    return [
        Daemon(
            name="node_exporter",
            argv=[
                NODE_EXPORTER,
                f"--web.listen-address={node}",
                f"--web.config.file={files['node_web_config']}",
                "--collector.disable-defaults",
                "--collector.cpu",
                "--collector.meminfo",
                "--collector.loadavg",
                "--collector.textfile",
                f"--collector.textfile.directory={files['textfile']}",
            ],
            ready=lambda: https.is_ok(f"https://{node}/metrics", ca),
            describe=f"https://{node}/metrics (textfile collector: {files['textfile']})",
        ),
        Daemon(
            name="alertmanager",
            argv=[
                ALERTMANAGER,
                f"--config.file={files['alertmanager']}",
                f"--storage.path={paths.plg / 'alertmanager' / 'data'}",
                f"--web.listen-address={am}",
                f"--web.external-url=https://{am}/",
                "--cluster.listen-address=",
                web,
            ],
            ready=lambda: https.is_ok(f"https://{am}/-/ready", ca, auth),
            describe=f"https://{am}/",
        ),
        Daemon(
            name="prometheus",
            argv=[
                PROMETHEUS,
                f"--config.file={files['prometheus']}",
                f"--storage.tsdb.path={paths.plg / 'prometheus' / 'data'}",
                "--storage.tsdb.retention.time=1d",
                f"--web.listen-address={prom}",
                f"--web.external-url=https://{prom}/",
                "--web.enable-lifecycle",
                web,
            ],
            ready=lambda: https.is_ok(f"https://{prom}/-/ready", ca, auth),
            describe=f"https://{prom}/ (rules: {paths.plg / 'prometheus' / 'rules'}, "
            f"file_sd: {paths.plg / 'prometheus' / 'file_sd'})",
        ),
    ]
