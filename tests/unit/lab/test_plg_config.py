"""The PLG host's generated configurations pass promtool and amtool, and a bad one is refused."""

import pytest
from labctl import plg
from labctl.pki import LabCA
from labctl.plan import load_plan
from labctl.state import Paths


@pytest.fixture
def lab_paths(tmp_path):
    paths = Paths(repo=tmp_path, root=tmp_path / ".lab")
    ca = LabCA(paths.pki)
    ca.create()
    return paths, ca.issue("plg", ["plg.lab.invalid"], ["198.18.0.40"])


def test_generated_configs_are_valid_and_wire_the_pieces_together(lab_paths):
    paths, cert = lab_paths
    plan = load_plan()
    files = plg.write_configs(plan, paths, cert)  # runs promtool and amtool; raises if they refuse

    prometheus = plg.prometheus_config(plan, paths)
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["198.18.0.40:9093"]
    assert prometheus["rule_files"] == [str(paths.plg / "prometheus" / "rules" / "*.yml")]
    assert all(job["scheme"] == "https" for job in prometheus["scrape_configs"])
    assert files["textfile"].is_dir()
    assert (paths.plg / "prometheus" / "file_sd").is_dir()


def test_every_daemon_listens_on_the_plg_address_with_tls_and_an_external_url(lab_paths):
    paths, cert = lab_paths
    plan = load_plan()
    files = plg.write_configs(plan, paths, cert)
    for daemon in plg.daemons(plan, paths, files):
        flags = " ".join(daemon.argv)
        assert "--web.listen-address=198.18.0.40:" in flags
        assert f"--web.config.file={files['web_config']}" in flags
        if daemon.name != "node_exporter":
            assert "--web.external-url=https://198.18.0.40:" in flags
    alertmanager = next(d for d in plg.daemons(plan, paths, files) if d.name == "alertmanager")
    assert "--cluster.listen-address=" in alertmanager.argv
    prometheus = next(d for d in plg.daemons(plan, paths, files) if d.name == "prometheus")
    assert "--web.enable-lifecycle" in prometheus.argv


def test_an_invalid_config_is_refused_with_the_checkers_message(lab_paths, monkeypatch):
    paths, cert = lab_paths
    monkeypatch.setattr(plg, "alertmanager_config", lambda: {"route": {"receiver": "nobody"}, "receivers": []})
    with pytest.raises(plg.ConfigError, match='undefined receiver "nobody"'):
        plg.write_configs(load_plan(), paths, cert)
