"""Prometheus, Alertmanager and node_exporter of the lab's PLG host: TLS, reload, textfile metrics."""

import json
import ssl
import time
import urllib.error
import urllib.request

import pytest
import requests
import yaml
from labclient import ca, plg_auth
from labctl.https import basic_auth

PROMETHEUS = "https://198.18.0.40:9090"
ALERTMANAGER = "https://198.18.0.40:9093"
NODE_EXPORTER = "https://198.18.0.40:9100"
# An alert as anyone on the network could post it (already resolved, and with a service no route
# knows, so that the one accepted post notifies nobody).
FORGED = json.dumps([{
    "labels": {"alertname": "ForgedWithoutAuth", "service": "test-plg-auth"},
    "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2026-01-01T00:00:01Z",
}]).encode()  # fmt: skip


def request(lab, url, method="GET", auth=True, data=None):
    """(status, body) of a call; Prometheus and Alertmanager get the API user unless auth is False
    (node_exporter needs none; a header for it is ignored)."""
    headers = basic_auth(*plg_auth()) if auth is True else basic_auth(*auth) if auth else {}
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, method=method, headers=headers, data=data)
    try:
        with urllib.request.urlopen(req, context=lab.ssl_context(), timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_endpoints_are_ready_over_tls_only(lab):
    for url in (f"{PROMETHEUS}/-/ready", f"{ALERTMANAGER}/-/ready"):
        assert request(lab, url)[0] == 200, url
    assert request(lab, f"{NODE_EXPORTER}/metrics", auth=False)[0] == 200  # metrics only: TLS, no auth
    # Plain HTTP is answered with "Client sent an HTTP request to an HTTPS server".
    with pytest.raises(urllib.error.HTTPError, match="400"):
        urllib.request.urlopen("http://198.18.0.40:9090/-/ready", timeout=5).read()
    # A client that does not trust the lab CA is refused: certificates are really checked.
    system_store = ssl.create_default_context(cafile="/etc/ssl/certs/ca-certificates.crt")
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"{PROMETHEUS}/-/ready", context=system_store, timeout=5).read()


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", f"{PROMETHEUS}/api/v1/query?query=up", None),
        ("GET", f"{PROMETHEUS}/-/ready", None),
        ("POST", f"{PROMETHEUS}/-/reload", None),
        ("GET", f"{PROMETHEUS}/api/v1/alerts", None),
        ("POST", f"{ALERTMANAGER}/api/v2/alerts", FORGED),
        ("POST", f"{ALERTMANAGER}/-/reload", None),
        ("GET", f"{ALERTMANAGER}/api/v2/status", None),
    ],
    ids=["query", "ready", "reload", "alerts", "post-alert", "am-reload", "am-status"],
)
def test_the_apis_refuse_a_caller_without_the_api_user(lab, method, url, body):
    user, password = plg_auth()
    for auth in (False, (user, password + "x"), ("admin", password)):
        status = request(lab, url, method, auth=auth, data=body)[0]
        assert status == 401, (url, auth and auth[0], status)
    # no alert posted by the refused calls reached Alertmanager
    alerts = requests.get(f"{ALERTMANAGER}/api/v2/alerts", auth=plg_auth(), verify=ca(), timeout=10).json()
    assert not [a for a in alerts if a["labels"]["alertname"] == "ForgedWithoutAuth"], alerts
    assert request(lab, url, method, data=body)[0] == 200, url


def reloadable(lab, path, base_url):
    """Yield a daemon's config file; afterwards put the original back and reload it."""
    original = path.read_text()
    yield path
    path.write_text(original)
    assert request(lab, f"{base_url}/-/reload", "POST")[0] == 200


def loaded_config(lab, url, extract) -> dict:
    status, body = request(lab, url)
    assert status == 200
    return yaml.safe_load(extract(json.loads(body)))


@pytest.fixture
def prometheus_yml(lab):
    yield from reloadable(lab, lab.state / "plg" / "prometheus" / "prometheus.yml", PROMETHEUS)


@pytest.fixture
def alertmanager_yml(lab):
    yield from reloadable(lab, lab.state / "plg" / "alertmanager" / "alertmanager.yml", ALERTMANAGER)


def loaded_prometheus_config(lab) -> dict:
    return loaded_config(lab, f"{PROMETHEUS}/api/v1/status/config", lambda doc: doc["data"]["yaml"])


def loaded_alertmanager_config(lab) -> dict:
    return loaded_config(lab, f"{ALERTMANAGER}/api/v2/status", lambda doc: doc["config"]["original"])


def test_prometheus_reloads_a_valid_config(lab, prometheus_yml):
    config = yaml.safe_load(prometheus_yml.read_text())
    config["global"]["external_labels"]["reload_probe"] = "valid"
    prometheus_yml.write_text(yaml.safe_dump(config))

    status, _body = request(lab, f"{PROMETHEUS}/-/reload", "POST")

    assert status == 200
    assert loaded_prometheus_config(lab)["global"]["external_labels"]["reload_probe"] == "valid"


def test_prometheus_refuses_an_invalid_config_and_keeps_the_old_one(lab, prometheus_yml):
    before = loaded_prometheus_config(lab)
    prometheus_yml.write_text(prometheus_yml.read_text().replace("scrape_interval: 2s", "scrape_interval: banana"))

    status, body = request(lab, f"{PROMETHEUS}/-/reload", "POST")

    assert status == 500
    assert "banana" in body
    assert loaded_prometheus_config(lab) == before
    assert request(lab, f"{PROMETHEUS}/-/ready")[0] == 200


def test_alertmanager_reloads_a_valid_config(lab, alertmanager_yml):
    config = yaml.safe_load(alertmanager_yml.read_text())
    config["receivers"].append({"name": "reload-probe"})
    alertmanager_yml.write_text(yaml.safe_dump(config))

    assert request(lab, f"{ALERTMANAGER}/-/reload", "POST")[0] == 200
    assert "reload-probe" in [r["name"] for r in loaded_alertmanager_config(lab)["receivers"]]


def test_alertmanager_refuses_an_invalid_config_and_keeps_the_old_one(lab, alertmanager_yml):
    before = loaded_alertmanager_config(lab)
    config = yaml.safe_load(alertmanager_yml.read_text())
    config["route"]["receiver"] = "nobody"
    alertmanager_yml.write_text(yaml.safe_dump(config))

    status, body = request(lab, f"{ALERTMANAGER}/-/reload", "POST")

    assert status == 500
    assert "nobody" in body
    assert loaded_alertmanager_config(lab) == before


def test_textfile_metrics_of_the_state_host_reach_prometheus(lab):
    """What the collection will write on the state host is scraped, read back through PromQL."""
    textfile = lab.state / "statehost" / "textfile" / "lab_probe.prom"
    textfile.write_text("# HELP lab_probe_value A test value.\n# TYPE lab_probe_value gauge\nlab_probe_value 42\n")
    try:

        def scraped():
            status, body = request(lab, f"{PROMETHEUS}/api/v1/query?query=lab_probe_value")
            result = json.loads(body)["data"]["result"] if status == 200 else []
            return bool(result) and result[0]["value"][1] == "42" and result[0]["metric"]["job"] == "plg-node"

        wait_for(scraped, what="lab_probe_value in Prometheus")
    finally:
        textfile.unlink()
