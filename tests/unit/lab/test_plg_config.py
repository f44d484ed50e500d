"""The PLG host's generated configurations pass promtool and amtool, and a bad one is refused."""

import bcrypt
import pytest
import yaml
from labctl import plg
from labctl.pki import LabCA
from labctl.plan import load_plan
from labctl.state import Paths


@pytest.fixture
def lab_paths(tmp_path):
    paths = Paths(repo=tmp_path, root=tmp_path / ".lab")
    ca = LabCA(paths.pki)
    ca.create()
    password = paths.secrets / "plg_password"
    password.parent.mkdir(parents=True)
    password.write_text("s3cret-of-this-run\n")
    return paths, ca.issue("plg", ["plg.lab.invalid"], ["198.18.0.40"])


def test_generated_configs_are_valid_and_wire_the_pieces_together(lab_paths):
    paths, cert = lab_paths
    plan = load_plan()
    files = plg.write_configs(
        plan, paths, cert, paths.secrets / "plg_password"
    )  # runs promtool and amtool; raises if they refuse

    prometheus = plg.prometheus_config(plan, paths)
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["198.18.0.40:9093"]
    assert prometheus["rule_files"] == [str(paths.plg / "prometheus" / "rules" / "*.yml")]
    assert all(job["scheme"] == "https" for job in prometheus["scrape_configs"])
    assert files["textfile"].is_dir()
    assert (paths.plg / "prometheus" / "file_sd").is_dir()


def test_the_apis_need_the_generated_password_and_prometheus_sends_it(lab_paths):
    paths, cert = lab_paths
    plan = load_plan()
    files = plg.write_configs(plan, paths, cert, paths.secrets / "plg_password")
    web = yaml.safe_load(files["web_config"].read_text())
    (user, hashed), *more = web["basic_auth_users"].items()
    assert user == plan.plg["username"] and not more
    assert bcrypt.checkpw(b"s3cret-of-this-run", hashed.encode()) and "s3cret" not in files["web_config"].read_text()
    assert "basic_auth_users" not in yaml.safe_load(files["node_web_config"].read_text())
    prometheus = plg.prometheus_config(plan, paths)
    auth = {"username": user, "password_file": str(paths.secrets / "plg_password")}
    assert prometheus["alerting"]["alertmanagers"][0]["basic_auth"] == auth
    assert next(j for j in prometheus["scrape_configs"] if j["job_name"] == "prometheus")["basic_auth"] == auth


def test_every_daemon_listens_on_the_plg_address_with_tls_and_an_external_url(lab_paths):
    paths, cert = lab_paths
    plan = load_plan()
    files = plg.write_configs(plan, paths, cert, paths.secrets / "plg_password")
    for daemon in plg.daemons(plan, paths, files, paths.secrets / "plg_password"):
        flags = " ".join(daemon.argv)
        assert "--web.listen-address=198.18.0.40:" in flags
        web = files["node_web_config"] if daemon.name == "node_exporter" else files["web_config"]
        assert f"--web.config.file={web}" in flags
        if daemon.name != "node_exporter":
            assert "--web.external-url=https://198.18.0.40:" in flags
    alertmanager = next(
        d for d in plg.daemons(plan, paths, files, paths.secrets / "plg_password") if d.name == "alertmanager"
    )
    assert "--cluster.listen-address=" in alertmanager.argv
    prometheus = next(
        d for d in plg.daemons(plan, paths, files, paths.secrets / "plg_password") if d.name == "prometheus"
    )
    assert "--web.enable-lifecycle" in prometheus.argv


def test_an_invalid_config_is_refused_with_the_checkers_message(lab_paths, monkeypatch):
    paths, cert = lab_paths
    monkeypatch.setattr(plg, "alertmanager_config", lambda: {"route": {"receiver": "nobody"}, "receivers": []})
    with pytest.raises(plg.ConfigError, match='undefined receiver "nobody"'):
        plg.write_configs(load_plan(), paths, cert, paths.secrets / "plg_password")
