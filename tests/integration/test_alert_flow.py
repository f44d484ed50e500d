"""A real alert end to end: load rises -> Prometheus fires -> Alertmanager posts to the service's receiver.

The receiver is a stub in this test (the Jenkins jobs come with the pipelines): onboard.yml is run
with the webhook URL pointed at it; everything else is the lab's real Prometheus and Alertmanager
with the configuration onboard.yml rendered, and the guest simulator's CPU.
"""

import json
import subprocess
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from conftest import REPO
from labclient import PROMETHEUS, f5, wait_for

STUB_IP = "198.18.0.99"
STUB_PORT = 8099
STUB_URL = f"http://{STUB_IP}:{STUB_PORT}/generic-webhook-trigger/invoke"


class Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Recorder.received.append(
            {"path": self.path, "authorization": self.headers.get("Authorization"), "body": json.loads(body)}
        )
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def stub(lab):
    subprocess.run(["ip", "addr", "add", f"{STUB_IP}/32", "dev", "lo"], check=True)
    server = ThreadingHTTPServer((STUB_IP, STUB_PORT), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Recorder.received = []
    try:
        yield Recorder.received
    finally:
        server.shutdown()
        server.server_close()
        subprocess.run(["ip", "addr", "del", f"{STUB_IP}/32", "dev", "lo"], check=False)


def load(service, demand):
    subprocess.run([str(REPO / "lab" / "load"), service, str(demand)], capture_output=True, check=True)


def scale_out_posts(received, service):
    return [
        post
        for post in received
        for alert in post["body"]["alerts"]
        if alert["labels"].get("service") == service and alert["labels"].get("autoscale_action") == "scale_out"
    ]


def firing_alerts(lab):
    with urllib.request.urlopen(f"{PROMETHEUS}/api/v1/alerts", context=lab.ssl_context(), timeout=10) as response:
        return [a for a in json.load(response)["data"]["alerts"] if a["state"] == "firing"]


def test_load_on_one_service_notifies_exactly_its_receiver(run_playbook, lab, stub):
    onboard = run_playbook("playbooks/onboard.yml", "-e", f"alertmanager_autoscale_webhook_url={STUB_URL}")
    assert onboard.returncode == 0, onboard.stdout[-3000:]
    # acme-web's static members serve in the operator's pool the lab seeds (lab/labctl/f5seed.py).
    members = f5("GET", "/mgmt/tm/ltm/pool/~Common~acme-web-pool/members").json()["items"]
    assert sorted(m["name"] for m in members) == ["198.18.1.11:80", "198.18.1.12:80"]
    try:
        load("acme-web", 190)  # ~98 % CPU on both static members: above acme-web's 75 %
        wait_for(
            lambda: scale_out_posts(stub, "acme-web"), 240, "Alertmanager to post acme-web's scale-out", interval=2
        )

        post = scale_out_posts(stub, "acme-web")[0]
        token = (lab.state / "secrets" / "webhook-acme-web").read_text().strip()
        assert post["authorization"] == f"Bearer {token}"
        assert token not in post["path"]
        assert post["body"]["status"] == "firing"
        assert post["body"]["commonLabels"]["service"] == "acme-web"
        assert post["body"]["commonLabels"]["alertname"] == "VmAutoscaleScaleOut"
        assert not scale_out_posts(stub, "globex-api")
        assert all(a["labels"].get("service") == "acme-web" for p in stub for a in p["body"]["alerts"])
        # read back from Prometheus itself
        firing = [a for a in firing_alerts(lab) if a["labels"]["alertname"] == "VmAutoscaleScaleOut"]
        assert [a["labels"]["service"] for a in firing] == ["acme-web"]
    finally:
        load("acme-web", 0)
        run_playbook("playbooks/onboard.yml")  # the webhooks back to the lab's Jenkins
