"""alertmanager.yml rendering, proven with the real amtool (check-config and routes test)."""

import shutil
import subprocess

import pytest
import yaml
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _alertmanager

SETTINGS = {
    "webhook_url": "https://jenkins.example.invalid/generic-webhook-trigger/invoke",
    "secrets_dir": "/etc/alertmanager/secrets",
    "tls_config": {"ca_file": "/etc/ssl/ca.pem"},
    "group_wait": "10s",
    "group_interval": "1m",
    "repeat_interval": "15m",
    "operator_receiver": "",
}
BASE = {
    "global": {"resolve_timeout": "5m"},
    "route": {
        "receiver": "operators",
        "group_by": ["alertname"],
        "routes": [{"receiver": "dba", "matchers": ['team="db"']}],
    },
    "receivers": [{"name": "operators"}, {"name": "dba"}],
    "inhibit_rules": [
        {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'], "equal": ["service"]}
    ],
}
SERVICES = ["acme-web", "globex-api"]


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(_alertmanager.render(BASE, SERVICES, SETTINGS), sort_keys=False))
    return path


def amtool(*args):
    return subprocess.run([shutil.which("amtool"), *args], capture_output=True, text=True, check=False)


def routes_to(config_file, receiver, *labels):
    result = amtool(
        "config", "routes", "test", f"--config.file={config_file}", f"--verify.receivers={receiver}", *labels
    )
    return result.returncode == 0


def test_the_rendered_file_passes_amtool_check_config(config_file):
    result = amtool("check-config", str(config_file))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("action", ["scale_out", "scale_in"])
def test_each_services_scale_alerts_reach_its_own_receiver_only(config_file, service, action):
    labels = [f"service={service}", "vm_autoscale=action", f"autoscale_action={action}", "alertname=X"]
    assert routes_to(config_file, f"autoscale-{service}", *labels)
    for other in SERVICES:
        if other != service:
            assert not routes_to(config_file, f"autoscale-{other}", *labels)


def test_operator_alerts_go_to_the_operators(config_file):
    labels = ["service=acme-web", "vm_autoscale=operator", "alertname=VmAutoscaleSuspended", "severity=critical"]
    assert routes_to(config_file, "operators", *labels)
    assert not routes_to(config_file, "autoscale-acme-web", *labels)


def test_other_alerts_of_a_service_and_the_operators_own_routes_are_untouched(config_file):
    assert routes_to(config_file, "operators", "service=acme-web", "alertname=NodeDown")  # no vm_autoscale label
    assert routes_to(config_file, "dba", "team=db", "alertname=ReplicationLag")


def test_the_token_is_read_from_a_file_and_never_in_the_url(config_file):
    config = yaml.safe_load(config_file.read_text())
    receiver = next(r for r in config["receivers"] if r["name"] == "autoscale-acme-web")
    webhook = receiver["webhook_configs"][0]
    assert webhook["url"] == SETTINGS["webhook_url"]
    assert "token" not in webhook["url"]
    assert webhook["http_config"]["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/etc/alertmanager/secrets/webhook-acme-web.token",
    }
    assert webhook["http_config"]["tls_config"] == {"ca_file": "/etc/ssl/ca.pem"}
    assert webhook["send_resolved"] is False


def test_scale_out_inhibits_scale_in_of_the_same_service_and_the_base_is_kept(config_file):
    config = yaml.safe_load(config_file.read_text())
    assert config["inhibit_rules"] == [BASE["inhibit_rules"][0], _alertmanager.INHIBIT]
    assert config["global"] == BASE["global"]
    assert config["route"]["group_by"] == ["alertname"]
    assert [r["receiver"] for r in config["route"]["routes"]] == [
        "autoscale-acme-web",
        "autoscale-globex-api",
        "operators",
        "dba",
    ]


def test_rendering_twice_is_stable_and_replaces_its_own_entries():
    once = _alertmanager.render(BASE, SERVICES, SETTINGS)
    assert _alertmanager.render(once, SERVICES, SETTINGS) == once
    fewer = _alertmanager.render(once, ["acme-web"], SETTINGS)
    assert [r["name"] for r in fewer["receivers"]] == ["operators", "dba", "autoscale-acme-web"]


@pytest.mark.parametrize(
    ("base", "settings", "words"),
    [
        ({"receivers": [{"name": "operators"}]}, SETTINGS, "needs a route"),
        (BASE, {**SETTINGS, "operator_receiver": "pager"}, "operator receiver 'pager' is not among"),
    ],
)
def test_bad_base_configurations_are_named(base, settings, words):
    with pytest.raises(_alertmanager.AlertmanagerConfigError, match=words):
        _alertmanager.render(base, SERVICES, settings)
