"""Helpers the integration tests share: HTTPS calls validated against the lab CA, the emulators'
control sockets, waiting without fixed sleeps, and restarting one lab component."""

from __future__ import annotations

import json
import subprocess
import time
from contextlib import contextmanager

import requests
from labctl import emulators
from labctl.httpd import control
from labctl.plan import load_plan
from labctl.state import default_paths
from labctl.vcsim import vm_names

PATHS = default_paths()
F5_A = "https://198.18.0.21"
F5_B = "https://198.18.0.22"
JENKINS = "https://198.18.0.30"
PROMETHEUS = "https://198.18.0.40:9090"
ALERTMANAGER = "https://198.18.0.40:9093"


def secret(name: str) -> str:
    return (PATHS.secrets / name).read_text().strip()


def ca() -> str:
    return str(PATHS.pki / "ca.pem")


def f5(method: str, path: str, device: str = F5_A, **kwargs) -> requests.Response:
    """An iControl REST call with basic auth, as a client without a token would make it."""
    return requests.request(
        method, f"{device}{path}", auth=("admin", secret("f5_password")), verify=ca(), timeout=10, **kwargs
    )


def plg_auth() -> tuple[str, str]:
    """Prometheus's and Alertmanager's API user of this lab run (basic auth, lab/labctl/plg.py)."""
    return load_plan().plg["username"], secret("plg_password")


def plg(method: str, url: str, **kwargs) -> requests.Response:
    """A call to Prometheus or Alertmanager (``url`` under PROMETHEUS or ALERTMANAGER), authenticated."""
    kwargs.setdefault("auth", plg_auth())
    return requests.request(method, url, verify=ca(), timeout=kwargs.pop("timeout", 10), **kwargs)


def jenkins(method: str, path: str, **kwargs) -> requests.Response:
    kwargs.setdefault("auth", ("automation", secret("jenkins_api_token")))
    return requests.request(method, f"{JENKINS}{path}", verify=ca(), timeout=10, **kwargs)


def emulator(name: str, method: str, path: str, body=None):
    return control(emulators.control_socket(PATHS, name), method, path, body)


def wait_for(predicate, timeout: float = 30.0, what: str = "condition", interval: float = 0.3):
    """Poll ``predicate`` until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def prometheus_value(expr: str) -> float | None:
    """The value of an instant query with one result (None when it has none)."""
    answer = plg("GET", f"{PROMETHEUS}/api/v1/query", params={"query": expr}).json()
    assert answer["status"] == "success", f"{expr}: {answer.get('error')}"
    results = answer["data"]["result"]
    assert len(results) <= 1, f"{expr}: {len(results)} series"
    return float(results[0]["value"][1]) if results else None


def prometheus_alerts(alertname: str) -> list:
    """Prometheus's alerts of that name (pending and firing), with their labels and state."""
    answer = plg("GET", f"{PROMETHEUS}/api/v1/alerts").json()
    return [alert for alert in answer["data"]["alerts"] if alert["labels"].get("alertname") == alertname]


def find_vm(content, name: str):
    """The vCenter VM (or template) of that name, or None."""
    return vm_names(content).get(name)


@contextmanager
def unreachable_route(prefix: str):
    """Inside the lab's namespace: packets to ``prefix`` fail at once ('No route to host')."""
    subprocess.run(["ip", "route", "add", "unreachable", prefix], check=True)
    try:
        yield
    finally:
        subprocess.run(["ip", "route", "del", "unreachable", prefix], check=False)


@contextmanager
def firing_alert(name: str, labels: dict):
    """An alert ``name`` with ``labels`` firing in the lab's Prometheus for the block (a rule file of
    its own, expression ``vector(1)``, no ``for``): a real ALERTS series, without waiting for load.
    The rule file is removed and Prometheus reloaded afterwards."""
    path = PATHS.plg / "prometheus" / "rules" / f"zz-test-{name.lower()}.yml"
    group = {"groups": [{"name": f"test-{name}", "rules": [{"alert": name, "expr": "vector(1)", "labels": labels}]}]}
    path.write_text(json.dumps(group))  # JSON is YAML

    def reload():
        answer = plg("POST", f"{PROMETHEUS}/-/reload", timeout=30)
        assert answer.status_code == 200, answer.text

    def firing():
        return [a for a in prometheus_alerts(name) if a["state"] == "firing" and labels.items() <= a["labels"].items()]

    try:
        reload()
        wait_for(firing, what=f"{name} firing in Prometheus")
        yield
    finally:
        path.unlink(missing_ok=True)
        reload()
